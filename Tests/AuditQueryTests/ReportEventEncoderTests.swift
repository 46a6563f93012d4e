import AuditPipeProto
@testable import AuditQuery
import ClickHouseHTTP
import Foundation
import NIOCore
import SwiftProtobuf
import Testing

/// The RowBinary-to-protobuf encoder of report pieces, checked against SwiftProtobuf's own
/// encoder and decoder.
@Suite("Report event encoder")
struct ReportEventEncoderTests {
    static let columns: [ClickHouseColumn] = [
        ClickHouseColumn("tenant_id", .lowCardinality(.string)),
        ClickHouseColumn("event_type", .lowCardinality(.string)),
        ClickHouseColumn("timestamp", .dateTime64(precision: 3, timezone: "UTC")),
        ClickHouseColumn("event_id", .string),
        ClickHouseColumn("actor_id", .string),
        ClickHouseColumn("resource", .string),
        ClickHouseColumn("action", .lowCardinality(.string)),
        ClickHouseColumn("metadata", .map(.string, .string)),
        ClickHouseColumn("ingested_at", .dateTime64(precision: 3, timezone: "UTC")),
        ClickHouseColumn("schema_id", .int32),
        ClickHouseColumn("kafka_partition", .int32),
        ClickHouseColumn("kafka_offset", .int64),
    ]

    static func randomText(using generator: inout some RandomNumberGenerator) -> String {
        let alphabet: [String] = ["a", "Z", "0", " ", ",", "\"", "\n", "é", "😀", "\\", "\t", "\u{0}", "ü", "/", "="]
        return (0..<Int.random(in: 0...40, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }.joined()
    }

    static func randomEvent(tenant: String, using generator: inout some RandomNumberGenerator) -> Auditpipe_V1_StoredEvent {
        var event = Auditpipe_V1_AuditEvent()
        event.tenantID = tenant
        event.eventType = randomText(using: &generator)
        event.timestampMs = Int64.random(in: -2_208_988_800_000...10_413_791_999_999, using: &generator)
        event.eventID = randomText(using: &generator)
        event.actorID = randomText(using: &generator)
        event.resource = String(repeating: randomText(using: &generator), count: Int.random(in: 0...50, using: &generator))
        event.action = randomText(using: &generator)
        for _ in 0..<Int.random(in: 0...5, using: &generator) {
            event.metadata[randomText(using: &generator)] = randomText(using: &generator)
        }
        var stored = Auditpipe_V1_StoredEvent()
        stored.event = event
        stored.ingestedAtMs = [0, -1, event.timestampMs + 1500].randomElement(using: &generator)!
        stored.schemaID = [0, 1, -5, Int32.max, Int32.min].randomElement(using: &generator)!
        stored.kafkaPartition = Int32.random(in: 0...Int32.max, using: &generator)
        stored.kafkaOffset = [0, 1, Int64.max, Int64.random(in: 0...Int64.max, using: &generator)].randomElement(using: &generator)!
        return stored
    }

    /// The RowBinaryWithNamesAndTypes body ClickHouse would send for `events`; `rawEventID`
    /// replaces the event id bytes (to send invalid UTF-8).
    static func body(_ events: [Auditpipe_V1_StoredEvent], rawEventID: [Int: [UInt8]] = [:]) throws -> ByteBuffer {
        var writer = RowBinaryWriter(columns: columns)
        for (index, stored) in events.enumerated() {
            let event = stored.event
            try writer.append([
                .string(event.tenantID), .string(event.eventType), .time(event.timestampMs),
                rawEventID[index].map { .bytes($0) } ?? .string(event.eventID), .string(event.actorID),
                .string(event.resource), .string(event.action), .stringMap(event.metadata), .time(stored.ingestedAtMs),
                .int(Int64(stored.schemaID)), .int(Int64(stored.kafkaPartition)), .int(stored.kafkaOffset),
            ])
        }
        return writer.buffer
    }

    /// Feeds `body` in random pieces and returns the chunks' messages as a receiver decodes them.
    static func encode(_ body: ByteBuffer, tenant: String, chunkBytes: Int, budget: Int = .max, using generator: inout some RandomNumberGenerator) throws -> (chunks: [Auditpipe_V1_ComplianceReportChunk], encoder: ReportEventEncoder) {
        var encoder = ReportEventEncoder(tenant: tenant, chunkBytes: chunkBytes, budgetBytes: budget) { "cursor-\($0.kafkaOffset)" }
        var rest = body
        var stopped = false
        while rest.readableBytes > 0, !stopped {
            let length = min(rest.readableBytes, Int.random(in: 1...4096, using: &generator))
            try encoder.feed(rest.readSlice(length: length)!)
            stopped = encoder.isOverBudget
        }
        try encoder.finish(stoppedEarly: stopped)
        let chunks = try encoder.chunks.map { chunk in
            let bytes = Array(chunk.bytes.readableBytesView)
            let decoded = try Auditpipe_V1_ComplianceReportChunk(serializedBytes: bytes)
            #expect(decoded.events.count == chunk.rows)
            #expect(decoded.nextCursor == "cursor-\(chunk.last.kafkaOffset)")
            return decoded
        }
        return (chunks, encoder)
    }

    @Test func randomEventsRoundTripThroughChunks() throws {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<40 {
            let events = (0..<Int.random(in: 0...300, using: &generator)).map { _ in Self.randomEvent(tenant: "acme", using: &generator) }
            let (chunks, encoder) = try Self.encode(try Self.body(events), tenant: "acme", chunkBytes: Int.random(in: 1...20_000, using: &generator), using: &generator)
            #expect(chunks.flatMap(\.events) == events, "round \(round)")
            #expect(encoder.rows == events.count)
            #expect(encoder.last.map(\.kafkaOffset) == events.last?.kafkaOffset)
            // Byte for byte what SwiftProtobuf writes for the same chunk: its events, then its
            // cursor (map entries in key order, as ClickHouse holds them here).
            var options = BinaryEncodingOptions()
            options.useDeterministicOrdering = true
            for chunk in encoder.chunks.map({ Array($0.bytes.readableBytesView) }) {
                let decoded = try Auditpipe_V1_ComplianceReportChunk(serializedBytes: chunk)
                #expect(!decoded.nextCursor.isEmpty)
                #expect(chunk == (try decoded.serializedBytes(options: options) as [UInt8]))
            }
        }
    }

    @Test func invalidUTF8IsRepairedLikeStringDecoding() throws {
        var generator = SystemRandomNumberGenerator()
        var events = (0..<3).map { _ in Self.randomEvent(tenant: "acme", using: &generator) }
        let invalid: [UInt8] = [0x61, 0xFF, 0x62, 0xC3]
        let (chunks, _) = try Self.encode(try Self.body(events, rawEventID: [1: invalid]), tenant: "acme", chunkBytes: 1 << 20, using: &generator)
        events[1].event.eventID = String(decoding: invalid, as: UTF8.self)
        #expect(chunks.flatMap(\.events) == events)
    }

    @Test func theByteBudgetStopsAfterACompleteRow() throws {
        var generator = SystemRandomNumberGenerator()
        let events = (0..<200).map { _ in Self.randomEvent(tenant: "acme", using: &generator) }
        let (chunks, encoder) = try Self.encode(try Self.body(events), tenant: "acme", chunkBytes: 4096, budget: 10_000, using: &generator)
        let received = chunks.flatMap(\.events)
        #expect(!received.isEmpty && received.count < events.count)
        #expect(received == Array(events.prefix(received.count)))
        #expect(encoder.bytes >= 10_000)
    }

    @Test func anotherTenantsEventOrOtherColumnsAreRefused() throws {
        var generator = SystemRandomNumberGenerator()
        let events = [Self.randomEvent(tenant: "acme", using: &generator), Self.randomEvent(tenant: "globex", using: &generator)]
        #expect(throws: ReportEncodingError.self) {
            _ = try Self.encode(try Self.body(events), tenant: "acme", chunkBytes: 1 << 20, using: &generator)
        }
        var writer = RowBinaryWriter(columns: Array(Self.columns.dropLast()))
        try writer.append(Array(repeating: ClickHouseValue.string("x"), count: 0) + [
            .string("acme"), .string("auth"), .time(1), .string("e"), .string("a"), .string("r"), .string("x"), .stringMap([:]), .time(1), .int(1), .int(1),
        ])
        #expect(throws: ReportEncodingError.self) {
            _ = try Self.encode(writer.buffer, tenant: "acme", chunkBytes: 1 << 20, using: &generator)
        }
        // A body cut inside a row.
        var cut = try Self.body([events[0]])
        cut.moveWriterIndex(to: cut.writerIndex - 3)
        #expect(throws: ReportEncodingError.self) {
            _ = try Self.encode(cut, tenant: "acme", chunkBytes: 1 << 20, using: &generator)
        }
    }
}
