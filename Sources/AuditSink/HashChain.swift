import AuditConsumer
import AuditEvents
public import AuditIntegrity
import ClickHouseHTTP
import Foundation
import Synchronization

/// The chain position of one stored row.
struct ChainLink: Sendable, Hashable {
    var sequence: UInt64
    var hash: ChainHash
}

/// Puts the rows of a batch on their tenants' chains, without I/O.
///
/// Deterministic: the same rows from the same heads give the same links, so a replayed batch
/// recomputes identical hashes (and ClickHouse drops the identical insert by its token).
enum ChainPlanner {
    /// The links of `rows` (in order) and the heads after them, starting from `heads` (every
    /// tenant of `rows` must have one).
    static func link(_ rows: [DecodedEvent], from heads: [String: ChainHead]) -> (links: [ChainLink], heads: [String: ChainHead]) {
        var heads = heads
        var links: [ChainLink] = []
        links.reserveCapacity(rows.count)
        var encoder = CanonicalEncoder()
        for row in rows {
            // One look-up per row; the head is advanced in place.
            let tenant = row.tenantID
            let index: Dictionary<String, ChainHead>.Index
            if let found = heads.index(forKey: tenant) {
                index = found
            } else {
                heads[tenant] = .genesis(tenantID: tenant)
                index = heads.index(forKey: tenant)!
            }
            encoder.bytes.removeAll(keepingCapacity: true)
            EventCells.appendCanonical(row, to: &encoder)
            let (sequence, hash) = heads.values[index].append(canonicalBytes: encoder.bytes)
            links.append(ChainLink(sequence: sequence, hash: hash))
        }
        return (links, heads)
    }
}

/// The chain heads that ClickHouse has acknowledged, per tenant, shared by a sink's partition
/// writers and read by the ``ChainCheckpointService`` (which signs only these).
public final class ChainHeadRegistry: Sendable {
    /// One tenant's acknowledged head and what was signed of it.
    public struct Entry: Sendable, Hashable {
        /// The acknowledged head.
        public var head: ChainHead
        /// The sequence number of the last signed checkpoint (0: none yet).
        public var checkpointedSequence: UInt64
        /// When that checkpoint was signed (nil: never, by this process).
        public var checkpointedAt: ContinuousClock.Instant?
    }

    private let state = Mutex<[String: Entry]>([:])

    /// An empty registry.
    public init() {}

    /// Records heads that ClickHouse acknowledged. A head never moves backwards.
    func acknowledged(_ heads: some Sequence<ChainHead>) {
        state.withLock { state in
            for head in heads {
                if let entry = state[head.tenantID], entry.head.sequence >= head.sequence { continue }
                state[head.tenantID, default: Entry(head: head, checkpointedSequence: 0, checkpointedAt: nil)].head = head
            }
        }
    }

    /// The acknowledged heads by tenant.
    public var entries: [String: Entry] { state.withLock { $0 } }

    /// Records that `tenantID`'s chain was signed at `sequence`.
    func checkpointed(tenantID: String, sequence: UInt64, at instant: ContinuousClock.Instant) {
        state.withLock { state in
            guard var entry = state[tenantID] else { return }
            entry.checkpointedSequence = max(entry.checkpointedSequence, sequence)
            entry.checkpointedAt = instant
            state[tenantID] = entry
        }
    }

    /// The heads that are due for a checkpoint at `now`: advanced since the last one, and either
    /// `events` events past it or `interval` since it (or never signed).
    func due(now: ContinuousClock.Instant, interval: Duration, events: UInt64) -> [ChainHead] {
        state.withLock { state in
            state.values.filter { entry in
                guard entry.head.sequence > entry.checkpointedSequence else { return false }
                if entry.head.sequence - entry.checkpointedSequence >= events { return true }
                guard let at = entry.checkpointedAt else { return true }
                return now - at >= interval
            }.map(\.head)
        }
    }
}

// MARK: Chain storage

extension ClickHouseEventStore {
    /// The chain head each of `tenants` has in `partition`, leaving out the rows of the insert
    /// `token`: the chain columns of the tenant's row with the greatest `chain_seq`; genesis for a
    /// tenant without one.
    ///
    /// The rows of `token` are left out on purpose: they can only be an earlier attempt of the
    /// batch being written, which is rebuilt identically. The head is found by sequence, not by
    /// Kafka offset, so that a topic deleted and created again (offsets from 0 again) continues its
    /// tenants' chains instead of starting them over.
    func chainHeads(tenants: Set<String>, partition: Int32, excludingToken token: String) async throws -> [String: ChainHead] {
        var heads: [String: ChainHead] = [:]
        for tenant in tenants { heads[tenant] = .genesis(tenantID: tenant) }
        guard !tenants.isEmpty else { return heads }
        let response = try await client.query(
            """
            SELECT tenant_id, max(chain_seq) AS seq, argMax(chain_hash, chain_seq) AS hash
            FROM `\(tables.events)`
            WHERE tenant_id IN {tenants:Array(String)} AND kafka_partition = {p:Int32} AND insert_token != {token:String} AND chain_seq > 0
            GROUP BY tenant_id
            FORMAT RowBinaryWithNamesAndTypes
            """,
            parameters: ["tenants": .strings(Array(tenants)), "p": .integer(partition), "token": .string(token)],
            settings: ["wait_end_of_query": "1"]
        )
        for try await row in response.body.rows() {
            guard let tenant = row["tenant_id"]?.stringValue, case .uint(let sequence)? = row["seq"],
                case .bytes(let bytes)? = row["hash"], let hash = ChainHash(bytes: bytes)
            else {
                throw AuditSinkError(message: "unexpected chain head row in \(tables.events): \(row.values)", isRetriable: false)
            }
            heads[tenant] = ChainHead(tenantID: tenant, sequence: sequence, hash: hash)
        }
        return heads
    }

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
            guard case .bytes(let bytes)? = row[name] else { throw AuditSinkError(message: "chain row: column \(name) is missing", isRetriable: false) }
            return String(decoding: bytes, as: UTF8.self)
        }
        func integer(_ name: String) throws -> Int64 {
            switch row[name] {
            case .int(let v)?: return v
            case .uint(let v)?: return Int64(bitPattern: v)
            case .time(let v)?: return v
            default: throw AuditSinkError(message: "chain row: column \(name) is missing", isRetriable: false)
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
            throw AuditSinkError(message: "chain row: chain columns are missing (run the migrations)", isRetriable: false)
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
            else { throw AuditSinkError(message: "unexpected row in \(tables.checkpoints): \(row.values)", isRetriable: false) }
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

// MARK: Verification

/// Which part of a tenant's chain to verify.
public enum ChainRange: Sendable, Hashable {
    /// The whole chain (from the latest checkpoint the retention left, or genesis).
    case all
    /// Sequence numbers (inclusive).
    case sequences(ClosedRange<UInt64>)
    /// The rows whose event time (milliseconds since the epoch) is in the range.
    case times(ClosedRange<Int64>)
}

/// Verifies stored chains against their signed checkpoints (what `auditpipe verify` and the
/// `Verify` RPC run).
public struct ChainAuditor: Sendable {
    /// Where the rows and checkpoints are.
    public let store: ClickHouseEventStore
    /// The keys checkpoints must be signed by.
    public let trustedKeys: TrustedKeys

    /// Creates an auditor.
    public init(store: ClickHouseEventStore, trustedKeys: TrustedKeys) {
        self.store = store
        self.trustedKeys = trustedKeys
    }

    /// Recomputes `tenantID`'s chain over `range` from the latest checkpoint before its start
    /// (genesis when there is none, e.g. a young chain) and checks every signed checkpoint up to
    /// its end. Reports the first problem.
    ///
    /// - Parameter witnessCheckpoints: checkpoints kept outside ClickHouse (exported files, the
    ///   checkpoint topic), checked along with the stored ones, so deleting or rewriting the
    ///   stored checkpoints together with the rows does not go unnoticed.
    public func verify(tenantID: String, range: ChainRange, witnessCheckpoints: [SignedCheckpoint] = []) async throws -> ChainVerificationReport {
        let witnesses = witnessCheckpoints.filter { $0.checkpoint.tenantID == tenantID }
        let wanted: ClosedRange<UInt64>
        var unchainedTimes: ClosedRange<Int64>? = StorableEvent.timestampRange
        switch range {
        case .all:
            // From the first stored row: retention may have dropped the oldest ones.
            wanted = try await store.chainSpan(tenantID: tenantID) ?? 1...1
        case .sequences(let sequences):
            wanted = sequences
            unchainedTimes = nil
        case .times(let times):
            unchainedTimes = times
            guard let span = try await store.chainSequences(tenantID: tenantID, times: times) else {
                let unchained = try await store.chainRows(tenantID: tenantID, sequences: 1...1, unchainedTimes: times).filter { $0.sequence == 0 }
                return ChainVerifier(tenantID: tenantID, trustedKeys: trustedKeys).verify(rows: unchained, start: nil, checkpoints: [])
            }
            wanted = span
        }
        // Start from the latest stored checkpoint before the range's first row (genesis if none).
        var start: SignedCheckpoint? = nil
        if wanted.lowerBound > 1 {
            let earlier = try await store.checkpoints(tenantID: tenantID, sequences: 1...(wanted.lowerBound - 1))
                + witnesses.filter { $0.checkpoint.sequence < wanted.lowerBound }
            start = earlier.max { $0.checkpoint.sequence < $1.checkpoint.sequence }
        }
        let from = start?.checkpoint.sequence ?? 0
        let upper = max(wanted.upperBound, from)
        let rows = try await store.chainRows(tenantID: tenantID, sequences: max(from, 1)...max(upper, 1), unchainedTimes: unchainedTimes)
        // Checkpoints up to the end of the range; for the whole chain, also those past the last
        // row (they prove rows are missing at the end).
        let checkpointEnd: UInt64 = range == .all ? UInt64(Int64.max) : upper
        var checkpoints: [SignedCheckpoint] = []
        if from < checkpointEnd {
            checkpoints = try await store.checkpoints(tenantID: tenantID, sequences: (from + 1)...checkpointEnd)
        }
        let stored = Set(checkpoints)
        checkpoints += witnesses.filter { $0.checkpoint.sequence > from && $0.checkpoint.sequence <= checkpointEnd && !stored.contains($0) }
        return ChainVerifier(tenantID: tenantID, trustedKeys: trustedKeys).verify(rows: rows, start: start, checkpoints: checkpoints)
    }
}
