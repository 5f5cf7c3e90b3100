import Testing

@testable import GatewayCore

@Suite("Schemas")
struct SchemaTests {
    let luna = SchemaSet(SchemaSet.builtin("luna") ?? [])

    func requests(tags: [Tag]? = nil, fields: [Field]? = nil) -> Point {
        Point(
            series: "requests", time: 1,
            tags: tags ?? [Tag("service", "luna-tasks"), Tag("route", "/tasks"), Tag("status_code", "200")],
            fields: fields ?? [Field("request_id", .string("r1")), Field("execution_time", .float(0.25))])
    }

    @Test func builtinLunaSetExists_andUnknownSetsDoNot() {
        #expect(SchemaSet.builtinNames == ["luna"])
        #expect(!luna.isEmpty)
        #expect(luna.schemas["requests"] != nil)
        #expect(luna.schemas["licensing"] != nil)
        #expect(SchemaSet.builtin("nope") == nil)
        #expect(SchemaSet.builtin("luna")?.count == SchemaSet.lunaServices.count)
    }

    @Test func validRequestsPointPasses_unchanged() {
        var point = requests()
        let before = point
        #expect(luna.validate(&point) == nil)
        #expect(point == before)
    }

    @Test func requestsPointWithoutRoute_isRejectedNamingTheTag() {
        var point = requests(tags: [Tag("service", "luna-tasks"), Tag("status_code", "200")])
        let reason = luna.validate(&point)
        #expect(reason != nil)
        #expect(reason?.contains("\"route\"") == true)
        #expect(reason?.contains("\"requests\"") == true)
    }

    @Test(arguments: ["service", "route", "status_code"])
    func requestsPointMissingAnyRequiredTag_isRejectedNamingIt(_ missing: String) {
        let tags = [Tag("service", "s"), Tag("route", "/"), Tag("status_code", "200")].filter { $0.key != missing }
        var point = requests(tags: tags)
        #expect(luna.validate(&point)?.contains("missing required tag \"\(missing)\"") == true)
    }

    @Test func requestsPointMissingARequiredField_isRejectedNamingItAndItsType() {
        var point = requests(fields: [Field("request_id", .string("r1"))])
        let reason = luna.validate(&point)
        #expect(reason?.contains("\"execution_time\"") == true)
        #expect(reason?.contains("float") == true)
    }

    @Test func integerExecutionTime_isConvertedToFloat() {
        var point = requests(fields: [Field("request_id", .string("r1")), Field("execution_time", .int(3))])
        #expect(luna.validate(&point) == nil)
        #expect(point.field("execution_time") == .float(3))
        #expect(point.fields.map(\.key) == ["request_id", "execution_time"])  // in place
    }

    @Test func unsignedExecutionTime_isConvertedToFloat() {
        var point = requests(fields: [Field("request_id", .string("r1")), Field("execution_time", .uint(7))])
        #expect(luna.validate(&point) == nil)
        #expect(point.field("execution_time") == .float(7))
    }

    @Test(arguments: [
        ("execution_time", FieldValue.string("0.5"), "float"),
        ("execution_time", .bool(true), "float"),
        ("request_id", .int(1), "string"),
        ("request_id", .float(1), "string"),
    ])
    func wrongFieldType_isRejectedNamingFieldAndExpectedType(_ key: String, _ value: FieldValue, _ expected: String) {
        var fields = [Field("request_id", .string("r1")), Field("execution_time", .float(0.25))]
        fields[fields.firstIndex { $0.key == key }!].value = value
        var point = requests(fields: fields)
        let reason = luna.validate(&point)
        #expect(reason == "series \"requests\": field \"\(key)\" is \(value.type), expected \(expected)")
    }

    @Test func floatWhereIntIsRequired_isNotConverted() {
        var point = Point(
            series: "subtask_final", time: 0,
            tags: [Tag("service", "s"), Tag("task_id", "1"), Tag("subtask_id", "2"), Tag("task_type", "t")],
            fields: [Field("execution_time", .float(1)), Field("status", .float(1))])
        #expect(luna.validate(&point)?.contains("field \"status\" is float, expected int") == true)
    }

    @Test func extrasAreAllowedByTheLunaSchemas() {
        var point = requests(
            tags: [Tag("service", "s"), Tag("route", "/"), Tag("status_code", "200"), Tag("host", "h")],
            fields: [Field("request_id", .string("r1")), Field("execution_time", .float(1)), Field("bytes", .int(5))])
        #expect(luna.validate(&point) == nil)
    }

    func licensing(status: String) -> Point {
        Point(
            series: "licensing", time: 0, tags: [Tag("service", "licenses"), Tag("license_status", status)],
            fields: [Field("license_period_rest", .int(30))])
    }

    @Test(arguments: ["ok", "warning", "error"])
    func licensingWithAllowedStatus_passes(_ status: String) {
        var point = licensing(status: status)
        #expect(luna.validate(&point) == nil)
    }

    @Test(arguments: ["bad", "OK", ""])
    func licensingWithOtherStatus_isRejectedNamingTagAndValue(_ status: String) {
        var point = licensing(status: status)
        let reason = luna.validate(&point)
        #expect(reason?.contains("\"license_status\" is \"\(status)\"") == true)
        #expect(reason?.contains("ok, warning, error") == true)
    }

    @Test func optionalFieldsMayBeAbsentButMustHaveTheirType() {
        var point = licensing(status: "warning")
        point.fields.append(Field("warnings", .string("soon")))
        #expect(luna.validate(&point) == nil)
        point.fields.append(Field("errors", .int(1)))
        #expect(luna.validate(&point) == "series \"licensing\": field \"errors\" is int, expected string")
    }

    @Test func seriesWithoutSchema_passesUnchanged() {
        var point = Point(series: "cpu", time: 0, tags: [Tag("x", "y")], fields: [Field("anything", .string("goes"))])
        let before = point
        #expect(luna.validate(&point) == nil)
        #expect(point == before)
    }

    @Test func emptySchemaSetPassesEverything() {
        var point = requests(tags: [], fields: [Field("x", .bool(true))])
        #expect(SchemaSet().validate(&point) == nil)
        #expect(SchemaSet().isEmpty)
    }

    // MARK: Custom schemas

    let strict = Schema(
        series: "strict", requiredTags: ["host"], tagValues: ["env": ["prod", "test"]],
        fields: ["value": .init(.float), "note": .init(.string, required: false)], extraTags: false, extraFields: false)

    func strictPoint(tags: [Tag] = [Tag("host", "a")], fields: [Field] = [Field("value", .float(1))]) -> Point {
        Point(series: "strict", time: 0, tags: tags, fields: fields)
    }

    @Test func strictSchemaAcceptsExactlyItsTagsAndFields() {
        var point = strictPoint(
            tags: [Tag("host", "a"), Tag("env", "prod")],
            fields: [Field("value", .float(1)), Field("note", .string("n"))])
        #expect(strict.validate(&point) == nil)
    }

    @Test func extraTagsFalse_rejectsAnExtraTag() {
        var point = strictPoint(tags: [Tag("host", "a"), Tag("region", "eu")])
        #expect(strict.validate(&point) == "series \"strict\": tag \"region\" is not allowed by the schema")
    }

    @Test func extraFieldsFalse_rejectsAnExtraField() {
        var point = strictPoint(fields: [Field("value", .float(1)), Field("other", .int(1))])
        #expect(strict.validate(&point) == "series \"strict\": field \"other\" is not allowed by the schema")
    }

    @Test func extraTrue_acceptsExtras() {
        var loose = strict
        loose.extraTags = true
        loose.extraFields = true
        var point = strictPoint(
            tags: [Tag("host", "a"), Tag("region", "eu")], fields: [Field("value", .float(1)), Field("other", .int(1))])
        #expect(loose.validate(&point) == nil)
    }

    @Test func tagWithAllowedValuesIsOptionalButChecked() {
        var absent = strictPoint()
        #expect(strict.validate(&absent) == nil)
        var wrong = strictPoint(tags: [Tag("host", "a"), Tag("env", "dev")])
        #expect(strict.validate(&wrong) == "series \"strict\": tag \"env\" is \"dev\", expected one of prod, test")
    }

    @Test func schemaSetAddReplacesBySeries() {
        var set = SchemaSet([strict])
        var point = strictPoint(tags: [Tag("host", "a"), Tag("region", "eu")])
        #expect(set.validate(&point) != nil)
        set.add([Schema(series: "strict")])
        #expect(set.validate(&point) == nil)
        #expect(set.schemas.count == 1)
    }
}
