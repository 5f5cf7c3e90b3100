import Foundation
import GRDB

/// A job: one `<uuid>.json` + `<uuid>.dump` pair, from its discovery to its cleanup.
public struct JobdirJob: Sendable, Equatable {
    public enum State: String, Sendable, CaseIterable {
        /// Waiting to be claimed (by its processor, or by the next live one when `processor` is nil).
        case queued
        /// Claimed by its processor, not reported done yet.
        case running
        /// Reported done; waiting for cleanup to move or delete its files.
        case succeeded, failed
        /// Cleaned up: only in the short history.
        case cleaned
    }

    public enum Origin: String, Sendable {
        case storage, deferred
    }

    public var uuid: String
    public var jsonPath: String
    public var dumpPath: String
    public var origin: Origin
    public var state: State
    public var processor: String?
    public var priority: Bool
    public var queuedAt: Double
    public var assignedAt: Double?
    public var claimedAt: Double?
    public var finishedAt: Double?
    /// Set once the job is done: its outcome and the processor's message.
    public var success: Bool?
    public var message: String?
    public var cleanupAttempts = 0
    public var cleanupError: String?
    /// History only: when the files were moved or deleted, and where they went ("" when deleted).
    public var cleanedAt: Double?
    public var destination: String?
}

/// A processor as the store knows it.
public struct JobdirProcessor: Sendable, Equatable {
    public var name: String
    public var registeredAt: Double
    public var lastSeen: Double
    public var alive: Bool
    public var diedAt: Double?
    public var queued: Int
    public var running: Int
}

/// A pair found on disk.
public struct FoundPair: Sendable, Equatable {
    public var uuid: String
    public var jsonPath: String
    public var dumpPath: String
    public var origin: JobdirJob.Origin

    public init(uuid: String, jsonPath: String, dumpPath: String, origin: JobdirJob.Origin = .storage) {
        self.uuid = uuid
        self.jsonPath = jsonPath
        self.dumpPath = dumpPath
        self.origin = origin
    }
}
