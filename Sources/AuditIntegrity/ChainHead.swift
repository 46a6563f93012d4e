/// The head of one tenant's chain: the last event's sequence number and hash (sequence 0 and the
/// genesis hash before the first event). Appending an event advances it.
public struct ChainHead: Sendable, Hashable {
    /// The tenant.
    public let tenantID: String
    /// The sequence number of the last event on the chain (0: none yet).
    public private(set) var sequence: UInt64
    /// That event's chain hash (``ChainHash/genesis(tenantID:)`` when ``sequence`` is 0).
    public private(set) var hash: ChainHash

    /// The head of an empty chain.
    public static func genesis(tenantID: String) -> ChainHead {
        ChainHead(tenantID: tenantID, sequence: 0, hash: .genesis(tenantID: tenantID))
    }

    /// A head known from storage or from a trusted checkpoint.
    public init(tenantID: String, sequence: UInt64, hash: ChainHash) {
        self.tenantID = tenantID
        self.sequence = sequence
        self.hash = hash
    }

    /// Puts `event` on the chain and returns its sequence number and hash.
    ///
    /// - Precondition: `event.tenantID == tenantID`.
    public mutating func append(_ event: ChainedEvent) -> (sequence: UInt64, hash: ChainHash) {
        precondition(event.tenantID == tenantID, "an event of tenant \(event.tenantID) cannot go on the chain of \(tenantID)")
        sequence += 1
        hash = ChainHash.link(previous: hash, event: event)
        return (sequence, hash)
    }

    /// Puts an event of this tenant on the chain by its ``ChainedEvent/canonicalBytes``, written
    /// by a caller that encodes them without a `ChainedEvent` (the sink, from its row bytes).
    package mutating func append(canonicalBytes: [UInt8]) -> (sequence: UInt64, hash: ChainHash) {
        sequence += 1
        hash = ChainHash.link(previous: hash, canonical: canonicalBytes)
        return (sequence, hash)
    }
}
