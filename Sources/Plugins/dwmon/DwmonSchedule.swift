import Foundation

/// Which minutes a requirement line checks, and what a check finds. Pure: the caller supplies the
/// time, the time zone and the last minute already checked, so tests drive it with a manual clock.
public struct DwmonSchedule: Sendable {
    public let timeZone: TimeZone
    private let calendar: Calendar

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
    }

    /// Hour, minute and day kind of the minute starting at `epochSeconds`, in the schedule's zone.
    /// Saturday and Sunday are the weekend.
    public func localTime(_ epochSeconds: Int64) -> (hour: Int, minute: Int, weekend: Bool) {
        let parts = calendar.dateComponents(
            [.hour, .minute, .weekday], from: Date(timeIntervalSince1970: TimeInterval(epochSeconds)))
        let weekday = parts.weekday ?? 2  // 1 = Sunday, 7 = Saturday
        return (parts.hour ?? 0, parts.minute ?? 0, weekday == 1 || weekday == 7)
    }

    /// The minute starts to check now, oldest first: from the current minute back over the line's
    /// horizon (ten times the look-back in minutes, rounded up, at least 10), those that match the
    /// line and are later than `lastChecked`. A gateway that was down catches up within the horizon;
    /// a minute is never checked twice; a new line (`lastChecked` nil) backfills its horizon.
    public func dueMinutes(_ requirement: DwmonFile.Requirement, now: Int64, lastChecked: Int64?) -> [Int64] {
        let current = Self.minuteStart(now)
        let oldest = current - Int64(requirement.horizonMinutes - 1) * 60
        // Only minutes after the last one checked (usually just the current one).
        let first = lastChecked.map { max(oldest, Self.minuteStart($0) + 60) } ?? oldest
        var due: [Int64] = []
        guard first <= current else { return due }
        for minute in stride(from: first, through: current, by: 60) {
            let local = localTime(minute)
            if requirement.matches(hour: local.hour, minute: local.minute, weekend: local.weekend) {
                due.append(minute)
            }
        }
        return due
    }

    /// The start of the minute holding `epochSeconds` (floor, also before 1970).
    public static func minuteStart(_ epochSeconds: Int64) -> Int64 {
        let r = epochSeconds % 60
        return r >= 0 ? epochSeconds - r : epochSeconds - r - 60
    }

    /// GOOD when MINNUM <= count <= MAXNUM.
    public static func status(count: Int, _ requirement: DwmonFile.Requirement) -> CheckStatus {
        (requirement.minCount...requirement.maxCount).contains(count) ? .good : .bad
    }

    /// The closed window a check at minute `t` counts keys in: [t - L, t].
    public static func window(at minute: Int64, _ requirement: DwmonFile.Requirement) -> ClosedRange<Int64> {
        (minute - Int64(requirement.lookbackSeconds))...minute
    }
}

public enum CheckStatus: String, Sendable {
    case good = "GOOD", bad = "BAD"
}
