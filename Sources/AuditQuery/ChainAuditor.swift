import AuditEvents
public import AuditIntegrity
public import AuditStore

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
