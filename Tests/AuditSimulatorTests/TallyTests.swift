import AuditEvents
import Testing

@testable import AuditSimulator

@Suite("Pacing, tally and the delivery check")
struct TallyTests {
    static func descriptor(_ service: String, _ n: Int, tenant: String? = "acme", actor: String = "alice.r1", id: String? = nil, expectation: ExpectedOutcome = .accept) -> EventDescriptor {
        EventDescriptor(
            key: EventKey(service: service, sequence: n), tenant: tenant, actor: actor, eventType: "auth",
            expectedEventID: id ?? "\(service)-\(n)", expectation: expectation, timestampMilliseconds: 1000 + Int64(n)
        )
    }

    // MARK: Pacing

    @Test func ratePlanSplitsByWeight() {
        let plan = RatePlan(services: SimulatedService.defaultCatalog, totalRate: 200)
        #expect(plan.shares.count == 12)
        #expect(abs(plan.shares.reduce(0) { $0 + $1.rate } - 200) < 1e-9)
        let portal = plan.shares.first { $0.service.name == "portal-web" }!
        let admin = plan.shares.first { $0.service.name == "admin-console" }!
        #expect(abs(portal.rate / admin.rate - 20.0 / 3.0) < 1e-9)
        #expect(Set(SimulatedService.defaultCatalog.map(\.name)).count == 12)
        #expect(SimulatedService.defaultCatalog.filter { $0.legacySource != nil }.allSatisfy { $0.name == $0.legacySource?.rawValue })
    }

    @Test func pacerSendsEveryDueEventOnce() {
        var pacer = Pacer(rate: 10, maxPerRequest: 1, minimumInterval: 0, duration: 2)
        var sent = 0
        var t = 0.0
        loop: while t < 10 {
            switch pacer.next(at: t) {
            case .send(let n): sent += n
            case .wait(let until):
                #expect(until > t)
                t = until
            case .finished: break loop
            }
        }
        #expect(sent == 20)
        #expect(pacer.skipped == 0)
    }

    @Test func pacerBatchesAtItsInterval() {
        var pacer = Pacer(rate: 100, maxPerRequest: 50, minimumInterval: 0.5, duration: 10)
        #expect(pacer.next(at: 0.125) == .send(12))
        #expect(pacer.next(at: 0.25) == .wait(until: 0.625))
        #expect(pacer.next(at: 0.625) == .send(50))
        #expect(pacer.next(at: 0.75) == .wait(until: 1.125))
    }

    @Test func pacerDropsBacklogBeyondItsBound() {
        var pacer = Pacer(rate: 10, maxPerRequest: 10, minimumInterval: 0, duration: 60, maxBacklogSeconds: 2)
        #expect(pacer.next(at: 30) == .send(10))
        #expect(pacer.skipped == 280)
        #expect(pacer.next(at: 30) == .send(10))
        #expect(pacer.next(at: 30) == .wait(until: 30.1))
        #expect(pacer.next(at: 61) == .send(10))
        #expect(pacer.next(at: 61) == .send(10))
        #expect(pacer.next(at: 61) == .finished)
        #expect(pacer.scheduled == 40)
        #expect(pacer.scheduled + pacer.skipped == 600)
    }

    // MARK: Tally

    @Test func tallyCountsAcknowledgementsPerTenantAndSurprises() {
        var tally = SimulationTally()
        let good = Self.descriptor("portal-web", 1)
        tally.recordSent([good], resend: false)
        tally.record(.unavailable("broker down"), for: good)
        tally.recordSent([good], resend: true)
        tally.record(.durable(eventID: "portal-web-1"), for: good)
        tally.record(.durable(eventID: "portal-web-1"), for: good) // a second acknowledgement of the same id
        #expect(tally.acknowledged["acme"] == ["portal-web-1"])
        #expect(tally.repeatedAcknowledgements == 1)
        #expect(tally.services["portal-web"]?.sent == 1)
        #expect(tally.services["portal-web"]?.resent == 1)
        #expect(tally.services["portal-web"]?.unavailable == 1)
        #expect(tally.surpriseCount == 0)

        let bad = Self.descriptor("buggy-client", 1, expectation: .refuse(rule: "required"))
        tally.record(.refused([FieldViolation(field: "action", rule: "required", description: "")]), for: bad)
        #expect(tally.surpriseCount == 0)
        let wrongRule = Self.descriptor("buggy-client", 2, expectation: .refuse(rule: "too_old"))
        tally.record(.refused([FieldViolation(field: "action", rule: "required", description: "")]), for: wrongRule)
        #expect(tally.surpriseCount == 1)
        let badAccepted = Self.descriptor("buggy-client", 3, expectation: .refuse(rule: "too_old"))
        tally.record(.durable(eventID: "buggy-client-3"), for: badAccepted)
        #expect(tally.surpriseCount == 2)
        let goodQuarantined = Self.descriptor("door-access", 1)
        tally.record(.quarantined([FieldViolation(field: "resource", rule: "required", description: "missing")]), for: goodQuarantined)
        #expect(tally.surpriseCount == 3)
        let otherID = Self.descriptor("billing-svc", 1, id: "billing-svc:1")
        tally.record(.durable(eventID: "billing-svc:2"), for: otherID)
        #expect(tally.surpriseCount == 4)
        #expect(tally.surprises.map(\.key.service) == ["buggy-client", "buggy-client", "door-access", "billing-svc"])
        #expect(tally.totals.refused == 2)
        #expect(tally.totals.quarantined == 1)
    }

    @Test func givenUpEventsAreInDoubtNotAcknowledged() {
        var tally = SimulationTally()
        let known = Self.descriptor("docs-api", 1, tenant: "globex")
        let derived = EventDescriptor(key: EventKey(service: "crm-legacy", sequence: 1), tenant: "globex", actor: "bob.r1", eventType: "crm", expectedEventID: nil, expectation: .accept, timestampMilliseconds: 5)
        tally.record(.gaveUp("timeout"), for: known)
        tally.record(.gaveUp("timeout"), for: derived)
        #expect(tally.acknowledged["globex"] == nil)
        #expect(tally.inDoubt["globex"] == ["docs-api-1"])
        #expect(tally.inDoubtWithoutID["globex"] == 1)
        #expect(tally.tenants == ["globex"])
        #expect(tally.totals.gaveUp == 2)
    }

    @Test func topReasonsAndBusiestActor() {
        var tally = SimulationTally()
        for n in 1...3 { tally.record(.quarantined([FieldViolation(field: "action", rule: "value_map", description: "")]), for: Self.descriptor("crm-legacy", n, expectation: .quarantine(rule: "value_map"))) }
        tally.record(.quarantined([FieldViolation(field: "tenant_id", rule: "required", description: "")]), for: Self.descriptor("crm-legacy", 4, expectation: .quarantine(rule: "required")))
        #expect(tally.topReasons(service: "crm-legacy").map(\.reason) == ["value_map action", "required tenant_id"])
        #expect(tally.topReasons(service: "crm-legacy").map(\.count) == [3, 1])
        for n in 1...3 { tally.record(.durable(eventID: "b\(n)"), for: Self.descriptor("portal-web", n, actor: "bob.r1", id: "b\(n)")) }
        tally.record(.durable(eventID: "a1"), for: Self.descriptor("portal-web", 9, actor: "alice.r1", id: "a1"))
        #expect(tally.busiestActor(tenant: "acme") == "bob.r1")
        #expect(tally.actors["acme"] == ["alice.r1", "bob.r1"])
    }

    // MARK: Delivery check

    @Test func idLevelComparison() {
        let delivery = DeliveryCheck.compare(
            tenant: "acme", acknowledged: ["a", "b", "c", "d"], inDoubt: ["x", "y"], inDoubtWithoutID: 0,
            stored: .ids(["a": 1, "b": 2, "d": 1, "x": 1, "zzz": 1])
        )
        #expect(delivery.missingIDs == ["c"])
        #expect(delivery.duplicatedIDs == ["b"])
        #expect(delivery.duplicated == 1)
        #expect(delivery.inDoubtStored == 1)
        #expect(delivery.unexpected == 1)
        #expect(delivery.stored == 6)
        #expect(!delivery.isClean)
        let clean = DeliveryCheck.compare(tenant: "acme", acknowledged: ["a", "b"], inDoubt: ["x"], inDoubtWithoutID: 1, stored: .ids(["a": 1, "b": 1, "x": 1, "hash": 1]))
        #expect(clean.isClean)
        #expect(clean.inDoubtStored == 2)
    }

    @Test func countLevelComparison() {
        let short = DeliveryCheck.compare(tenant: "t", acknowledged: ["a", "b", "c"], inDoubt: [], inDoubtWithoutID: 0, stored: .count(2))
        #expect(short.missing == 1 && short.duplicated == 0 && !short.isClean && !short.exact)
        let withDoubt = DeliveryCheck.compare(tenant: "t", acknowledged: ["a", "b"], inDoubt: ["x"], inDoubtWithoutID: 0, stored: .count(3))
        #expect(withDoubt.isClean && withDoubt.inDoubtStored == 1)
        let tooMany = DeliveryCheck.compare(tenant: "t", acknowledged: ["a", "b"], inDoubt: [], inDoubtWithoutID: 0, stored: .count(3))
        #expect(tooMany.duplicated == 1 && !tooMany.isClean)
    }

    @Test func comparisonCoversEveryTenantOfTheTally() {
        var tally = SimulationTally()
        tally.record(.durable(eventID: "a1"), for: Self.descriptor("portal-web", 1, tenant: "acme", id: "a1"))
        tally.record(.durable(eventID: "g1"), for: Self.descriptor("portal-web", 2, tenant: "globex", id: "g1"))
        let deliveries = DeliveryCheck.compare(tally, stored: ["acme": .ids(["a1": 1])])
        #expect(deliveries.map(\.tenant) == ["acme", "globex"])
        #expect(deliveries.map(\.missing) == [0, 1])
        let summary = DeliveryTally(deliveries, deadLettered: 0, quarantined: 7)
        #expect(!summary.passed)
        #expect(summary.line(label: "run") == "run:  acknowledged 2  stored 1  missing 1  duplicated 0  dead-lettered 0  quarantined 7  FAIL")
        let passing = DeliveryTally(acknowledged: 5, stored: 5, missing: 0, duplicated: 0, deadLettered: nil, quarantined: 0, inDoubt: 0)
        #expect(passing.line() == "acknowledged 5  stored 5  missing 0  duplicated 0  dead-lettered ?  quarantined 0  PASS")
    }

    // MARK: Answers

    @Test func legacyAnswerPerRecord() {
        let body = #"{"accepted":1,"quarantined":1,"unavailable":1,"results":[{"index":0,"status":"durable","event_id":"auth-gateway:ag-1","partition":1,"offset":42},{"index":1,"status":"quarantined","reasons":[{"field":"tenant_id","rule":"required","description":"missing"}]},{"index":2,"status":"unavailable","message":"broker down"}]}"#
        let outcomes = LegacyAnswer.outcomes(status: 503, body: Array(body.utf8), count: 3)
        #expect(outcomes == [
            .durable(eventID: "auth-gateway:ag-1"),
            .quarantined([FieldViolation(field: "tenant_id", rule: "required", description: "missing")]),
            .unavailable("broker down"),
        ])
        let short = LegacyAnswer.outcomes(status: 200, body: Array(#"{"results":[{"index":0,"status":"durable","event_id":"x"}]}"#.utf8), count: 2)
        #expect(short[0] == .durable(eventID: "x"))
        if case .payloadRefused(200, _) = short[1] {} else { Issue.record("a missing result must not pass silently: \(short[1])") }
    }

    @Test func legacyRefusalsAndServerErrors() {
        let refusal = #"{"error":"the payload was refused as a whole; nothing was stored","reason":{"field":"payload","rule":"syntax","description":"bad"}}"#
        let refused = LegacyAnswer.outcomes(status: 400, body: Array(refusal.utf8), count: 2)
        #expect(refused.count == 2)
        if case .payloadRefused(400, let reason) = refused[0] {
            #expect(reason.contains("syntax payload: bad"))
        } else {
            Issue.record("\(refused[0])")
        }
        #expect(LegacyAnswer.outcomes(status: 503, body: Array("overloaded".utf8), count: 1) == [.unavailable("HTTP 503")])
        if case .unavailable = LegacyAnswer.outcomes(status: 500, body: [], count: 1)[0] {} else { Issue.record("500 is retried") }
        if case .payloadRefused(404, _) = LegacyAnswer.outcomes(status: 404, body: Array(#"{"error":"unknown legacy source"}"#.utf8), count: 1)[0] {} else { Issue.record("404 is final") }
    }

    @Test func progressLineAndTables() {
        var totals = ServiceCounts()
        totals.sent = 4600
        totals.accepted = 4380
        totals.refused = 95
        totals.quarantined = 120
        totals.unavailable = 3
        #expect(SimulationText.progress(totals, elapsed: 23, duration: 60, lagSeconds: ["auditpipe-sink-recent": 0.12, "auditpipe-sink": 0.42]) == "[00:23/01:00]  sent 4600 (200/s)  accepted 4380  refused 95  quarantined 120  unavailable→retried 3  in flight 5  lag auditpipe-sink 0.4s, auditpipe-sink-recent 0.1s")
        #expect(SimulationText.progress(totals, elapsed: 23, duration: 60, lagSeconds: nil).hasSuffix("  lag n/a"))
        let metrics = """
            # TYPE auditpipe_consumer_lag_seconds gauge
            auditpipe_consumer_lag_seconds{group="g",partition="0",topic="t"} 0.5
            auditpipe_consumer_lag_seconds{group="g",partition="1",topic="t"} 2.25
            auditpipe_consumer_lag_seconds{group="g-recent",partition="0",topic="t"} 0
            auditpipe_consumer_lag_records{group="x",partition="0",topic="t"} 9
            """
        #expect(PrometheusText.maxima(named: "auditpipe_consumer_lag_seconds", by: "group", in: metrics) == ["g": 2.25, "g-recent": 0])
        let table = SimulationText.countsTable(rowTitle: "tenant", counts: ["globex": ["login": 3], "acme": ["logout": 1, "login": 2]], preferredColumns: ["login", "logout", "mfa_challenge"])
        #expect(table == """
            tenant  login  logout  total
            ------  -----  ------  -----
            acme        2       1      3
            globex      3       0      3
            """)
        #expect(SimulationText.clock(3725) == "1:02:05")
    }
}
