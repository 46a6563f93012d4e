import AuditEvents

/// The simulator's seeded generator (``SplitMix64``): the same seed gives the same run plan,
/// payload shapes and bad-event choices on every machine.
package struct SeededRandom: RandomNumberGenerator, Sendable {
    private var core: SplitMix64

    package init(seed: UInt64) {
        core = SplitMix64(seed: seed)
    }

    package mutating func next() -> UInt64 {
        core.next()
    }

    /// An independent stream for one part of the run (one service), so that adding events to one
    /// service does not change what another generates.
    package func derived(_ label: String) -> SeededRandom {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 // FNV-1a
        for byte in label.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        var copy = SeededRandom(seed: core.state ^ hash)
        _ = copy.next()
        return copy
    }

    /// True with probability `p`.
    package mutating func chance(_ p: Double) -> Bool {
        guard p > 0 else { return false }
        guard p < 1 else { return true }
        return Double.random(in: 0..<1, using: &self) < p
    }

    /// One element chosen by weight.
    package mutating func weighted<T>(_ choices: [(T, Int)]) -> T {
        let total = choices.reduce(0) { $0 + $1.1 }
        precondition(total > 0, "weighted choice needs a positive total weight")
        var pick = Int.random(in: 0..<total, using: &self)
        for (value, weight) in choices {
            if pick < weight { return value }
            pick -= weight
        }
        return choices[choices.count - 1].0
    }
}
