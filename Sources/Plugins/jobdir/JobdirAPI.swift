import Foundation
import GatewayCore

/// The processors' and operators' HTTP API, under `/api/v1/<name>/`.
extension JobdirPlugin {
    public var routes: [PluginRoute] {
        let base = "/api/v1/\(name)"
        return [
            PluginRoute(.post, "\(base)/processors/:processor/check-in", isWrite: true) { [self] request in
                await blocking { [self] in
                    checkIn(request.parameters["processor"] ?? "", query: request.query, body: request.body)
                }
            },
            PluginRoute(.delete, "\(base)/processors/:processor", isWrite: true) { [self] request in
                await blocking { [self] in removeProcessor(request.parameters["processor"] ?? "") }
            },
            PluginRoute(.post, "\(base)/claim", isWrite: true) { [self] request in
                await blocking { [self] in claim(request.query["processor"]) }
            },
            PluginRoute(.post, "\(base)/jobs/:uuid/done", isWrite: true) { [self] request in
                await blocking { [self] in
                    done(request.parameters["uuid"] ?? "", query: request.query, body: request.body)
                }
            },
            PluginRoute(.post, "\(base)/priority", isWrite: true) { [self] request in
                await blocking { [self] in priority(query: request.query, body: request.body) }
            },
            PluginRoute(.get, "\(base)/jobs") { [self] request in
                await blocking { [self] in jobs(query: request.query) }
            },
            PluginRoute(.get, "\(base)/jobs/:uuid") { [self] request in
                await blocking { [self] in
                    let uuid = settings.idRule.key(Substring(request.parameters["uuid"] ?? ""))
                    do {
                        guard let job = try store.job(uuid) else {
                            return .error(
                                404, code: "not found",
                                message: "no job \(uuid) (queued, running, finished or in the recent history)")
                        }
                        return .json(200, JobdirJobAnswer(job))
                    } catch {
                        return internalError(error)
                    }
                }
            },
            PluginRoute(.get, "\(base)/processors") { [self] _ in
                await blocking { [self] in
                    do {
                        return .json(
                            200,
                            JobdirProcessorsAnswer(
                                processors: try store.processors().map(JobdirProcessorAnswer.init),
                                checkInSeconds: settings.processorCheckIn.asSeconds,
                                deadAfterSeconds: settings.deadAfter.asSeconds))
                    } catch {
                        return internalError(error)
                    }
                }
            },
            PluginRoute(.post, "\(base)/scan", isWrite: true) { [self] _ in
                guard let report = await scan() else {
                    return .error(
                        409, code: "conflict",
                        message: "a scan is already running (or the last one failed: see the log)")
                }
                return .json(200, JobdirScanAnswer(report))
            },
            PluginRoute(.post, "\(base)/cleanup", isWrite: true) { [self] _ in
                guard let report = await cleanup() else {
                    return .error(
                        409, code: "conflict",
                        message: "a cleanup is already running (or the last one failed: see the log)")
                }
                return .json(200, JobdirCleanupAnswer(report))
            },
        ]
    }

    /// Runs a handler on the plugins' ``BlockingPool``: its SQLite statements (and a priority
    /// request's walk) may wait for a scan's transaction, and must not hold up the concurrency
    /// threads meanwhile; a burst of requests queues there instead of taking a thread each.
    func blocking(_ work: @escaping @Sendable () -> PluginResponse) async -> PluginResponse {
        (try? await onThread(work)) ?? .error(500, code: "internal error", message: "the handler thread failed")
    }

    /// Processor names: 1 to 200 letters, digits, `.`, `_`, `-`, `:` or `@` (host names, pod names).
    static func validProcessor(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 200
            && name.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                    || b == 0x2E || b == 0x5F || b == 0x2D || b == 0x3A || b == 0x40
            }
    }

    static func invalidProcessor(_ name: String) -> PluginResponse {
        .error(
            400, code: "invalid",
            message: "invalid processor name \"\(name)\": expected 1 to 200 letters, digits, '.', '_', '-', ':' or '@'")
    }

    func invalidUUID(_ uuid: String) -> PluginResponse {
        .error(400, code: "invalid", message: "invalid job id \"\(uuid)\": expected \(settings.idRule.expected)")
    }

    func internalError(_ error: any Error) -> PluginResponse {
        context.logger.error("jobdir state error", metadata: ["error": "\(error)"])
        return .error(500, code: "internal error", message: "jobdir state: \(error)")
    }

    func checkIn(_ processor: String, query: [String: String], body: [UInt8]) -> PluginResponse {
        guard Self.validProcessor(processor) else { return Self.invalidProcessor(processor) }
        var instance = query["instance"]
        if !body.isEmpty {
            guard let value = try? JSONValue.parse(body), case .object = value else {
                return .error(
                    400, code: "invalid", message: "the body must be empty or a JSON object {\"instance\": string}")
            }
            switch value["instance"] {
            case .string(let text)?: instance = text
            case nil, .null?: break
            case let other?:
                return .error(400, code: "invalid", message: "\"instance\" must be a string, not \(other.kindName)")
            }
        }
        if let text = instance, text.isEmpty || text.utf8.count > 200 {
            return .error(400, code: "invalid", message: "\"instance\" must be 1 to 200 characters")
        }
        do {
            let result = try store.checkIn(processor, instance: instance, now: now())
            if result.registered {
                context.logger.info("jobdir processor registered", metadata: ["processor": "\(processor)"])
            } else if result.revived {
                context.logger.notice("jobdir processor is back", metadata: ["processor": "\(processor)"])
            }
            if result.restarted > 0 {
                context.logger.notice(
                    "jobdir processor restarted: the jobs its old instance was running are queued again",
                    metadata: ["processor": "\(processor)", "jobs": "\(result.restarted)"])
            }
            return .json(
                200,
                JobdirCheckInAnswer(
                    processor: processor, registered: result.registered, revived: result.revived,
                    assigned: result.assigned, requeued: result.restarted,
                    checkInSeconds: settings.processorCheckIn.asSeconds,
                    deadAfterSeconds: settings.deadAfter.asSeconds))
        } catch {
            return internalError(error)
        }
    }

    func removeProcessor(_ processor: String) -> PluginResponse {
        guard Self.validProcessor(processor) else { return Self.invalidProcessor(processor) }
        do {
            guard let requeued = try store.remove(processor, now: now()) else {
                return .error(404, code: "not found", message: "no processor \"\(processor)\"")
            }
            metricsRequeued(requeued)
            context.logger.notice(
                "jobdir processor removed; its unfinished jobs are queued again",
                metadata: ["processor": "\(processor)", "jobs": "\(requeued)"])
            return .json(200, JobdirRemovedAnswer(processor: processor, requeued: requeued))
        } catch {
            return internalError(error)
        }
    }

    func claim(_ processor: String?) -> PluginResponse {
        guard let processor, !processor.isEmpty else {
            return .error(400, code: "invalid", message: "missing the processor: POST .../claim?processor=NAME")
        }
        guard Self.validProcessor(processor) else { return Self.invalidProcessor(processor) }
        do {
            guard let job = try store.claim(processor, now: now()) else {
                return PluginResponse(status: 204, body: [])
            }
            recordClaim(job)
            return .json(200, JobdirJobAnswer(job))
        } catch let error as JobStore.ClaimError {
            return .error(404, code: "not found", message: error.description)
        } catch {
            return internalError(error)
        }
    }

    func done(_ given: String, query: [String: String], body: [UInt8]) -> PluginResponse {
        guard settings.idRule.matches(Substring(given)) else { return invalidUUID(given) }
        let uuid = settings.idRule.key(Substring(given))
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            return .error(
                400, code: "invalid",
                message: "the body must be JSON {\"success\": bool, \"message\": string}: \(error)")
        }
        guard case .object = value else {
            return .error(
                400, code: "invalid",
                message:
                    "the body must be a JSON object {\"success\": bool, \"message\": string}, not \(value.kindName)")
        }
        guard case .bool(let success) = value["success"] else {
            return .error(
                400, code: "invalid",
                message: "\"success\" must be true or false, got \(value["success"].map(\.kindName) ?? "nothing")")
        }
        var message: String?
        switch value["message"] {
        case .string(let text): message = text
        case .null, nil: message = nil
        case let other?:
            return .error(400, code: "invalid", message: "\"message\" must be a string, not \(other.kindName)")
        }
        var processor = query["processor"]
        switch value["processor"] {
        case .string(let text)?: processor = text
        case nil, .null?: break
        case let other?:
            return .error(400, code: "invalid", message: "\"processor\" must be a string, not \(other.kindName)")
        }
        if let name = processor, !Self.validProcessor(name) { return Self.invalidProcessor(name) }
        do {
            let (job, repeated) = try store.finish(
                uuid, success: success, message: message, processor: processor, now: now())
            if !repeated {
                recordFinish(job)
                if !success {
                    context.logger.notice(
                        "jobdir job failed",
                        metadata: [
                            "uuid": "\(uuid)", "processor": "\(job.processor ?? "-")", "message": "\(message ?? "")",
                        ])
                }
            }
            return .json(200, JobdirJobAnswer(job, repeated: repeated))
        } catch let error as JobStore.FinishError {
            switch error {
            case .unknownJob: return .error(404, code: "not found", message: error.description)
            case .notAssigned, .alreadyFinished, .finishedByAnother:
                return .error(409, code: "conflict", message: error.description)
            }
        } catch {
            return internalError(error)
        }
    }

    func priority(query: [String: String], body: [UInt8]) -> PluginResponse {
        var requested = query["uuid"] ?? ""
        if requested.isEmpty, !body.isEmpty {
            switch try? JSONValue.parse(body) {
            case .string(let text)?: requested = text
            case let value? where value["uuid"] != nil:
                guard case .string(let text) = value["uuid"] else {
                    return .error(400, code: "invalid", message: "\"uuid\" must be a string")
                }
                requested = text
            default:
                // A bare uuid as the body, as the original monitor's tools send it.
                requested = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        guard !requested.isEmpty else {
            return .error(400, code: "invalid", message: "missing the uuid: {\"uuid\": \"...\"} or ?uuid=")
        }
        guard settings.idRule.matches(Substring(requested)) else { return invalidUUID(requested) }
        recordPriority()
        let uuid = settings.idRule.key(Substring(requested))
        let roots: [(String, JobdirJob.Origin)] =
            [(settings.storageRoot, .storage), (settings.deferredStorageRoot, .deferred)].filter { !$0.0.isEmpty }
        let logger = context.logger
        var unreadable: [String] = []
        var busy = false
        do {
            let outcome = try store.prioritise(uuid, now: now()) {
                // Walking the roots is the costly part: a few at a time.
                guard beginLookup() else {
                    busy = true
                    return nil
                }
                defer { endLookup() }
                for (root, origin) in roots {
                    let (pair, errors) = scanner.locate(uuid, in: root, origin: origin)
                    if let pair { return pair }
                    unreadable += errors
                }
                return nil
            }
            if busy {
                return .error(
                    503, code: "unavailable",
                    message: "too many priority lookups on disk at once (\(Self.maxLookups)); retry in a moment")
            }
            if case .notFound = outcome, !unreadable.isEmpty {
                logger.error(
                    "jobdir priority lookup could not read every directory",
                    metadata: ["uuid": "\(uuid)", "errors": "\(unreadable.prefix(5))"])
                return .error(
                    503, code: "unavailable",
                    message:
                        "uuid \(uuid) was not found, but these directories could not be read: \(unreadable.prefix(5).joined(separator: "; "))"
                )
            }
            switch outcome {
            case .moved(let processor):
                logger.info(
                    "jobdir priority: job moved to the front",
                    metadata: ["uuid": "\(uuid)", "processor": "\(processor ?? "-")"])
                return .json(
                    200,
                    JobdirPriorityAnswer(uuid: uuid, outcome: "moved", processor: Nullable(wrappedValue: processor)))
            case .queued(let processor, let origin):
                logger.info(
                    "jobdir priority: pair queued",
                    metadata: ["uuid": "\(uuid)", "origin": "\(origin.rawValue)", "processor": "\(processor ?? "-")"])
                return .json(
                    200,
                    JobdirPriorityAnswer(
                        uuid: uuid, outcome: "queued", origin: origin.rawValue,
                        processor: Nullable(wrappedValue: processor)))
            case .already(let state):
                if state == .running {
                    return .json(200, JobdirPriorityAnswer(uuid: uuid, outcome: "running"))
                }
                return .error(
                    409, code: "conflict",
                    message: "job \(uuid) is already \(state == .cleaned ? "finished and cleaned up" : state.rawValue)")
            case .notFound:
                logger.warning(
                    "jobdir priority request for a uuid found nowhere",
                    metadata: ["uuid": "\(uuid)", "searched": "\(roots.map(\.0).joined(separator: ", "))"])
                return .error(
                    404, code: "not found",
                    message:
                        "uuid \(uuid) is not queued and no pair was found under \(roots.map(\.0).joined(separator: " or "))"
                )
            }
        } catch {
            return internalError(error)
        }
    }

    func jobs(query: [String: String]) -> PluginResponse {
        var state: JobdirJob.State?
        var unassigned = false
        if let text = query["state"], !text.isEmpty {
            if text == "unassigned" {
                state = .queued
                unassigned = true
            } else if let value = JobdirJob.State(rawValue: text) {
                state = value
            } else {
                return .error(
                    400, code: "invalid",
                    message:
                        "invalid state \"\(text)\": expected one of \((JobdirJob.State.allCases.map(\.rawValue) + ["unassigned"]).joined(separator: ", "))"
                )
            }
        }
        var limit = 100
        if let text = query["limit"] {
            guard let value = Int(text), (1...10_000).contains(value) else {
                return .error(400, code: "invalid", message: "invalid limit \"\(text)\": expected 1 to 10000")
            }
            limit = value
        }
        let processor = query["processor"].flatMap { $0.isEmpty ? nil : $0 }
        if let processor, !Self.validProcessor(processor) { return Self.invalidProcessor(processor) }
        do {
            let jobs = try store.jobs(state: state, processor: processor, unassigned: unassigned, limit: limit)
            return .json(200, JobdirJobsAnswer(jobs: jobs.map { JobdirJobAnswer($0) }))
        } catch {
            return internalError(error)
        }
    }
}
