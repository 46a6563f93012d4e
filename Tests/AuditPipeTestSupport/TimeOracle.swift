import Foundation

/// RFC 3339 text of an instant by Foundation's ISO-8601 formatter (whole seconds, the
/// milliseconds appended): the independent oracle that `RFC3339` and the report writers are
/// tested against.
public enum TimeOracle {
    public static func rfc3339(milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let millis = String(milliseconds - seconds * 1000)
        let text = formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
        return text.dropLast() + "." + String(repeating: "0", count: 3 - millis.count) + millis + "Z"
    }
}
