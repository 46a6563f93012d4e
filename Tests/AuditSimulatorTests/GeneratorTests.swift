import AuditEvents
import Foundation
import LegacyMapping
import Testing

@testable import AuditSimulator

/// The generators are checked against the real rules: legacy records are mapped with
/// `Deploy/legacy-rules.yaml` by the server's own `LegacyMapper` (split exactly as the HTTP intake
/// splits a body), and gRPC events are checked with the server's `EventValidator`.
@Suite("Payload generators")
struct GeneratorTests {
    static let now: Int64 = 1_795_132_800_000 // 2026-11-20T00:00:00Z
    static let run = RunIdentity(runID: "t3st01")
    static let tenants = TenantNames.first(5)

    static func rules() throws -> LegacyRuleSet {
        // Resolve symlinks so that the path also holds in a scratch package that links this folder.
        let here = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        let path = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Deploy/legacy-rules.yaml").path
        return try LegacyRuleSet.load(contentsOfFile: path)
    }

    /// Maps `records` as the intake would receive them from the simulator (grouped into bodies by
    /// the source's shape) and returns each record with its mapped outcome.
    static func map(_ records: [PlannedLegacyRecord], source: LegacySource, rules: LegacyRuleSet) throws -> [(PlannedLegacyRecord, Result<AuditEvent, LegacyRejection>)] {
        let mapper = LegacyMapper(rules: try #require(rules[source: source.rawValue]))
        let shape = LegacyPayloadShape.of(source)
        var mapped: [(PlannedLegacyRecord, Result<AuditEvent, LegacyRejection>)] = []
        for group in shape.requests(records) {
            let body = shape.body(group.map(\.bytes))
            let outcomes = try mapper.mapPayload(body, receivedAtMilliseconds: now, nowMilliseconds: now).get()
            try #require(outcomes.count == group.count, "the intake must read one event per record of \(source.rawValue)")
            mapped += zip(group, outcomes.map(\.result)).map { ($0, $1) }
        }
        return mapped
    }

    @Test(arguments: LegacySource.allCases)
    func goodLegacyRecordsMapToTheExpectedEvents(source: LegacySource) throws {
        let rules = try Self.rules()
        var generator = LegacyRecordGenerator(source: source, run: Self.run, tenants: Self.tenants, badFraction: 0, random: SeededRandom(seed: 7))
        let records = (1...60).map { generator.next(sequence: $0, nowMilliseconds: Self.now + Int64($0) * 1013, broken: nil) }
        var ids = Set<String>()
        for (record, result) in try Self.map(records, source: source, rules: rules) {
            let d = record.descriptor
            #expect(d.expectation == .accept)
            let event: AuditEvent
            switch result {
            case .success(let mapped): event = mapped
            case .failure(let rejection):
                Issue.record("\(d.key) was rejected: \(rejection.reasons) — \(String(decoding: record.bytes, as: UTF8.self))")
                continue
            }
            #expect(event.tenantID == d.tenant, "\(d.key)")
            #expect(event.actorID == d.actor, "\(d.key)")
            #expect(event.eventType == d.eventType, "\(d.key)")
            if let expected = d.expectedEventID { #expect(event.eventID == expected, "\(d.key)") }
            #expect(Self.run.owns(actor: event.actorID))
            // Second-precision formats (RFC 2822, zone-less) may cut the milliseconds; a missing
            // door timestamp becomes the received time.
            let sent = Self.now + Int64(d.key.sequence) * 1013
            #expect(event.timestampMilliseconds == sent || (event.timestampMilliseconds <= sent && sent - event.timestampMilliseconds < 1000) || (source == .doorAccess && event.timestampMilliseconds == Self.now), "\(d.key): \(event.timestampMilliseconds) vs \(sent)")
            ids.insert(event.eventID)
        }
        #expect(ids.count == records.count, "every record of \(source.rawValue) gets its own event id")
    }

    @Test(arguments: LegacySource.allCases)
    func brokenLegacyRecordsAreRejectedForTheExpectedRule(source: LegacySource) throws {
        let rules = try Self.rules()
        var generator = LegacyRecordGenerator(source: source, run: Self.run, tenants: Self.tenants, badFraction: 0, random: SeededRandom(seed: 11))
        // Good and broken records interleaved, every kind of breakage, a broken one first.
        var records: [PlannedLegacyRecord] = []
        for sequence in 1...12 {
            let broken: Int? = sequence % 3 == 2 ? nil : (sequence / 3) % LegacyRecordGenerator.brokenVariants
            records.append(generator.next(sequence: sequence, nowMilliseconds: Self.now, broken: broken))
        }
        var rulesSeen = Set<String>()
        for (record, result) in try Self.map(records, source: source, rules: rules) {
            switch (record.descriptor.expectation, result) {
            case (.accept, .success):
                break
            case (.quarantine(let rule), .failure(let rejection)):
                #expect(rejection.reasons.map(\.rule).contains(rule), "\(record.descriptor.key): expected \(rule), got \(rejection.reasons)")
                rulesSeen.insert(rule)
            case (let expectation, let result):
                Issue.record("\(record.descriptor.key): expected \(expectation), got \(result)")
            }
        }
        #expect(rulesSeen.count == LegacyRecordGenerator.brokenVariants, "each kind of breakage of \(source.rawValue) is exercised")
    }

    @Test func legacyGeneratorIsDeterministicPerSeed() {
        func records(_ seed: UInt64) -> [[UInt8]] {
            var generator = LegacyRecordGenerator(source: .billingSvc, run: Self.run, tenants: Self.tenants, badFraction: 0.3, random: SeededRandom(seed: seed))
            return (1...20).map { generator.next(sequence: $0, nowMilliseconds: Self.now).bytes }
        }
        #expect(records(5) == records(5))
        #expect(records(5) != records(6))
    }

    @Test func badFractionIsRoughlyKept() {
        var generator = LegacyRecordGenerator(source: .authGateway, run: Self.run, tenants: Self.tenants, badFraction: 0.1, random: SeededRandom(seed: 3))
        let bad = (1...2000).filter { generator.next(sequence: $0, nowMilliseconds: Self.now).descriptor.expectation != .accept }.count
        #expect((120...280).contains(bad), "\(bad) of 2000 broken at a 10 % fraction")
    }

    @Test func goodGRPCEventsPassTheFieldRulesAndBrokenOnesBreakTheNamedRule() {
        let validator = EventValidator()
        for profile in [GRPCProfile.auth, .dataChange, .permissionChange, .apiCalls] {
            let service = SimulatedService(name: "svc-\(profile.rawValue)", transport: .grpcBatch, profile: profile, weight: 1, maxEventsPerRequest: 1, requestInterval: 0, maxInFlight: 1, badFraction: 0)
            var generator = GRPCEventGenerator(service: service, run: Self.run, tenants: Self.tenants, random: SeededRandom(seed: 1))
            for sequence in 1...50 {
                let planned = generator.next(sequence: sequence, nowMilliseconds: Self.now)
                #expect(validator.violations(of: planned.event, nowMilliseconds: Self.now).isEmpty, "\(planned.event)")
                #expect(planned.event.eventID == "sim-t3st01-svc-\(profile.rawValue)-\(sequence)")
                #expect(planned.descriptor.tenant.map(Self.tenants.contains) == true)
                for variant in 0..<GRPCEventGenerator.brokenVariants {
                    let (broken, rule) = GRPCEventGenerator.broken(planned.event, variant: variant)
                    let violations = validator.violations(of: broken, nowMilliseconds: Self.now)
                    #expect(violations.map(\.rule).contains(rule), "variant \(variant): \(violations)")
                    #expect(broken.eventID == planned.event.eventID && broken.tenantID == planned.event.tenantID)
                }
            }
        }
    }

    @Test func carelessServiceMarksItsBrokenEvents() {
        let service = SimulatedService.defaultCatalog.first { $0.name == "buggy-client" }!
        var generator = GRPCEventGenerator(service: service, run: Self.run, tenants: Self.tenants, random: SeededRandom(seed: 9))
        let validator = EventValidator()
        var broken = 0
        for sequence in 1...200 {
            let planned = generator.next(sequence: sequence, nowMilliseconds: Self.now)
            let violations = validator.violations(of: planned.event, nowMilliseconds: Self.now)
            if let rule = planned.descriptor.expectation.rule {
                broken += 1
                #expect(violations.map(\.rule).contains(rule))
            } else {
                #expect(violations.isEmpty)
            }
        }
        #expect((60...140).contains(broken), "about half of 200: \(broken)")
    }

    @Test func payloadShapes() {
        let a: [UInt8] = Array(#"{"a":1}"#.utf8)
        let b: [UInt8] = Array(#"{"b":2}"#.utf8)
        #expect(String(decoding: LegacyPayloadShape.array.body([a, b]), as: UTF8.self) == "[{\"a\":1},\n {\"b\":2}]")
        #expect(String(decoding: LegacyPayloadShape.ndjson(crlf: true).body([a, b]), as: UTF8.self) == "{\"a\":1}\r\n{\"b\":2}\r\n")
        #expect(LegacyPayloadShape.object.body([a]) == a)
    }

    @Test func ndjsonBodiesNeverStartWithAnUnparseableRecord() {
        func record(_ n: Int, _ expectation: ExpectedOutcome) -> PlannedLegacyRecord {
            PlannedLegacyRecord(source: .adminConsole, bytes: [], descriptor: EventDescriptor(
                key: EventKey(service: "admin-console", sequence: n), tenant: "acme", actor: nil, eventType: nil,
                expectedEventID: nil, expectation: expectation, timestampMilliseconds: 0
            ))
        }
        let shape = LegacyPayloadShape.ndjson(crlf: false)
        let mixed = shape.requests([record(1, .quarantine(rule: "max_depth")), record(2, .accept), record(3, .quarantine(rule: "required"))])
        #expect(mixed.map { $0.map(\.descriptor.key.sequence) } == [[2, 1, 3]])
        let onlyBroken = shape.requests([record(1, .quarantine(rule: "max_depth")), record(2, .quarantine(rule: "syntax"))])
        #expect(onlyBroken.map { $0.map(\.descriptor.key.sequence) } == [[1], [2]])
        #expect(LegacyPayloadShape.object.requests([record(1, .accept), record(2, .accept)]).count == 2)
        #expect(LegacyPayloadShape.array.requests([record(1, .quarantine(rule: "type")), record(2, .accept)]).count == 1)
    }

    @Test func runIdentity() {
        #expect(Self.run.actor("alice") == "alice.t3st01")
        #expect(Self.run.owns(actor: "alice.t3st01"))
        #expect(!Self.run.owns(actor: "alice.t3st02"))
        let id = Self.run.numericID(sequence: 123)
        #expect(id < 1 << 53)
        #expect(id % 1_000_000_000 == 123)
        #expect(RunIdentity(runID: "other1").numericID(sequence: 123) != id)
        var random = SeededRandom(seed: 1)
        #expect(RunIdentity.isValid(RunIdentity.random(using: &random).runID))
        #expect(!RunIdentity.isValid("ABC123"))
        #expect(!RunIdentity.isValid("ab"))
    }
}
