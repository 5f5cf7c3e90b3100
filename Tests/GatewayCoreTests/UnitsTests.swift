import GatewayCore
import Testing

@Suite struct UnitsTests {
    @Test(arguments: [
        (Duration.nanoseconds(500), "500ns"), (.microseconds(250), "250us"), (.nanoseconds(83_867_677), "84ms"),
        (.milliseconds(999), "999ms"), (.seconds(1), "1s"), (.milliseconds(1_234), "1.2s"), (.seconds(59), "59s"),
        (.seconds(90), "1m30s"), (.seconds(300), "5m"), (.seconds(7_200), "2h"), (.seconds(3_661), "1h1m1s"),
        (.zero, "0ns"),
    ])
    func durationText_isRoundedInTheConfigurationsUnits(duration: Duration, text: String) {
        #expect(Units.text(duration) == text)
    }

    @Test func durationText_readsBackAsTheSameDuration_whereItIsExact() {
        for text in ["84ms", "1.2s", "1m30s", "5m", "2h", "250us"] {
            #expect(Units.text(Units.duration(text)!) == text)
        }
    }
}
