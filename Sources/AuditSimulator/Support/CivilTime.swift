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
        let days = Int(floorDiv(local, 86_400_000))
        let msOfDay = Int(local - Int64(days) * 86_400_000)
        (year, month, day) = CivilTime.civil(fromDays: days)
        hour = msOfDay / 3_600_000
        minute = msOfDay / 60_000 % 60
        second = msOfDay / 1000 % 60
        millisecond = msOfDay % 1000
        weekday = ((days % 7) + 11) % 7 // 1970-01-01 was a Thursday (4)
    }

    /// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    package static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Midnight UTC of the first day of the month of `milliseconds`, and of the next month.
    package static func monthRange(containing milliseconds: Int64) -> (from: Int64, to: Int64) {
        let t = CivilTime(milliseconds: milliseconds)
        let from = Int64(days(year: t.year, month: t.month, day: 1)) * 86_400_000
        let nextYear = t.month == 12 ? t.year + 1 : t.year
        let nextMonth = t.month == 12 ? 1 : t.month + 1
        let to = Int64(days(year: nextYear, month: nextMonth, day: 1)) * 86_400_000
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
        let seconds = floorDiv(milliseconds, 1000)
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

private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
