@testable import AuditQuery
import Crypto
import Foundation
import Testing

@Suite("Report cursors")
struct ReportCursorTests {
    let codec = ReportCursorCodec(key: SymmetricKey(data: Array(repeating: UInt8(7), count: 32)))
    let query = ComplianceReportQuery(
        tenantID: "acme", fromMilliseconds: 1_000, toMilliseconds: 10_000_000,
        eventTypes: ["auth", "data_change"], actorIDs: ["alice"], metadataEquals: ["ip": "1.2.3.4"]
    )
    let position = ReportPosition(timestampMilliseconds: 5_000, kafkaPartition: 3, kafkaOffset: 123_456_789_012)

    func rule(_ body: () throws(ReportQueryError) -> ReportPosition) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return error.violations.first.map { "\($0.field):\($0.rule)" }
        }
    }

    @Test func roundTrip() throws {
        let text = codec.encode(position, for: query)
        #expect(text.count == 50) // 37 bytes, base64url without padding
        #expect(text.utf8.allSatisfy { $0.isBase64URLByte })
        #expect(try codec.decode(text, for: query) == position)
    }

    @Test func listOrderAndDuplicatesDoNotMatter() throws {
        var same = query
        same.eventTypes = ["data_change", "auth", "auth"]
        same.limit = 5 // a client may resume with another limit
        #expect(try codec.decode(codec.encode(position, for: query), for: same) == position)
    }

    @Test func everyAlteredCharacterIsRefused() {
        let text = Array(codec.encode(position, for: query))
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for index in text.indices {
            var altered = text
            altered[index] = alphabet[(alphabet.firstIndex(of: text[index])! + 1) % alphabet.count]
            #expect(rule { () throws(ReportQueryError) in try codec.decode(String(altered), for: query) } == "cursor:invalid_cursor", "index \(index)")
        }
    }

    @Test func boundToTenantRangeAndFilters() {
        let text = codec.encode(position, for: query)
        var others: [ComplianceReportQuery] = []
        var other = query; other.tenantID = "globex"; others.append(other)
        other = query; other.fromMilliseconds = 999; others.append(other)
        other = query; other.toMilliseconds += 1; others.append(other)
        other = query; other.eventTypes = ["auth"]; others.append(other)
        other = query; other.actorIDs = []; others.append(other)
        other = query; other.resources = ["doc/1"]; others.append(other)
        other = query; other.actions = ["login"]; others.append(other)
        other = query; other.metadataEquals = ["ip": "1.2.3.5"]; others.append(other)
        // Length-prefixing: moving a boundary between fields changes the digest.
        other = query; other.actorIDs = ["alic", "e"]; others.append(other)
        for other in others {
            #expect(rule { () throws(ReportQueryError) in try codec.decode(text, for: other) } == "cursor:invalid_cursor")
        }
    }

    @Test func anotherServerKeyIsRefused() {
        let text = ReportCursorCodec(key: SymmetricKey(size: .bits256)).encode(position, for: query)
        #expect(rule { () throws(ReportQueryError) in try codec.decode(text, for: query) } == "cursor:invalid_cursor")
    }

    @Test(arguments: ["", "x", "not a cursor at all, clearly not one!!!!!!!!", String(repeating: "A", count: 50), "AAAA=", String(repeating: "+", count: 44)])
    func garbageIsRefused(_ text: String) {
        #expect(rule { () throws(ReportQueryError) in try codec.decode(text, for: query) } == "cursor:invalid_cursor")
    }

    @Test func positionOutsideTheRangeIsRefused() {
        let outside = ReportPosition(timestampMilliseconds: 10_000_000, kafkaPartition: 0, kafkaOffset: 0)
        #expect(rule { () throws(ReportQueryError) in try codec.decode(codec.encode(outside, for: query), for: query) } == "cursor:invalid_cursor")
    }

    @Test func clickHouseTimeTextMatchesFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let ms = Int64.random(in: 0...ReportTime.maximumMilliseconds, using: &generator)
            let seconds = formatter.string(from: Date(timeIntervalSince1970: Double(ms / 1000)))
                .replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "")
            let millis = String(ms % 1000)
            let expected = seconds + "." + String(repeating: "0", count: 3 - millis.count) + millis
            #expect(ReportTime.clickHouseText(milliseconds: ms) == expected, "\(ms)")
        }
        #expect(ReportTime.clickHouseText(milliseconds: 0) == "1970-01-01 00:00:00.000")
        #expect(ReportTime.clickHouseText(milliseconds: ReportTime.maximumMilliseconds) == "2299-12-31 23:59:59.999")
    }
}
