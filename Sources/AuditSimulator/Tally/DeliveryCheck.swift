/// What the read side shows of one tenant's events of this run.
package enum StoredObservation: Sendable, Hashable {
    /// Only a count (aggregate mode).
    case count(Int)
    /// Each stored event id with how many rows carry it (row mode).
    case ids([String: Int])

    /// Rows stored.
    package var rows: Int {
        switch self {
        case .count(let count): count
        case .ids(let ids): ids.values.reduce(0, +)
        }
    }
}

/// Acknowledged against stored for one tenant.
package struct TenantDelivery: Sendable, Hashable {
    package var tenant: String
    /// Distinct event ids acknowledged as durable.
    package var acknowledged: Int
    /// Rows stored for this run.
    package var stored: Int
    /// Acknowledged but not stored (ids known only with a row-mode observation).
    package var missing: Int
    package var missingIDs: [String]
    /// Rows beyond the first of an event id (row mode), or rows beyond what was acknowledged and
    /// in doubt (count mode).
    package var duplicated: Int
    package var duplicatedIDs: [String]
    /// Stored although never acknowledged, among the events given up on (allowed: their answer
    /// was lost, not their write).
    package var inDoubtStored: Int
    /// Events given up on (acknowledged neither way).
    package var inDoubt: Int
    /// Stored ids that this run neither acknowledged nor gave up on (row mode).
    package var unexpected: Int
    /// True when the comparison was made id by id.
    package var exact: Bool

    /// Nothing acknowledged is missing and nothing is stored twice.
    package var isClean: Bool { missing == 0 && duplicated == 0 && unexpected == 0 }
}

/// The comparison of a run's acknowledgements with what AuditPipe stored.
package enum DeliveryCheck {
    /// Compares per tenant; tenants absent from `stored` count as storing nothing.
    package static func compare(_ tally: SimulationTally, stored: [String: StoredObservation]) -> [TenantDelivery] {
        tally.tenants.map { tenant in
            compare(
                tenant: tenant,
                acknowledged: tally.acknowledged[tenant] ?? [],
                inDoubt: tally.inDoubt[tenant] ?? [],
                inDoubtWithoutID: tally.inDoubtWithoutID[tenant] ?? 0,
                stored: stored[tenant] ?? .count(0)
            )
        }
    }

    /// Compares one tenant.
    package static func compare(tenant: String, acknowledged: Set<String>, inDoubt: Set<String>, inDoubtWithoutID: Int, stored: StoredObservation) -> TenantDelivery {
        let doubt = inDoubt.count + inDoubtWithoutID
        switch stored {
        case .count(let rows):
            return TenantDelivery(
                tenant: tenant, acknowledged: acknowledged.count, stored: rows,
                missing: max(0, acknowledged.count - rows), missingIDs: [],
                duplicated: max(0, rows - acknowledged.count - doubt), duplicatedIDs: [],
                inDoubtStored: min(doubt, max(0, rows - acknowledged.count)), inDoubt: doubt,
                unexpected: 0, exact: false
            )
        case .ids(let ids):
            let missing = acknowledged.filter { ids[$0] == nil }.sorted()
            let duplicated = ids.filter { $0.value > 1 }
            let storedIDs = Set(ids.keys)
            let doubtStored = storedIDs.intersection(inDoubt).count
            // Ids the server derives (content hashes) cannot be told apart when in doubt: allow as
            // many unknown stored ids as such events.
            let unknown = storedIDs.subtracting(acknowledged).subtracting(inDoubt).count
            let unexpected = max(0, unknown - inDoubtWithoutID)
            return TenantDelivery(
                tenant: tenant, acknowledged: acknowledged.count, stored: stored.rows,
                missing: missing.count, missingIDs: missing,
                duplicated: duplicated.values.reduce(0) { $0 + $1 - 1 }, duplicatedIDs: duplicated.keys.sorted(),
                inDoubtStored: doubtStored + min(unknown, inDoubtWithoutID), inDoubt: doubt,
                unexpected: unexpected, exact: true
            )
        }
    }
}

/// One line of a loss tally, the format `simulate` prints at the end and `chaos` prints per
/// scenario: acknowledged, stored, missing, duplicated, dead-lettered, quarantined.
package struct DeliveryTally: Sendable, Hashable {
    package var acknowledged: Int
    package var stored: Int
    package var missing: Int
    package var duplicated: Int
    /// Dead letters written during the run (from the server's metrics), when known.
    package var deadLettered: Int?
    package var quarantined: Int
    /// Events given up on (neither acknowledged nor refused): informational.
    package var inDoubt: Int

    package init(acknowledged: Int, stored: Int, missing: Int, duplicated: Int, deadLettered: Int?, quarantined: Int, inDoubt: Int) {
        self.acknowledged = acknowledged
        self.stored = stored
        self.missing = missing
        self.duplicated = duplicated
        self.deadLettered = deadLettered
        self.quarantined = quarantined
        self.inDoubt = inDoubt
    }

    /// Sums per-tenant comparisons.
    package init(_ tenants: [TenantDelivery], deadLettered: Int?, quarantined: Int) {
        self.init(
            acknowledged: tenants.reduce(0) { $0 + $1.acknowledged },
            stored: tenants.reduce(0) { $0 + $1.stored },
            missing: tenants.reduce(0) { $0 + $1.missing },
            duplicated: tenants.reduce(0) { $0 + $1.duplicated + $1.unexpected },
            deadLettered: deadLettered,
            quarantined: quarantined,
            inDoubt: tenants.reduce(0) { $0 + $1.inDoubt }
        )
    }

    /// Zero missing and zero duplicated.
    package var passed: Bool { missing == 0 && duplicated == 0 }

    /// `acknowledged 11904  stored 11904  missing 0  duplicated 0  dead-lettered 0  quarantined 212  PASS`
    package func line(label: String? = nil) -> String {
        var parts: [String] = []
        if let label { parts.append(label + ":") }
        parts.append("acknowledged \(acknowledged)")
        parts.append("stored \(stored)")
        parts.append("missing \(missing)")
        parts.append("duplicated \(duplicated)")
        parts.append("dead-lettered \(deadLettered.map(String.init) ?? "?")")
        parts.append("quarantined \(quarantined)")
        if inDoubt > 0 { parts.append("in doubt \(inDoubt)") }
        parts.append(passed ? "PASS" : "FAIL")
        return parts.joined(separator: "  ")
    }
}
