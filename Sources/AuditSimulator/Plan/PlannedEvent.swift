package import AuditEvents

/// What the simulator expects AuditPipe to do with an event it sends.
package enum ExpectedOutcome: Sendable, Hashable {
    /// Stored: acknowledged as durable and then visible in reports.
    case accept
    /// Refused over gRPC (status INVALID) with at least this rule among the violations.
    case refuse(rule: String)
    /// Quarantined by the legacy intake with at least this rule among the reasons.
    case quarantine(rule: String)

    /// The rule a refusal or quarantine should name; nil for `.accept`.
    package var rule: String? {
        switch self {
        case .accept: nil
        case .refuse(let rule), .quarantine(let rule): rule
        }
    }
}

/// The stable identity of one simulated event: which service made it, and its number there.
package struct EventKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    package var service: String
    package var sequence: Int

    package init(service: String, sequence: Int) {
        self.service = service
        self.sequence = sequence
    }

    package var description: String { "\(service)#\(sequence)" }

    package static func < (a: EventKey, b: EventKey) -> Bool {
        (a.service, a.sequence) < (b.service, b.sequence)
    }
}

/// What the tally needs to know about a sent event, whatever its transport.
package struct EventDescriptor: Sendable, Hashable {
    package var key: EventKey
    /// The tenant AuditPipe will file it under, when known (nil for a record whose tenant is
    /// missing on purpose).
    package var tenant: String?
    package var actor: String?
    package var eventType: String?
    /// The event id AuditPipe will store it under, when the simulator can know it in advance
    /// (nil for ids the server derives, such as a content hash).
    package var expectedEventID: String?
    package var expectation: ExpectedOutcome
    /// The event's timestamp as sent, in milliseconds (for the report's time range).
    package var timestampMilliseconds: Int64

    package init(key: EventKey, tenant: String?, actor: String?, eventType: String?, expectedEventID: String?, expectation: ExpectedOutcome, timestampMilliseconds: Int64) {
        self.key = key
        self.tenant = tenant
        self.actor = actor
        self.eventType = eventType
        self.expectedEventID = expectedEventID
        self.expectation = expectation
        self.timestampMilliseconds = timestampMilliseconds
    }
}

/// An event for `Ingest` / `IngestBatch`.
package struct PlannedEvent: Sendable, Hashable {
    package var event: AuditEvent
    package var descriptor: EventDescriptor
}

/// One record of a legacy source: its own JSON bytes (an array element or NDJSON line, or the
/// whole body for single-object sources).
package struct PlannedLegacyRecord: Sendable, Hashable {
    package var source: LegacySource
    package var bytes: [UInt8]
    package var descriptor: EventDescriptor
}

/// Names that make this run's events and actors unique, so that reruns (same seed or not) never
/// collide with earlier events in AuditPipe's deduplication window, and so that the run's events
/// can be counted apart from everything else the server holds.
package struct RunIdentity: Sendable, Hashable {
    /// Lowercase letters and digits, 4 to 16 characters.
    package var runID: String

    package init(runID: String) {
        self.runID = runID
    }

    /// A fresh random identity (6 hex digits).
    package static func random<G: RandomNumberGenerator>(using generator: inout G) -> RunIdentity {
        let value = UInt32.random(in: 0x10_0000...0xFF_FFFF, using: &generator)
        return RunIdentity(runID: String(value, radix: 16))
    }

    /// True when `runID` is usable: 4 to 16 lowercase letters or digits.
    package static func isValid(_ runID: String) -> Bool {
        (4...16).contains(runID.count) && runID.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    /// `sim-<run>-<service>-<n>`: the gRPC event id.
    package func eventID(service: String, sequence: Int) -> String {
        "sim-\(runID)-\(service)-\(sequence)"
    }

    /// `<name>.<run>`: an actor id of this run.
    package func actor(_ name: String) -> String {
        "\(name).\(runID)"
    }

    /// True for actor ids of this run.
    package func owns(actor: String) -> Bool {
        actor.hasSuffix(".\(runID)")
    }

    /// A numeric id for sources whose ids are numbers: unique per run and sequence, below 2^53 so
    /// that every JSON reader keeps it exact.
    package func numericID(sequence: Int) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in runID.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        let runNumber = 1 + hash % 8_000_000
        return runNumber * 1_000_000_000 + UInt64(sequence % 1_000_000_000)
    }
}

/// The tenants of a run.
package enum TenantNames {
    private static let known = ["acme", "globex", "initech", "umbrella", "hooli", "soylent", "stark", "wayne", "wonka", "tyrell"]

    /// `count` tenant names: well-known demo names first, then `tenant-11`, `tenant-12`, ...
    package static func first(_ count: Int) -> [String] {
        (0..<max(1, count)).map { $0 < known.count ? known[$0] : "tenant-\($0 + 1)" }
    }
}
