import AuditEvents
import AuditPipeTestSupport
import Foundation
import Testing

@Suite("RFC 3339 text of an instant")
struct RFC3339Tests {
    @Test func knownInstants() {
        #expect(RFC3339.text(milliseconds: 1_795_083_753_456) == "2026-11-19T10:22:33.456Z")
        #expect(RFC3339.text(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(RFC3339.text(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
        #expect(RFC3339.text(milliseconds: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(RFC3339.text(milliseconds: 10_413_791_999_999) == "2299-12-31T23:59:59.999Z")
        #expect(RFC3339.text(milliseconds: 0).utf8.count == RFC3339.length)
    }

    @Test func everyInt64IsWrittenWithoutTrapping() {
        for milliseconds in [Int64.min, .min + 1, -86_400_000, 86_400_000 - 1, .max - 1, .max] {
            let text = RFC3339.text(milliseconds: milliseconds)
            #expect(text.utf8.count >= RFC3339.length && text.hasSuffix("Z"), "\(text)")
            withUnsafeTemporaryAllocation(byteCount: RFC3339.length, alignment: 1) { buffer in
                RFC3339.write(milliseconds: milliseconds, to: buffer.baseAddress!)
                // The same text after the year.
                #expect(String(decoding: UnsafeRawBufferPointer(buffer), as: UTF8.self).suffix(RFC3339.length - 4) == text.suffix(RFC3339.length - 4))
            }
        }
    }

    /// A year outside 0...9999 is written in full in the text (a wrong time must not read as a
    /// plausible one), modulo 10,000 in the fixed-width form.
    @Test func yearsOutsideFourDigitsAreWrittenInFull() {
        let year12026 = CivilDate.days(year: 12_026, month: 3, day: 1) * 86_400_000 + 1
        #expect(RFC3339.text(milliseconds: year12026) == "12026-03-01T00:00:00.001Z")
        let year44BC = CivilDate.days(year: -44, month: 3, day: 15) * 86_400_000
        #expect(RFC3339.text(milliseconds: year44BC) == "-0044-03-15T00:00:00.000Z")
        #expect(RFC3339.text(milliseconds: CivilDate.days(year: 9999, month: 12, day: 31) * 86_400_000) == "9999-12-31T00:00:00.000Z")
    }

    @Test func matchesFoundation() {
        var generator = SystemRandomNumberGenerator()
        for milliseconds in [0, -1, 1, 999, -1000, -2_208_988_800_000, 10_413_791_999_999, 951_782_400_000, 4_107_542_399_999] as [Int64] {
            #expect(RFC3339.text(milliseconds: milliseconds) == TimeOracle.rfc3339(milliseconds: milliseconds), "\(milliseconds)")
        }
        for _ in 0..<5000 {
            let milliseconds = Int64.random(in: -2_208_988_800_000...10_413_791_999_999, using: &generator)
            #expect(RFC3339.text(milliseconds: milliseconds) == TimeOracle.rfc3339(milliseconds: milliseconds), "\(milliseconds)")
        }
    }
}
