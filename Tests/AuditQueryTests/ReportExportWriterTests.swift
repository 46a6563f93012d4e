import AuditEvents
import AuditPipeProto
import AuditPipeTestSupport
import AuditQuery
import Foundation
import SwiftProtobuf
import Testing

/// The CLI's csv and ndjson output, written from chunk bytes, against independent oracles:
/// Foundation's ISO8601DateFormatter for times, JSONSerialization for ndjson, and the
/// String-based RFC 4180 quoting the CLI used before.
@Suite("Report export writer (auditpipe report --format csv|ndjson)")
struct ReportExportWriterTests {
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func sortedMetadata(_ metadata: [String: String]) -> [(String, String)] {
        metadata.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
    }

    static func events(count: Int, using generator: inout some RandomNumberGenerator) -> [Auditpipe_V1_StoredEvent] {
        (0..<count).map { _ in
            var stored = ReportEventEncoderTests.randomEvent(tenant: ReportEventEncoderTests.randomText(using: &generator), using: &generator)
            // DateTime64's range: 1900 to 2299.
            stored.event.timestampMs = Int64.random(in: -2_208_988_800_000...10_413_791_999_999, using: &generator)
            stored.ingestedAtMs = Int64.random(in: -2_208_988_800_000...10_413_791_999_999, using: &generator)
            return stored
        }
    }

    /// The chunks' bytes, as the server sends them.
    static func chunks(_ events: [Auditpipe_V1_StoredEvent]) throws -> [[UInt8]] {
        stride(from: 0, to: events.count, by: 7).map { start in
            var chunk = Auditpipe_V1_ComplianceReportChunk()
            chunk.events = Array(events[start..<min(events.count, start + 7)])
            chunk.nextCursor = "c\(start)"
            return chunk
        }.map { try! $0.serializedBytes() }
    }

    @Test func csvMatchesTheStringBasedQuoting() throws {
        var generator = SystemRandomNumberGenerator()
        let events = Self.events(count: 500, using: &generator)
        var writer = ReportExportWriter(format: .csv)
        var output: [UInt8] = []
        writer.appendHeader(to: &output)
        var cursors: [String] = []
        for chunk in try Self.chunks(events) {
            let summary = try writer.append(chunk: chunk, to: &output)
            cursors.append(summary.nextCursor)
        }
        var expected = "timestamp,event_type,actor_id,action,resource,event_id,metadata\n"
        for stored in events {
            let event = stored.event
            let metadata = Self.sortedMetadata(event.metadata).map { "\($0.0)=\($0.1)" }.joined(separator: ";")
            expected += [TimeOracle.rfc3339(milliseconds: event.timestampMs), event.eventType, event.actorID, event.action, event.resource, event.eventID, metadata]
                .map(Self.csvField).joined(separator: ",") + "\n"
        }
        #expect(String(decoding: output, as: UTF8.self) == expected)
        #expect(cursors == stride(from: 0, to: 500, by: 7).map { "c\($0)" })
    }

    @Test func ndjsonParsesBackToTheEvents() throws {
        var generator = SystemRandomNumberGenerator()
        let events = Self.events(count: 500, using: &generator)
        var writer = ReportExportWriter(format: .ndjson)
        var output: [UInt8] = []
        writer.appendHeader(to: &output)
        for chunk in try Self.chunks(events) { _ = try writer.append(chunk: chunk, to: &output) }
        let lines = output.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        #expect(lines.count == events.count + 1 && lines.last?.isEmpty == true)
        for (line, stored) in zip(lines, events) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            let event = stored.event
            #expect(object["timestamp"] as? String == TimeOracle.rfc3339(milliseconds: event.timestampMs))
            #expect(object["ingested_at"] as? String == TimeOracle.rfc3339(milliseconds: stored.ingestedAtMs))
            #expect(object["tenant_id"] as? String == event.tenantID)
            #expect(object["event_type"] as? String == event.eventType)
            #expect(object["event_id"] as? String == event.eventID)
            #expect(object["actor_id"] as? String == event.actorID)
            #expect(object["resource"] as? String == event.resource)
            #expect(object["action"] as? String == event.action)
            #expect(object["metadata"] as? [String: String] == event.metadata)
            #expect((object["schema_id"] as? NSNumber)?.int64Value == Int64(stored.schemaID))
            #expect((object["kafka_partition"] as? NSNumber)?.int64Value == Int64(stored.kafkaPartition))
            #expect((object["kafka_offset"] as? NSNumber)?.int64Value == stored.kafkaOffset)
            #expect(object.count == 12)
            // Keys in sorted order, as before (JSONSerialization with .sortedKeys).
            let text = String(decoding: line, as: UTF8.self)
            #expect(text.hasPrefix("{\"action\":"))
            #expect(text.hasSuffix(",\"timestamp\":\"\(TimeOracle.rfc3339(milliseconds: event.timestampMs))\"}"))
        }
    }

    @Test func malformedBytesAreAnError() throws {
        var writer = ReportExportWriter(format: .csv)
        var output: [UInt8] = []
        #expect(throws: (any Error).self) { _ = try writer.append(chunk: [0x0A, 0x05, 0x01], to: &output) }
        #expect(throws: (any Error).self) { _ = try writer.append(chunk: [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], to: &output) }
        // Unknown fields are skipped, as protobuf readers do.
        var generator = SystemRandomNumberGenerator()
        var chunk = Auditpipe_V1_ComplianceReportChunk()
        chunk.events = [ReportEventEncoderTests.randomEvent(tenant: "acme", using: &generator)]
        var bytes: [UInt8] = [0x48, 0x07, 0x55, 1, 2, 3, 4]  // field 9 varint, field 10 fixed32
        bytes += try chunk.serializedBytes() as [UInt8]
        #expect(try writer.append(chunk: bytes, to: &output).events == 1)
    }
}
