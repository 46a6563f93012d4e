import Foundation

/// Unix time in milliseconds: the unit of event times, `ingested_at`, consumer lag, dead-letter
/// and quarantine times.
public enum UnixTime {
    /// Now, from the wall clock.
    public static func nowMilliseconds() -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1000)
    }
}
