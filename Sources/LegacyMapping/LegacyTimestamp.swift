import AuditEvents

/// How a source writes its timestamps. Every format yields milliseconds since the Unix epoch
/// (UTC); finer fractions are truncated to the millisecond.
package enum LegacyTimestampFormat: String, Sendable, Hashable, CaseIterable {
    /// ISO 8601 / RFC 3339: `2024-03-01T12:30:00Z`, `2024-03-01T12:30:00.123+02:00`,
    /// `2024-03-01 12:30:00` (space separator, seconds and fraction optional). A value without a
    /// zone is read in the rule's `assume_zone` (UTC when not set).
    case iso8601
    /// RFC 2822 (e-mail dates): `Fri, 01 Mar 2024 12:30:00 +0100`; the weekday is optional and
    /// not checked; zones `+hhmm`, `UT`, `GMT`, `Z` and the US zones `EST`…`PDT` are understood.
    case rfc2822
    /// Seconds since the epoch, as a JSON number or a numeric string; a fraction is allowed.
    case epochSeconds = "epoch_seconds"
    /// Milliseconds since the epoch, as a JSON number or a numeric string; a fraction is truncated.
    case epochMilliseconds = "epoch_milliseconds"
    /// Seconds or milliseconds, chosen by magnitude: below 10^11 (year 5138 in seconds, March
    /// 1973 in milliseconds) it is seconds, below 10^14 milliseconds; larger values (microseconds,
    /// nanoseconds) are refused. Only for sources known to mix both.
    case epochAuto = "epoch_auto"
}

/// Why a timestamp could not be read.
package struct LegacyTimestampError: Error, Sendable, Hashable, ExpressibleByStringInterpolation {
    package var message: String
    package init(_ message: String) { self.message = message }
    package init(stringLiteral value: String) { message = value }
}

/// Parses legacy timestamps. Pure functions; no Foundation formatters, so the result never
/// depends on the machine's locale or time zone.
package enum LegacyTimestamp {
    /// Milliseconds since the epoch of `value` in `format`, or a message saying what is wrong.
    /// `assumeOffsetSeconds` is the UTC offset for ISO 8601 values without a zone.
    package static func parse(_ value: LegacyJSON, format: LegacyTimestampFormat, assumeOffsetSeconds: Int = 0) -> Result<Int64, LegacyTimestampError> {
        switch format {
        case .iso8601, .rfc2822:
            guard case .string(let text) = value else {
                return .failure("expected a string in \(format.rawValue) format, got \(value.kindName)")
            }
            let parsed = format == .iso8601 ? parseISO8601(text, assumeOffsetSeconds: assumeOffsetSeconds) : parseRFC2822(text)
            return parsed.mapError { LegacyTimestampError("\"\(text.prefix(80))\" is not a valid \(format.rawValue) timestamp: \($0.message)") }
        case .epochSeconds, .epochMilliseconds, .epochAuto:
            let text: String
            switch value {
            case .number(let literal): text = literal
            case .string(let s): text = s.trimmingSpaces
            default: return .failure("expected a number of \(format == .epochSeconds ? "seconds" : format == .epochMilliseconds ? "milliseconds" : "seconds or milliseconds") since the epoch, got \(value.kindName)")
            }
            guard let decimal = Decimal(text) else {
                return .failure("\"\(text.prefix(80))\" is not a plain decimal number of \(format == .epochSeconds ? "seconds" : "milliseconds") (no exponent, no units)")
            }
            let unitIsSeconds: Bool
            switch format {
            case .epochSeconds: unitIsSeconds = true
            case .epochMilliseconds: unitIsSeconds = false
            default:
                if decimal.integerDigits.count <= 11 && decimal.magnitudeBelow(100_000_000_000) {
                    unitIsSeconds = true
                } else if decimal.magnitudeBelow(100_000_000_000_000) {
                    unitIsSeconds = false
                } else {
                    return .failure("\(text) is too large for seconds or milliseconds since the epoch (epoch_auto accepts values below 10^14); it looks like micro- or nanoseconds")
                }
            }
            guard let millis = decimal.milliseconds(fromSeconds: unitIsSeconds) else {
                return .failure("\(text) is out of range")
            }
            return .success(millis)
        }
    }

    // MARK: ISO 8601

    static func parseISO8601(_ text: String, assumeOffsetSeconds: Int) -> Result<Int64, LegacyTimestampError> {
        var s = Scanner(text.trimmingSpaces)
        guard let year = s.digits(exactly: 4), s.eat("-"), let month = s.digits(exactly: 2), s.eat("-"), let day = s.digits(exactly: 2) else {
            return .failure("expected YYYY-MM-DD at the start")
        }
        guard s.eat("T") || s.eat("t") || s.eat(" ") else {
            return .failure(s.atEnd ? "a date without a time is not enough; add THH:MM:SS" : "expected 'T' or a space between date and time")
        }
        guard let hour = s.digits(exactly: 2), s.eat(":"), let minute = s.digits(exactly: 2) else {
            return .failure("expected HH:MM after the date")
        }
        var second = 0
        var millis = 0
        if s.eat(":") {
            guard let sec = s.digits(exactly: 2) else { return .failure("expected two digits of seconds") }
            second = sec
            if s.eat(".") || s.eat(",") {
                guard let fraction = s.digitString(), !fraction.isEmpty else { return .failure("expected digits after the decimal point") }
                let three = (fraction + "00").prefix(3)
                millis = Int(three)!
            }
        }
        var offset = assumeOffsetSeconds
        if s.eat("Z") || s.eat("z") {
            offset = 0
        } else if let sign = s.eatSign() {
            guard let hh = s.digits(exactly: 2) else { return .failure("expected a zone offset like +02:00") }
            var mm = 0
            if s.eat(":") {
                guard let m = s.digits(exactly: 2) else { return .failure("expected a zone offset like +02:00") }
                mm = m
            } else if let m = s.digits(exactly: 2) {
                mm = m
            }
            guard hh <= 23, mm <= 59 else { return .failure("zone offset out of range") }
            offset = sign * (hh * 3600 + mm * 60)
        }
        guard s.atEnd else { return .failure("unexpected text after the timestamp") }
        return civilMilliseconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second, millis: millis, offsetSeconds: offset)
    }

    // MARK: RFC 2822

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    private static let namedZones: [String: Int] = [
        "ut": 0, "utc": 0, "gmt": 0, "z": 0,
        "est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
    ]

    static func parseRFC2822(_ text: String) -> Result<Int64, LegacyTimestampError> {
        var s = Scanner(text.trimmingSpaces)
        if let word = s.peekWord(), weekdays.contains(word.lowercased()) {
            _ = s.word()
            s.skipSpaces()
            guard s.eat(",") else { return .failure("expected ',' after the weekday") }
        }
        s.skipSpaces()
        guard let day = s.digits(min: 1, max: 2) else { return .failure("expected the day of the month") }
        s.skipSpaces()
        guard let monthName = s.word(), let monthIndex = months.firstIndex(of: monthName.lowercased()) else {
            return .failure("expected a month name such as Mar")
        }
        s.skipSpaces()
        guard let year = s.digits(exactly: 4) else { return .failure("expected a four-digit year") }
        s.skipSpaces()
        guard let hour = s.digits(exactly: 2), s.eat(":"), let minute = s.digits(exactly: 2) else {
            return .failure("expected HH:MM after the year")
        }
        var second = 0
        if s.eat(":") {
            guard let sec = s.digits(exactly: 2) else { return .failure("expected two digits of seconds") }
            second = sec
        }
        s.skipSpaces()
        let offset: Int
        if let sign = s.eatSign() {
            guard let hhmm = s.digits(exactly: 4) else { return .failure("expected a zone like +0100") }
            guard hhmm / 100 <= 23, hhmm % 100 <= 59 else { return .failure("zone offset out of range") }
            offset = sign * ((hhmm / 100) * 3600 + (hhmm % 100) * 60)
        } else if let zone = s.word(), let hours = namedZones[zone.lowercased()] {
            offset = hours * 3600
        } else {
            return .failure("expected a zone such as +0000, GMT or EST")
        }
        s.skipSpaces()
        if s.eat("(") {  // a trailing comment such as "(CET)"
            while !s.atEnd, !s.eat(")") { s.advance() }
            s.skipSpaces()
        }
        guard s.atEnd else { return .failure("unexpected text after the zone") }
        return civilMilliseconds(year: year, month: monthIndex + 1, day: day, hour: hour, minute: minute, second: second, millis: 0, offsetSeconds: offset)
    }

    // MARK: Calendar arithmetic

    static func civilMilliseconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millis: Int, offsetSeconds: Int) -> Result<Int64, LegacyTimestampError> {
        guard (1...12).contains(month) else { return .failure("month \(month) does not exist") }
        guard day >= 1, day <= CivilDate.daysIn(month: Int64(month), year: Int64(year)) else { return .failure("day \(day) does not exist in \(year)-\(month < 10 ? "0" : "")\(month)") }
        guard hour <= 23, minute <= 59, second <= 59 else { return .failure("time of day out of range (leap seconds are not accepted)") }
        let days = CivilDate.days(year: Int64(year), month: Int64(month), day: Int64(day))
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        return .success(seconds * 1000 + Int64(millis))
    }

    /// Parses a zone for zone-less ISO 8601 values: `UTC`, `Z`, `+02:00`, `-0530`. Returns the
    /// offset in seconds, or nil.
    package static func parseFixedOffset(_ text: String) -> Int? {
        if text == "UTC" || text == "Z" { return 0 }
        var s = Scanner(text)
        guard let sign = s.eatSign(), let hh = s.digits(exactly: 2) else { return nil }
        var mm = 0
        if s.eat(":") {
            guard let m = s.digits(exactly: 2) else { return nil }
            mm = m
        } else if let m = s.digits(exactly: 2) {
            mm = m
        }
        guard s.atEnd, hh <= 23, mm <= 59 else { return nil }
        return sign * (hh * 3600 + mm * 60)
    }
}

/// A non-negative or negative decimal number read exactly from text (`1700000000.123`).
private struct Decimal {
    var negative: Bool
    var integerDigits: Substring
    var fractionDigits: Substring

    init?(_ text: String) {
        var rest = Substring(text)
        negative = rest.first == "-"
        if negative { rest = rest.dropFirst() }
        let parts = rest.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let intPart = parts.first, !intPart.isEmpty, intPart.allSatisfy(\.isASCIIDigit) else { return nil }
        integerDigits = intPart.drop { $0 == "0" }
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy(\.isASCIIDigit) else { return nil }
            fractionDigits = parts[1]
        } else {
            fractionDigits = ""
        }
    }

    func magnitudeBelow(_ limit: Int64) -> Bool {
        guard integerDigits.count <= 18, let value = Int64(integerDigits.isEmpty ? "0" : integerDigits) else { return false }
        return value < limit
    }

    /// The value in milliseconds, truncating finer digits; nil on overflow.
    func milliseconds(fromSeconds: Bool) -> Int64? {
        guard integerDigits.count <= 18, let whole = Int64(integerDigits.isEmpty ? "0" : integerDigits) else { return nil }
        var result = whole
        if fromSeconds {
            let (scaled, overflow) = whole.multipliedReportingOverflow(by: 1000)
            guard !overflow else { return nil }
            let ms = Int64(String((fractionDigits + "000").prefix(3)))!
            let (sum, overflowSum) = scaled.addingReportingOverflow(ms)
            guard !overflowSum else { return nil }
            result = sum
        }
        return negative ? -result : result
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(self.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

/// A tiny cursor over ASCII-ish text for the timestamp grammars.
private struct Scanner {
    let chars: [Character]
    var i = 0

    init(_ text: String) { chars = Array(text) }

    var atEnd: Bool { i >= chars.count }

    mutating func advance() { i += 1 }

    mutating func eat(_ c: Character) -> Bool {
        guard i < chars.count, chars[i] == c else { return false }
        i += 1
        return true
    }

    mutating func eatSign() -> Int? {
        if eat("+") { return 1 }
        if eat("-") || eat("\u{2212}") { return -1 }
        return nil
    }

    mutating func skipSpaces() {
        while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 }
    }

    mutating func digits(exactly n: Int) -> Int? {
        guard i + n <= chars.count, chars[i..<(i + n)].allSatisfy(\.isASCIIDigit) else { return nil }
        defer { i += n }
        return Int(String(chars[i..<(i + n)]))
    }

    mutating func digits(min: Int, max: Int) -> Int? {
        var j = i
        while j < chars.count, j - i < max, chars[j].isASCIIDigit { j += 1 }
        guard j - i >= min else { return nil }
        if j < chars.count, chars[j].isASCIIDigit { return nil }
        defer { i = j }
        return Int(String(chars[i..<j]))
    }

    mutating func digitString() -> String? {
        var j = i
        while j < chars.count, chars[j].isASCIIDigit { j += 1 }
        defer { i = j }
        return String(chars[i..<j])
    }

    func peekWord() -> String? {
        var j = i
        while j < chars.count, chars[j].isLetter, chars[j].isASCII { j += 1 }
        return j > i ? String(chars[i..<j]) : nil
    }

    mutating func word() -> String? {
        guard let w = peekWord() else { return nil }
        i += w.count
        return w
    }
}
