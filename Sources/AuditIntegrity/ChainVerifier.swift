/// One stored row as the verifier reads it: the event, and the chain columns stored with it.
public struct ChainRow: Sendable, Hashable {
    /// `chain_seq` (0 means the row was stored without a chain position).
    public var sequence: UInt64
    /// `chain_hash` as stored.
    public var storedHash: ChainHash
    /// The chained columns.
    public var event: ChainedEvent

    /// Creates a row.
    public init(sequence: UInt64, storedHash: ChainHash, event: ChainedEvent) {
        self.sequence = sequence
        self.storedHash = storedHash
        self.event = event
    }
}

/// The first problem found in a tenant's chain.
public enum ChainProblem: Sendable, Hashable, CustomStringConvertible {
    /// The row at `sequence` does not hash to its stored value while its neighbours still chain:
    /// its content (`contentChanged` true: the next row chains from the stored hash) or its
    /// stored hash (false) was changed.
    case modifiedRow(sequence: UInt64, eventID: String, contentChanged: Bool)
    /// Rows `from...to` are absent (a gap in the sequence, or rows missing before a checkpoint).
    case missingRows(from: UInt64, to: UInt64)
    /// The row at `sequence` is not on the chain: a second row with the same sequence number, a
    /// row without a chain position, or a row the chain continues past.
    case insertedRow(sequence: UInt64, eventID: String, reason: InsertedReason)
    /// The rows at `sequence` and `otherSequence` are out of order: the row stored at
    /// `otherSequence` is the one that chains at `sequence` (a swapped pair, or a moved row).
    /// `eventID` is the row stored at `sequence`.
    case reorderedRows(sequence: UInt64, otherSequence: UInt64, eventID: String)
    /// A checkpoint whose signature does not verify (forged, altered, or by an unknown key).
    case badCheckpointSignature(sequence: UInt64, keyID: String, reason: String)
    /// A checkpoint with a valid signature that disagrees with the chain recomputed from the rows
    /// (the rows were rewritten consistently, hashes included).
    case checkpointMismatch(sequence: UInt64, signedHash: ChainHash, recomputedHash: ChainHash)

    /// Why a row counts as inserted.
    public enum InsertedReason: String, Sendable, Hashable {
        /// Another row has the same sequence number and is the one that chains.
        case duplicateSequence = "duplicate sequence number"
        /// `chain_seq` is 0: the row was not written by the sink's chain.
        case unchained = "row without a chain position"
        /// The rows around it chain to each other without it.
        case notOnChain = "row not on the chain"
    }

    /// A short stable name of the kind of problem (for the CLI, the RPC and metrics).
    public var kind: String {
        switch self {
        case .modifiedRow: "modified_row"
        case .missingRows: "missing_rows"
        case .insertedRow: "inserted_row"
        case .reorderedRows: "reordered_rows"
        case .badCheckpointSignature: "bad_checkpoint_signature"
        case .checkpointMismatch: "checkpoint_mismatch"
        }
    }

    /// The sequence number the problem is at.
    public var sequence: UInt64 {
        switch self {
        case .modifiedRow(let s, _, _), .insertedRow(let s, _, _), .reorderedRows(let s, _, _),
            .badCheckpointSignature(let s, _, _), .checkpointMismatch(let s, _, _):
            s
        case .missingRows(let from, _): from
        }
    }

    /// A sentence for a human.
    public var description: String {
        switch self {
        case .modifiedRow(let s, let id, let content):
            content
                ? "modified row: the content of the row at sequence \(s) (event_id \(id)) was changed after it was written"
                : "modified row: the stored chain hash of the row at sequence \(s) (event_id \(id)) was changed"
        case .missingRows(let from, let to):
            from == to ? "missing row: the row at sequence \(from) is gone" : "missing rows: the rows at sequences \(from)...\(to) are gone"
        case .insertedRow(let s, let id, let reason):
            "inserted row: the row at sequence \(s) (event_id \(id)) was not written by the sink (\(reason.rawValue))"
        case .reorderedRows(let s, let other, let id):
            "reordered rows: the rows at sequences \(s) (event_id \(id)) and \(other) are out of order; the row at \(other) belongs at \(s)"
        case .badCheckpointSignature(let s, let key, let reason):
            "bad checkpoint signature: the checkpoint at sequence \(s) (key \(key)) does not verify: \(reason)"
        case .checkpointMismatch(let s, let signed, let recomputed):
            "checkpoint mismatch: the signed head at sequence \(s) is \(signed.hex) but the stored rows give \(recomputed.hex)"
        }
    }
}

/// The outcome of verifying a range of a tenant's chain.
public struct ChainVerificationReport: Sendable, Hashable {
    /// The tenant.
    public var tenantID: String
    /// Where the walk started: the sequence of the trusted checkpoint, or 0 (genesis).
    public var startSequence: UInt64
    /// The last sequence number verified (equal to ``startSequence`` when no row was).
    public var lastVerifiedSequence: UInt64
    /// The chain hash at ``lastVerifiedSequence``.
    public var lastVerifiedHash: ChainHash
    /// Rows that chained correctly.
    public var verifiedRows: Int
    /// Signed checkpoints that verified and matched the recomputed chain (the start included).
    public var verifiedCheckpoints: Int
    /// The first problem, or nil when everything verified.
    public var problem: ChainProblem?

    /// Whether the range verified.
    public var isIntact: Bool { problem == nil }
}

/// Walks a tenant's stored rows in sequence order, recomputing the chain from a trusted start
/// (genesis or a signed checkpoint), checking it against the signed checkpoints, and naming the
/// first problem precisely (see ``ChainProblem``).
public struct ChainVerifier: Sendable {
    /// The tenant whose chain is verified.
    public let tenantID: String
    /// The keys checkpoints must be signed by.
    public let trustedKeys: TrustedKeys
    /// How many rows ahead a misplaced row is looked for when a link breaks. Default 64.
    public var reorderLookahead: Int = 64

    /// A verifier of `tenantID`'s chain trusting `trustedKeys`.
    public init(tenantID: String, trustedKeys: TrustedKeys) {
        self.tenantID = tenantID
        self.trustedKeys = trustedKeys
    }

    /// Verifies `rows` (any order; sorted here by sequence) starting after `start`.
    ///
    /// - Parameters:
    ///   - rows: the stored rows of the tenant with `chain_seq` greater than the start's sequence
    ///     (the row at the start's sequence may be included: its stored hash is then compared with
    ///     the start checkpoint), plus any rows with `chain_seq` 0 in the range.
    ///   - start: a signed checkpoint to start from (verified first), or nil for genesis.
    ///   - checkpoints: the signed checkpoints of the tenant in the range; each is verified and
    ///     compared where the walk reaches its sequence. A valid checkpoint beyond the last row
    ///     means rows are missing.
    public func verify(rows: [ChainRow], start: SignedCheckpoint?, checkpoints: [SignedCheckpoint]) -> ChainVerificationReport {
        let startSequence = start?.checkpoint.sequence ?? 0
        var head = ChainHead.genesis(tenantID: tenantID)
        var verifiedRows = 0
        var verifiedCheckpoints = 0
        func failed(_ problem: ChainProblem) -> ChainVerificationReport {
            ChainVerificationReport(
                tenantID: tenantID, startSequence: startSequence, lastVerifiedSequence: head.sequence, lastVerifiedHash: head.hash,
                verifiedRows: verifiedRows, verifiedCheckpoints: verifiedCheckpoints, problem: problem
            )
        }
        if let start {
            if let reason = rejection(of: start) {
                return failed(.badCheckpointSignature(sequence: start.checkpoint.sequence, keyID: start.checkpoint.keyID, reason: reason))
            }
            head = ChainHead(tenantID: tenantID, sequence: start.checkpoint.sequence, hash: start.checkpoint.headHash)
            verifiedCheckpoints += 1
        }

        if let unchained = rows.first(where: { $0.sequence == 0 }) {
            return failed(.insertedRow(sequence: 0, eventID: unchained.event.eventID, reason: .unchained))
        }
        var sorted = rows.filter { $0.sequence >= startSequence }.sorted { $0.sequence < $1.sequence }
        // The row at the start's own sequence: its stored hash must be the signed one.
        if start != nil {
            let atStart = sorted.prefix { $0.sequence == startSequence }
            sorted.removeFirst(atStart.count)
            if let mismatch = atStart.first(where: { $0.storedHash != head.hash }), atStart.count == 1 {
                return failed(.checkpointMismatch(sequence: startSequence, signedHash: head.hash, recomputedHash: mismatch.storedHash))
            }
        }
        var pending = checkpoints.filter { $0.checkpoint.sequence > startSequence }.sorted { $0.checkpoint.sequence < $1.checkpoint.sequence }[...]
        var previousHash: ChainHash? = nil  // the hash before the current head, for "the previous row was inserted"

        var index = 0
        while index < sorted.count {
            let expected = head.sequence + 1
            // Checkpoints below the next row's position were passed: check them.
            while let checkpoint = pending.first, checkpoint.checkpoint.sequence <= head.sequence {
                pending.removeFirst()
                if let problem = check(checkpoint, against: head) { return failed(problem) }
                verifiedCheckpoints += 1
            }
            let row = sorted[index]
            if row.sequence > expected {
                return failed(.missingRows(from: expected, to: row.sequence - 1))
            }
            // All rows claiming this position.
            var end = index + 1
            while end < sorted.count, sorted[end].sequence == row.sequence { end += 1 }
            let candidates = sorted[index..<end]
            let computed = candidates.map { ChainHash.link(previous: head.hash, event: $0.event) }
            if candidates.count > 1 {
                let chaining = candidates.indices.filter { computed[$0 - index] == sorted[$0].storedHash }
                let forged = candidates.indices.first { !chaining.contains($0) } ?? candidates.indices.last!
                return failed(.insertedRow(sequence: row.sequence, eventID: sorted[forged].event.eventID, reason: .duplicateSequence))
            }
            let hash = computed[0]
            if hash != row.storedHash {
                return failed(diagnoseBrokenLink(at: index, in: sorted, head: head, previousHash: previousHash, computed: hash))
            }
            previousHash = head.hash
            _ = head.append(row.event)
            verifiedRows += 1
            index = end
        }
        // Checkpoints at or after the last row.
        while let checkpoint = pending.first {
            pending.removeFirst()
            if checkpoint.checkpoint.sequence <= head.sequence {
                if let problem = check(checkpoint, against: head) { return failed(problem) }
                verifiedCheckpoints += 1
            } else {
                if let reason = rejection(of: checkpoint) {
                    return failed(.badCheckpointSignature(sequence: checkpoint.checkpoint.sequence, keyID: checkpoint.checkpoint.keyID, reason: reason))
                }
                return failed(.missingRows(from: head.sequence + 1, to: checkpoint.checkpoint.sequence))
            }
        }
        return ChainVerificationReport(
            tenantID: tenantID, startSequence: startSequence, lastVerifiedSequence: head.sequence, lastVerifiedHash: head.hash,
            verifiedRows: verifiedRows, verifiedCheckpoints: verifiedCheckpoints, problem: nil
        )
    }

    private func rejection(of checkpoint: SignedCheckpoint) -> String? {
        if checkpoint.checkpoint.tenantID != tenantID {
            return "it names tenant \(checkpoint.checkpoint.tenantID), not \(tenantID)"
        }
        return trustedKeys.rejection(of: checkpoint)
    }

    /// Verifies `checkpoint` and compares it with the head, which is at the checkpoint's sequence.
    private func check(_ checkpoint: SignedCheckpoint, against head: ChainHead) -> ChainProblem? {
        let c = checkpoint.checkpoint
        if let reason = rejection(of: checkpoint) {
            return .badCheckpointSignature(sequence: c.sequence, keyID: c.keyID, reason: reason)
        }
        if c.sequence == head.sequence, c.headHash != head.hash {
            return .checkpointMismatch(sequence: c.sequence, signedHash: c.headHash, recomputedHash: head.hash)
        }
        return nil
    }

    /// The row at `index` does not chain from `head`: find out why.
    private func diagnoseBrokenLink(at index: Int, in rows: [ChainRow], head: ChainHead, previousHash: ChainHash?, computed: ChainHash) -> ChainProblem {
        let row = rows[index]
        // The previous row was not on the chain: this row chains from the one before it.
        if let previousHash, ChainHash.link(previous: previousHash, event: row.event) == row.storedHash {
            let previous = rows[index - 1]
            return .insertedRow(sequence: previous.sequence, eventID: previous.event.eventID, reason: .notOnChain)
        }
        // A later row chains here: rows were swapped/moved, or this row was inserted.
        let limit = min(rows.count, index + 1 + reorderLookahead)
        for later in (index + 1)..<max(index + 1, limit) {
            let candidate = rows[later]
            let here = ChainHash.link(previous: head.hash, event: candidate.event)
            guard here == candidate.storedHash || here == row.storedHash else { continue }
            // Does the current row chain right after it (a swapped pair) or further on?
            let next = ChainHash.link(previous: here, event: row.event)
            if next == row.storedHash || next == candidate.storedHash || later > index + 1 {
                return .reorderedRows(sequence: row.sequence, otherSequence: candidate.sequence, eventID: row.event.eventID)
            }
            return .insertedRow(sequence: row.sequence, eventID: row.event.eventID, reason: .notOnChain)
        }
        // Modified: the content (the next row still chains from the stored hash) or the stored hash.
        if index + 1 < rows.count {
            let next = rows[index + 1]
            if ChainHash.link(previous: row.storedHash, event: next.event) == next.storedHash {
                return .modifiedRow(sequence: row.sequence, eventID: row.event.eventID, contentChanged: true)
            }
            if ChainHash.link(previous: computed, event: next.event) == next.storedHash {
                return .modifiedRow(sequence: row.sequence, eventID: row.event.eventID, contentChanged: false)
            }
        }
        return .modifiedRow(sequence: row.sequence, eventID: row.event.eventID, contentChanged: true)
    }
}
