/// How a legacy source packs its records into one HTTP body.
package enum LegacyPayloadShape: Sendable, Hashable {
    /// One JSON object per request.
    case object
    /// A JSON array of objects.
    case array
    /// One object per line, `\n` or `\r\n` line ends.
    case ndjson(crlf: Bool)

    /// The shape each source sends (as seen in the corpus, Tests/LegacyMappingTests/Corpus).
    package static func of(_ source: LegacySource) -> LegacyPayloadShape {
        switch source {
        case .authGateway, .adminConsole, .doorAccess: .ndjson(crlf: false)
        case .hrPortal: .ndjson(crlf: true)
        case .billingSvc, .crmLegacy: .array
        case .fileStore, .paymentsAPI: .object
        }
    }

    /// The rules of records that are not JSON at all (broken on purpose).
    static let unparseableRules: Set<String> = ["syntax", "max_depth", "utf8"]

    /// Groups `records` (in order) into request bodies so the intake reads each record as its own
    /// event: objects go one per request; an NDJSON body never starts with an unparseable line
    /// (the intake would take the whole body for one broken object), so a parseable record is
    /// moved to the front, and unparseable records with no parseable one go alone.
    package func requests(_ records: [PlannedLegacyRecord]) -> [[PlannedLegacyRecord]] {
        guard !records.isEmpty else { return [] }
        switch self {
        case .object:
            return records.map { [$0] }
        case .array:
            return [records]
        case .ndjson:
            let unparseable = { (record: PlannedLegacyRecord) in
                record.descriptor.expectation.rule.map { Self.unparseableRules.contains($0) } ?? false
            }
            guard records.count > 1, unparseable(records[0]) else { return [records] }
            guard let good = records.firstIndex(where: { !unparseable($0) }) else { return records.map { [$0] } }
            var arranged = records
            arranged.swapAt(0, good)
            return [arranged]
        }
    }

    /// One body holding `records` in this shape (`.object` takes exactly one record).
    package func body(_ records: [[UInt8]]) -> [UInt8] {
        switch self {
        case .object:
            precondition(records.count == 1, "an object payload holds exactly one record")
            return records[0]
        case .array:
            var out: [UInt8] = Array("[".utf8)
            for (index, record) in records.enumerated() {
                if index > 0 { out += Array(",\n ".utf8) }
                out += record
            }
            return out + Array("]".utf8)
        case .ndjson(let crlf):
            let end: [UInt8] = crlf ? [0x0D, 0x0A] : [0x0A]
            return records.reduce(into: []) { $0 += $1 + end }
        }
    }
}

/// Records of one legacy source in that source's own JSON shape, the shape its mapping rules in
/// `Deploy/legacy-rules.yaml` expect; a fraction of them broken the way that producer breaks
/// them (unknown values, missing fields, wrong types, bad dates, broken JSON lines).
package struct LegacyRecordGenerator: Sendable {
    package let source: LegacySource
    package let run: RunIdentity
    package let tenants: [String]
    package let badFraction: Double
    private var random: SeededRandom

    package init(source: LegacySource, run: RunIdentity, tenants: [String], badFraction: Double, random: SeededRandom) {
        precondition(!tenants.isEmpty, "a run needs at least one tenant")
        self.source = source
        self.run = run
        self.tenants = tenants
        self.badFraction = badFraction
        self.random = random
    }

    /// The tenant a source files every event under, when its rule sets a constant.
    package static func constantTenant(of source: LegacySource) -> String? {
        switch source {
        case .fileStore: "initech"
        case .doorAccess: "acme"
        default: nil
        }
    }

    /// How many kinds of broken record `next(sequence:nowMilliseconds:broken:)` makes for `source`.
    package static let brokenVariants = 2

    /// Record number `sequence` of this source, stamped `nowMilliseconds`; broken on purpose with
    /// the generator's bad fraction.
    package mutating func next(sequence: Int, nowMilliseconds: Int64) -> PlannedLegacyRecord {
        let broken: Int? = random.chance(badFraction) ? Int.random(in: 0..<Self.brokenVariants, using: &random) : nil
        return next(sequence: sequence, nowMilliseconds: nowMilliseconds, broken: broken)
    }

    /// Record number `sequence`; `broken` picks a kind of breakage (nil: a good record).
    package mutating func next(sequence: Int, nowMilliseconds now: Int64, broken: Int?) -> PlannedLegacyRecord {
        let tenant = Self.constantTenant(of: source) ?? tenants[Int.random(in: 0..<tenants.count, using: &random)]
        let person = run.actor(SimulatedPeople.names[Int.random(in: 0..<SimulatedPeople.names.count, using: &random)])
        let tag = "\(run.runID)-\(sequence)"
        var record: Record
        switch source {
        case .authGateway: record = authGateway(tag: tag, tenant: tenant, person: person, now: now, broken: broken)
        case .billingSvc: record = billing(sequence: sequence, tag: tag, tenant: tenant, person: person, now: now, broken: broken)
        case .fileStore: record = fileStore(tag: tag, person: person, now: now, broken: broken)
        case .hrPortal: record = hrPortal(tag: tag, tenant: tenant, person: person, now: now, broken: broken)
        case .crmLegacy: record = crm(tag: tag, tenant: tenant, person: person, now: now, broken: broken)
        case .paymentsAPI: record = payments(sequence: sequence, tenant: tenant, now: now, broken: broken)
        case .adminConsole: record = adminConsole(tag: tag, tenant: tenant, person: person, now: now, broken: broken)
        case .doorAccess: record = door(sequence: sequence, person: person, now: now, broken: broken)
        }
        let descriptor = EventDescriptor(
            key: EventKey(service: source.rawValue, sequence: sequence),
            tenant: record.tenant, actor: record.actor, eventType: record.eventType,
            expectedEventID: record.eventID, expectation: record.expectation, timestampMilliseconds: now
        )
        return PlannedLegacyRecord(source: source, bytes: record.bytes, descriptor: descriptor)
    }

    /// A generated record and what the rules will make of it.
    private struct Record {
        var bytes: [UInt8]
        var tenant: String?
        var actor: String?
        var eventType: String
        var eventID: String?
        var expectation: ExpectedOutcome

        init(_ json: JSONText, tenant: String?, actor: String?, eventType: String, eventID: String?, expectation: ExpectedOutcome = .accept) {
            self.bytes = json.bytes
            self.tenant = tenant
            self.actor = actor
            self.eventType = eventType
            self.eventID = eventID
            self.expectation = expectation
        }
    }

    // MARK: Sources

    /// Flat snake_case NDJSON, ISO 8601 with Z; `status` selects event type and action.
    private mutating func authGateway(tag: String, tenant: String, person: String, now: Int64, broken: Int?) -> Record {
        var status = random.weighted([("login_ok", 60), ("logout", 25), ("login_failed", 10), ("mfa_challenge", 5)])
        var expectation = ExpectedOutcome.accept
        var recordTenant: String? = tenant
        if broken == 0 {
            status = "password_reset"
            expectation = .quarantine(rule: "value_map")
        }
        var members: [(String, JSONText)] = [("event_id", .string("ag-\(tag)"))]
        if broken == 1 {
            recordTenant = nil
            expectation = .quarantine(rule: "required")
        } else {
            members.append(("tenant_id", .string(tenant)))
        }
        members += [
            ("user_id", .string(person)),
            ("status", .string(status)),
            ("client_ip", .string("203.0.113.\(Int.random(in: 1...254, using: &random))")),
            ("user_agent", .string("Mozilla/5.0 (X11; Linux x86_64)")),
            ("occurred_at", .string(CivilTime.iso8601UTC(now))),
        ]
        return Record(.object(members), tenant: recordTenant, actor: person, eventType: "auth", eventID: "auth-gateway:ag-\(tag)", expectation: expectation)
    }

    /// Arrays of nested camelCase records, numeric ids, epoch milliseconds (number or string).
    private mutating func billing(sequence: Int, tag: String, tenant: String, person: String, now: Int64, broken: Int?) -> Record {
        let id = run.numericID(sequence: sequence)
        var op = random.weighted([("charge", 70), ("refund", 20), ("void", 10)])
        var userID: JSONText = .string(person)
        var expectation = ExpectedOutcome.accept
        if broken == 0 {
            op = "chargeback"
            expectation = .quarantine(rule: "value_map")
        } else if broken == 1 {
            userID = .number("4711.5")
            expectation = .quarantine(rule: "type")
        }
        let createdAt: JSONText = random.chance(0.3) ? .string(String(now)) : .int(now)
        let json = JSONText.object([
            ("eventId", .int(id)),
            ("account", .object([("tenantId", .string(tenant)), ("plan", .string("enterprise"))])),
            ("user", .object([("id", userID), ("email", .string("billing@\(tenant).example"))])),
            ("invoice", .object([("id", .string("INV-\(tag)")), ("amount", .number("\(Int.random(in: 5...999, using: &random)).99")), ("currency", .string("EUR"))])),
            ("op", .string(op)),
            ("createdAt", createdAt),
        ])
        return Record(json, tenant: tenant, actor: person, eventType: "billing", eventID: "billing-svc:\(id)", expectation: expectation)
    }

    /// One object per request; the operation in `events[0]`, epoch seconds with a fraction.
    private mutating func fileStore(tag: String, person: String, now: Int64, broken: Int?) -> Record {
        var operation = random.weighted([("object.read", 70), ("object.write", 25), ("object.delete", 5)])
        var expectation = ExpectedOutcome.accept
        if broken == 1 {
            operation = "object.copy"
            expectation = .quarantine(rule: "value_map")
        }
        var events: [JSONText] = [.object([
            ("type", .string(operation)),
            ("path", .string("/bucket/reports/\(tag).pdf")),
            ("bytes", .int(Int.random(in: 1024...4_194_304, using: &random))),
        ])]
        if broken == 0 {
            events = []
            expectation = .quarantine(rule: "required")
        }
        let json = JSONText.object([
            ("request_id", .string("fs-\(tag)")),
            ("who", .object([("uid", .string(person)), ("ip", .string("10.0.0.\(Int.random(in: 2...250, using: &random))"))])),
            ("events", .array(events)),
            ("ts", .number(CivilTime.epochSecondsText(now))),
            ("node", .string("fs-0\(Int.random(in: 1...4, using: &random))")),
        ])
        return Record(json, tenant: "initech", actor: person, eventType: "data_access", eventID: "file-store:fs-\(tag)", expectation: expectation)
    }

    /// CRLF NDJSON from an old Java mailer: RFC 2822 dates; `company` may be left out (default umbrella).
    private mutating func hrPortal(tag: String, tenant: String, person: String, now: Int64, broken: Int?) -> Record {
        var change = random.weighted([("SALARY_UPDATE", 50), ("ROLE_CHANGE", 40), ("TERMINATION", 10)])
        var when = CivilTime.rfc2822(now, offsetSeconds: random.chance(0.5) ? 3600 : 0)
        var expectation = ExpectedOutcome.accept
        if broken == 0 {
            when = CivilTime.zoneless(now).replacingDashesWithSlashes
            expectation = .quarantine(rule: "timestamp_format")
        } else if broken == 1 {
            change = "PROMOTION"
            expectation = .quarantine(rule: "value_map")
        }
        var members: [(String, JSONText)] = [("recordId", .string("HR-\(tag)"))]
        if tenant != "umbrella" || random.chance(0.5) {
            members.append(("company", .string(tenant)))
        }
        members += [
            ("actor", .object([("employeeNo", .string(person)), ("name", .string("Jane Doe")), ("department", .string("HR"))])),
            ("changeType", .string(change)),
            ("subject", .object([("employeeNo", .string("E\(Int.random(in: 1000...9999, using: &random))"))])),
            ("when", .string(when)),
        ]
        return Record(.object(members), tenant: tenant, actor: person, eventType: "hr", eventID: "hr-portal:HR-\(tag)", expectation: expectation)
    }

    /// PascalCase arrays without ids (the id is a hash of the record), zone-less +01:00 times.
    private mutating func crm(tag: String, tenant: String, person: String, now: Int64, broken: Int?) -> Record {
        var action = random.weighted([("view", 60), ("edit", 30), ("export", 10)])
        var expectation = ExpectedOutcome.accept
        var recordTenant: String? = tenant
        if broken == 0 {
            action = "delete"
            expectation = .quarantine(rule: "value_map")
        }
        let customer = "C-\(Int.random(in: 100...999, using: &random))"
        var members: [(String, JSONText)] = [
            ("Customer", .string(customer)),
            ("SalesRep", .string(person)),
            ("Action", .string(action)),
            ("Entity", .string("account/\(customer)")),
            ("Timestamp", .string(CivilTime.zoneless(now, offsetSeconds: 3600))),
        ]
        if broken == 1 {
            recordTenant = nil
            expectation = .quarantine(rule: "required")
        } else {
            members.append(("Org", .string(tenant)))
        }
        members += [("Rows", .int(Int.random(in: 1...5000, using: &random))), ("ExportLine", .string(tag))]
        return Record(.object(members), tenant: recordTenant, actor: person, eventType: "crm", eventID: nil, expectation: expectation)
    }

    /// Webhook objects, microsecond ISO times; only `amount` is kept.
    private mutating func payments(sequence: Int, tenant: String, now: Int64, broken: Int?) -> Record {
        var type = random.weighted([("payment.captured", 80), ("payment.refunded", 20)])
        var amount: [(String, JSONText)] = [("value", .string("\(Int.random(in: 1...500, using: &random)).00")), ("currency", .string("USD"))]
        var expectation = ExpectedOutcome.accept
        if broken == 0 {
            amount.append(("note", .string(String(repeating: "refund requested by customer; ", count: 170))))
            expectation = .quarantine(rule: "max_length")
        } else if broken == 1 {
            type = "payment.disputed"
            expectation = .quarantine(rule: "value_map")
        }
        let id = "pay_\(run.runID)_\(sequence)"
        let initiator = run.actor("apikey-\(Int.random(in: 1...3, using: &random))")
        let json = JSONText.object([
            ("id", .string(id)),
            ("merchant", .object([("tenant", .string(tenant)), ("name", .string("\(tenant.capitalized) Store"))])),
            ("initiator", .string(initiator)),
            ("type", .string(type)),
            ("amount", .object(amount)),
            ("created", .string(CivilTime.iso8601UTC(now, fractionDigits: 6))),
            ("livemode", .bool(true)),
        ])
        return Record(json, tenant: tenant, actor: initiator, eventType: "payment", eventID: "payments-api:\(id)", expectation: expectation)
    }

    /// Deeply nested NDJSON; explicit metadata only; times with a +01:00 offset.
    private mutating func adminConsole(tag: String, tenant: String, person: String, now: Int64, broken: Int?) -> Record {
        let operation = random.weighted([("user.disable", 30), ("role.grant", 40), ("user.enable", 20), ("session.revoke", 10)])
        var target: [(String, JSONText)] = [("type", .string("user")), ("id", .string("u-\(Int.random(in: 1...999, using: &random))"))]
        var expectation = ExpectedOutcome.accept
        var members: [(String, JSONText)] = [("id", .string("adm-\(tag)"))]
        members.append(("ctx", .object([("tenant", .object([("slug", .string(tenant))])), ("session", .string("s-\(Int.random(in: 1...99, using: &random))"))])))
        members.append(("principal", .object([("login", .string(person)), ("roles", .array([.string("admin"), .string("audit")]))])))
        if broken == 0 {
            target.removeLast()
            expectation = .quarantine(rule: "required")
        }
        members.append(("op", .object([("name", .string(operation)), ("target", .object(target))])))
        members.append(("meta", .object([
            ("ip", .string("192.0.2.\(Int.random(in: 1...254, using: &random))")),
            ("request", .object([("headers", .object([("X-Request-ID", .string("r-\(tag)")), ("User-Agent", .string("curl/8.5.0"))]))])),
        ])))
        if broken == 1 {
            members.append(("payload", .raw(String(repeating: "[", count: 70) + String(repeating: "]", count: 70))))
            expectation = .quarantine(rule: "max_depth")
        }
        members.append(("time", .string(CivilTime.iso8601(now, offsetSeconds: 3600))))
        return Record(.object(members), tenant: tenant, actor: person, eventType: "admin", eventID: "admin-console:adm-\(tag)", expectation: expectation)
    }

    /// PascalCase NDJSON, numeric ids, zone-less UTC times; a controller without a clock sends none.
    private mutating func door(sequence: Int, person: String, now: Int64, broken: Int?) -> Record {
        let id = run.numericID(sequence: sequence)
        var result = random.weighted([("GRANTED", 90), ("DENIED", 10)])
        var holder = person
        var expectation = ExpectedOutcome.accept
        if broken == 0 {
            holder = person + "\u{0}"
            expectation = .quarantine(rule: "control_characters")
        } else if broken == 1 {
            result = "TAILGATE"
            expectation = .quarantine(rule: "value_map")
        }
        var members: [(String, JSONText)] = [
            ("EventID", .int(id)),
            ("Site", .string(random.weighted([("hq", 70), ("lab", 30)]))),
            ("CardHolder", .string(holder)),
            ("DoorId", .int(Int.random(in: 1...40, using: &random))),
            ("Result", .string(result)),
        ]
        if !random.chance(0.05) {
            members.append(("Timestamp", .string(CivilTime.zoneless(now))))
        }
        return Record(.object(members), tenant: "acme", actor: person, eventType: "physical_access", eventID: "door-\(id)", expectation: expectation)
    }
}

extension String {
    fileprivate var replacingDashesWithSlashes: String {
        String(map { $0 == "-" ? "/" : $0 })
    }

    fileprivate var capitalized: String {
        prefix(1).uppercased() + dropFirst()
    }
}
