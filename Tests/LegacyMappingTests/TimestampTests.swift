import Foundation
import LegacyMapping
import Testing

/// Expected values were computed independently with Python's `datetime` and
/// `email.utils.parsedate_to_datetime` (see Corpus/README.md).
@Suite struct TimestampTests {
    func parse(_ value: LegacyJSON, _ format: LegacyTimestampFormat, offset: Int = 0) -> Int64? {
        try? LegacyTimestamp.parse(value, format: format, assumeOffsetSeconds: offset).get()
    }

    func error(_ value: LegacyJSON, _ format: LegacyTimestampFormat) -> String? {
        if case .failure(let e) = LegacyTimestamp.parse(value, format: format) { return e.message }
        return nil
    }

    @Test func iso8601() {
        #expect(parse(.string("2026-11-19T08:15:30Z"), .iso8601) == 1_795_076_130_000)
        #expect(parse(.string("2026-11-19T09:02:11.250Z"), .iso8601) == 1_795_078_931_250)
        #expect(parse(.string("2026-11-19T11:22:33.456+01:00"), .iso8601) == 1_795_083_753_456)
        #expect(parse(.string("2026-11-19T10:05:00+05:30"), .iso8601) == 1_795_062_900_000)
        #expect(parse(.string("2026-11-19T07:03:00+0000"), .iso8601) == 1_795_071_780_000)
        #expect(parse(.string("2026-11-19T12:00:00.123456Z"), .iso8601) == 1_795_089_600_123)
        #expect(parse(.string("2024-02-29t00:00:00z"), .iso8601) == 1_709_164_800_000)
        #expect(parse(.string("1969-12-31T23:59:59Z"), .iso8601) == -1000)
        // Zone-less: UTC unless the rule assumes another fixed offset.
        #expect(parse(.string("2026-11-19 10:00:00"), .iso8601) == 1_795_082_400_000)
        #expect(parse(.string("2026-11-19 10:00:00"), .iso8601, offset: 3600) == 1_795_078_800_000)
        #expect(parse(.string("2026-11-19 10:07"), .iso8601, offset: 3600) == 1_795_079_220_000)
        // An explicit zone wins over the assumed one.
        #expect(parse(.string("2026-11-19T10:00:00Z"), .iso8601, offset: 3600) == 1_795_082_400_000)
    }

    @Test func iso8601Errors() {
        #expect(error(.string("2026-11-19"), .iso8601) == "\"2026-11-19\" is not a valid iso8601 timestamp: a date without a time is not enough; add THH:MM:SS")
        #expect(error(.string("2026-02-29T00:00:00Z"), .iso8601) == "\"2026-02-29T00:00:00Z\" is not a valid iso8601 timestamp: day 29 does not exist in 2026-02")
        #expect(error(.string("2026-11-19T24:00:00Z"), .iso8601)?.hasSuffix("time of day out of range (leap seconds are not accepted)") == true)
        #expect(error(.string("2026-11-19T10:00:00 CET"), .iso8601)?.hasSuffix("unexpected text after the timestamp") == true)
        #expect(error(.number("1795082400"), .iso8601) == "expected a string in iso8601 format, got an integer")
    }

    @Test func rfc2822() {
        #expect(parse(.string("Thu, 19 Nov 2026 09:30:00 +0100"), .rfc2822) == 1_795_077_000_000)
        #expect(parse(.string("19 Nov 2026 17:05 GMT"), .rfc2822) == 1_795_107_900_000)
        #expect(parse(.string("Thu, 19 Nov 2026 09:31:00 EST"), .rfc2822) == 1_795_098_660_000)
        #expect(parse(.string("Thu,  9 Nov 2026 09:31:00 -0000 (UTC)"), .rfc2822) == 1_794_216_660_000)
        #expect(error(.string("19/11/2026 09:30"), .rfc2822) == "\"19/11/2026 09:30\" is not a valid rfc2822 timestamp: expected a month name such as Mar")
        #expect(error(.string("Thu, 19 Nov 26 09:30:00 +0100"), .rfc2822)?.hasSuffix("expected a four-digit year") == true)
        #expect(error(.string("Thu, 19 Nov 2026 09:30:00 CET"), .rfc2822)?.hasSuffix("expected a zone such as +0000, GMT or EST") == true)
    }

    @Test func epochValues() {
        #expect(parse(.number("1795046400"), .epochSeconds) == 1_795_046_400_000)
        #expect(parse(.number("1795046400.25"), .epochSeconds) == 1_795_046_400_250)
        #expect(parse(.number("1795046470.999999"), .epochSeconds) == 1_795_046_470_999)
        #expect(parse(.string(" 1795046400 "), .epochSeconds) == 1_795_046_400_000)
        #expect(parse(.number("1795079400123"), .epochMilliseconds) == 1_795_079_400_123)
        #expect(parse(.string("1795079460000"), .epochMilliseconds) == 1_795_079_460_000)
        #expect(parse(.number("1795079400123.9"), .epochMilliseconds) == 1_795_079_400_123)
        #expect(error(.number("1.7e9"), .epochSeconds) == "\"1.7e9\" is not a plain decimal number of seconds (no exponent, no units)")
        #expect(error(.bool(true), .epochMilliseconds) == "expected a number of milliseconds since the epoch, got a boolean")
        #expect(error(.number("99999999999999999999"), .epochMilliseconds) == "99999999999999999999 is out of range")
        #expect(error(.number("9223372036854775.999"), .epochSeconds) == "9223372036854775.999 is out of range")
    }

    @Test func epochAutoDecidesByMagnitudeOnly() {
        #expect(parse(.number("1795046400"), .epochAuto) == 1_795_046_400_000)
        #expect(parse(.number("99999999999"), .epochAuto) == 99_999_999_999_000)
        #expect(parse(.number("100000000000"), .epochAuto) == 100_000_000_000)
        #expect(parse(.number("1795047000500"), .epochAuto) == 1_795_047_000_500)
        #expect(error(.number("1795050000000000"), .epochAuto) == "1795050000000000 is too large for seconds or milliseconds since the epoch (epoch_auto accepts values below 10^14); it looks like micro- or nanoseconds")
    }
}
