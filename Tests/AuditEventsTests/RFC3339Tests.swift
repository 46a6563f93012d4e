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
            #expect(RFC3339.text(milliseconds: milliseconds).utf8.count == RFC3339.length)
        }
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
