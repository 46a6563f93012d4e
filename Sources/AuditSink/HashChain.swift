import AuditStore
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
}
