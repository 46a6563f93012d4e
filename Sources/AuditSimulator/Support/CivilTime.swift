import AuditEvents

/// Calendar arithmetic on milliseconds since the Unix epoch (proleptic Gregorian, no leap seconds)
/// and the timestamp spellings legacy producers use. Pure, so generated payloads are exact and
/// testable without a clock or a locale.
package struct CivilTime: Sendable, Hashable {
    package var year: Int
    package var month: Int
    package var day: Int
    package var hour: Int
    package var minute: Int
    package var second: Int
    package var millisecond: Int
    /// 0 = Sunday.
    package var weekday: Int

    /// The wall-clock time at `offsetSeconds` east of UTC.
    package init(milliseconds: Int64, offsetSeconds: Int = 0) {
        let local = milliseconds + Int64(offsetSeconds) * 1000
        let days = CivilDate.floorDivision(local, 86_400_000)
        let msOfDay = Int(local - days * 86_400_000)
        let date = CivilDate.date(fromDays: days)
        (year, month, day) = (Int(date.year), Int(date.month), Int(date.day))
        hour = msOfDay / 3_600_000
        minute = msOfDay / 60_000 % 60
        second = msOfDay / 1000 % 60
        millisecond = msOfDay % 1000
        weekday = Int(((days % 7) + 11) % 7) // 1970-01-01 was a Thursday (4)
    }

    /// Midnight UTC of the first day of the month of `milliseconds`, and of the next month.
    package static func monthRange(containing milliseconds: Int64) -> (from: Int64, to: Int64) {
        let t = CivilTime(milliseconds: milliseconds)
        let from = CivilDate.days(year: Int64(t.year), month: Int64(t.month), day: 1) * 86_400_000
        let to = CivilDate.days(year: Int64(t.year), month: Int64(t.month) + 1, day: 1) * 86_400_000  // 13: next January
        return (from, to)
    }

    // MARK: Spellings

    /// `2026-11-19T08:15:30.250Z` (`fractionDigits` 0, 3 or 6; 6 pads the milliseconds).
    package static func iso8601UTC(_ milliseconds: Int64, fractionDigits: Int = 3) -> String {
        let t = CivilTime(milliseconds: milliseconds)
        return t.date("-") + "T" + t.clock(fractionDigits: fractionDigits) + "Z"
    }

    /// `2026-11-19T11:22:33.456+01:00`: the local time at the offset, with the offset.
    package static func iso8601(_ milliseconds: Int64, offsetSeconds: Int, fractionDigits: Int = 3) -> String {
        let t = CivilTime(milliseconds: milliseconds, offsetSeconds: offsetSeconds)
        return t.date("-") + "T" + t.clock(fractionDigits: fractionDigits) + offset(offsetSeconds, colon: true)
    }

    /// `2026-11-19 10:00:00`: zone-less local time at the offset (the reader must assume it).
    package static func zoneless(_ milliseconds: Int64, offsetSeconds: Int = 0) -> String {
        let t = CivilTime(milliseconds: milliseconds, offsetSeconds: offsetSeconds)
        return t.date("-") + " " + t.clock(fractionDigits: 0)
    }

    /// `Thu, 19 Nov 2026 09:30:00 +0100` (RFC 2822).
    package static func rfc2822(_ milliseconds: Int64, offsetSeconds: Int = 0) -> String {
        let t = CivilTime(milliseconds: milliseconds, offsetSeconds: offsetSeconds)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(weekdays[t.weekday]), \(t.day) \(months[t.month - 1]) \(t.year) \(t.clock(fractionDigits: 0)) \(offset(offsetSeconds, colon: false))"
    }

    /// `1795046400.25`: epoch seconds with the milliseconds as a fraction (trailing zeros cut).
    package static func epochSecondsText(_ milliseconds: Int64) -> String {
        let seconds = CivilDate.floorDivision(milliseconds, 1000)
        let ms = milliseconds - seconds * 1000
        guard ms != 0 else { return String(seconds) }
        var fraction = pad(Int(ms), 3)
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(seconds).\(fraction)"
    }

    /// `2026-11-19` (UTC).
    package static func day(_ milliseconds: Int64) -> String {
        CivilTime(milliseconds: milliseconds).date("-")
    }

    private func date(_ separator: String) -> String {
        CivilTime.pad(year, 4) + separator + CivilTime.pad(month, 2) + separator + CivilTime.pad(day, 2)
    }

    private func clock(fractionDigits: Int) -> String {
        var text = CivilTime.pad(hour, 2) + ":" + CivilTime.pad(minute, 2) + ":" + CivilTime.pad(second, 2)
        if fractionDigits >= 3 {
            text += "." + CivilTime.pad(millisecond, 3) + String(repeating: "0", count: fractionDigits - 3)
        }
        return text
    }

    private static func offset(_ seconds: Int, colon: Bool) -> String {
        let sign = seconds < 0 ? "-" : "+"
        let minutes = abs(seconds) / 60
        return sign + pad(minutes / 60, 2) + (colon ? ":" : "") + pad(minutes % 60, 2)
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
