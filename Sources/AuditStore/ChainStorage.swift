public import AuditIntegrity
import ClickHouseHTTP
import Foundation

// MARK: Chain storage

extension ClickHouseEventStore {
    /// The stored rows of `tenantID`'s chain with sequence numbers in `sequences`, ordered by
    /// sequence, plus the tenant's rows without a chain position (`chain_seq` 0) whose event time
    /// is within `unchainedTimes` (none when nil).
    public func chainRows(tenantID: String, sequences: ClosedRange<UInt64>, unchainedTimes: ClosedRange<Int64>?) async throws -> [ChainRow] {
        var rows: [ChainRow] = []
        let unchained = unchainedTimes.map { _ in " OR (chain_seq = 0 AND timestamp BETWEEN fromUnixTimestamp64Milli({tlo:Int64}, 'UTC') AND fromUnixTimestamp64Milli({thi:Int64}, 'UTC'))" } ?? ""
        var parameters: [String: ClickHouseParameter] = [
            "t": .string(tenantID), "lo": .string(String(sequences.lowerBound)), "hi": .string(String(sequences.upperBound)),
        ]
        if let unchainedTimes {
            parameters["tlo"] = .integer(unchainedTimes.lowerBound)
            parameters["thi"] = .integer(unchainedTimes.upperBound)
        }
        let response = try await client.query(
            """
            SELECT chain_seq, chain_hash, tenant_id, event_id, event_type, timestamp, actor_id, resource, action, metadata,
                   schema_id, kafka_partition, kafka_offset
            FROM `\(tables.events)`
            WHERE tenant_id = {t:String} AND ((chain_seq BETWEEN toUInt64({lo:String}) AND toUInt64({hi:String}) AND chain_seq > 0)\(unchained))
            ORDER BY chain_seq, kafka_offset
            FORMAT RowBinaryWithNamesAndTypes
            """,
            parameters: parameters,
            settings: ["wait_end_of_query": "1"]
        )
        for try await row in response.body.rows() {
            rows.append(try Self.chainRow(row))
        }
        return rows
    }

    /// The chain-sequence span of `tenantID`'s rows whose event time is in `times` (nil: none).
    public func chainSequences(tenantID: String, times: ClosedRange<Int64>) async throws -> ClosedRange<UInt64>? {
        let line = try await lines(
            """
            SELECT min(chain_seq), max(chain_seq), count() FROM `\(tables.events)`
            WHERE tenant_id = {t:String} AND chain_seq > 0
              AND timestamp BETWEEN fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND fromUnixTimestamp64Milli({hi:Int64}, 'UTC')
            FORMAT TabSeparated
            """,
            ["t": .string(tenantID), "lo": .integer(times.lowerBound), "hi": .integer(times.upperBound)]
        ).first ?? ""
        let fields = line.split(separator: "\t").compactMap { UInt64($0) }
        guard fields.count == 3, fields[2] > 0 else { return nil }
        return fields[0]...fields[1]
    }

    /// The lowest and highest chain sequence numbers stored for `tenantID` (nil: none).
    public func chainSpan(tenantID: String) async throws -> ClosedRange<UInt64>? {
        let line = try await lines(
            "SELECT min(chain_seq), max(chain_seq), count() FROM `\(tables.events)` WHERE tenant_id = {t:String} AND chain_seq > 0 FORMAT TabSeparated",
            ["t": .string(tenantID)]
        ).first ?? ""
        let fields = line.split(separator: "\t").compactMap { UInt64($0) }
        guard fields.count == 3, fields[2] > 0 else { return nil }
        return fields[0]...fields[1]
    }

    private static func chainRow(_ row: ClickHouseRow) throws -> ChainRow {
        func string(_ name: String) throws -> String {
            guard case .bytes(let bytes)? = row[name] else { throw EventStoreError(message: "chain row: column \(name) is missing") }
            return String(decoding: bytes, as: UTF8.self)
        }
        func integer(_ name: String) throws -> Int64 {
            switch row[name] {
            case .int(let v)?: return v
            case .uint(let v)?: return Int64(bitPattern: v)
            case .time(let v)?: return v
            default: throw EventStoreError(message: "chain row: column \(name) is missing")
            }
        }
        var metadata: [String: String] = [:]
        if case .map(let entries)? = row["metadata"] {
            for entry in entries {
                if case .bytes(let key) = entry.key, case .bytes(let value) = entry.value {
                    metadata[String(decoding: key, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
                }
            }
        }
        guard case .uint(let sequence)? = row["chain_seq"], case .bytes(let hashBytes)? = row["chain_hash"] else {
            throw EventStoreError(message: "chain row: chain columns are missing (run the migrations)")
        }
        let event = ChainedEvent(
            tenantID: try string("tenant_id"), eventID: try string("event_id"), eventType: try string("event_type"),
            timestampMilliseconds: try integer("timestamp"), actorID: try string("actor_id"), resource: try string("resource"),
            action: try string("action"), metadata: metadata, schemaID: Int32(truncatingIfNeeded: try integer("schema_id")),
            kafkaPartition: Int32(truncatingIfNeeded: try integer("kafka_partition")), kafkaOffset: try integer("kafka_offset")
        )
        // A hash that is not 32 bytes cannot have come from the sink: compare as all zeros.
        let hash = ChainHash(bytes: hashBytes) ?? ChainHash(bytes: [UInt8](repeating: 0, count: 32))!
        return ChainRow(sequence: sequence, storedHash: hash, event: event)
    }

    // MARK: Checkpoints

    /// Stores signed checkpoints.
    public func insertCheckpoints(_ checkpoints: [SignedCheckpoint]) async throws {
        guard !checkpoints.isEmpty else { return }
        let columns = [
            ClickHouseColumn("tenant_id", .string), ClickHouseColumn("chain_seq", .uint64), ClickHouseColumn("head_hash", .fixedString(32)),
            ClickHouseColumn("signed_at", .dateTime64(precision: 3, timezone: "UTC")), ClickHouseColumn("key_id", .string),
            ClickHouseColumn("signature", .string),
        ]
        var writer = RowBinaryWriter(columns: columns)
        for signed in checkpoints {
            let c = signed.checkpoint
            try writer.append([.string(c.tenantID), .uint(c.sequence), .bytes(c.headHash.bytes), .time(c.signedAtMilliseconds), .string(c.keyID), .bytes(signed.signature)])
        }
        try await client.insert(table: tables.checkpoints, body: writer.buffer, settings: ["async_insert": "0"])
    }

    /// The stored checkpoints of `tenantID` with sequence numbers in `sequences`, by sequence.
    public func checkpoints(tenantID: String, sequences: ClosedRange<UInt64>) async throws -> [SignedCheckpoint] {
        let response = try await client.query(
            """
            SELECT tenant_id, chain_seq, head_hash, signed_at, key_id, signature FROM `\(tables.checkpoints)`
            WHERE tenant_id = {t:String} AND chain_seq BETWEEN toUInt64({lo:String}) AND toUInt64({hi:String})
            ORDER BY chain_seq, signed_at
            FORMAT RowBinaryWithNamesAndTypes
            """,
            parameters: ["t": .string(tenantID), "lo": .string(String(sequences.lowerBound)), "hi": .string(String(sequences.upperBound))],
            settings: ["wait_end_of_query": "1"]
        )
        var result: [SignedCheckpoint] = []
        for try await row in response.body.rows() {
            guard case .bytes(let tenant)? = row["tenant_id"], case .uint(let sequence)? = row["chain_seq"],
                case .bytes(let head)? = row["head_hash"], case .time(let signedAt)? = row["signed_at"],
                case .bytes(let keyID)? = row["key_id"], case .bytes(let signature)? = row["signature"]
            else { throw EventStoreError(message: "unexpected row in \(tables.checkpoints): \(row.values)") }
            let hash = ChainHash(bytes: head) ?? ChainHash(bytes: [UInt8](repeating: 0, count: 32))!
            result.append(
                SignedCheckpoint(
                    checkpoint: ChainCheckpoint(
                        tenantID: String(decoding: tenant, as: UTF8.self), sequence: sequence, headHash: hash,
                        signedAtMilliseconds: signedAt, keyID: String(decoding: keyID, as: UTF8.self)
                    ),
                    signature: signature
                )
            )
        }
        return result
    }
}
