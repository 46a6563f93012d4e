import AuditEvents
import LegacyMapping
import Testing

@Suite struct QuarantineTests {
    static let reasons = [
        FieldViolation(field: "actor_id", rule: "required", description: "actor_id comes from `user.id`, which is \"absent\""),
        FieldViolation(field: "metadata[\"k\"]", rule: "max_length", description: "line\nbreak"),
    ]

    @Test func recordCarriesBytesReasonsSourceStageAndTimeInHeaders() throws {
        let entry = LegacyQuarantineEntry(
            source: "vpn-concentrator", stage: .map, reasons: Self.reasons, originalBytes: [0x7B, 0xFF, 0x7D],
            intake: .kafka, origin: LegacySourcePosition(topic: "legacy.vpn", partition: 2, offset: 99), itemIndex: 1,
            quarantinedAtMilliseconds: 1_795_083_753_456
        )
        let record = entry.record
        #expect(record.key == Array("vpn-concentrator".utf8))
        #expect(record.value == [0x7B, 0xFF, 0x7D])
        let headers = record.headers.map { "\($0.0)=\(String(decoding: $0.1, as: UTF8.self))" }
        #expect(headers == [
            "auditpipe-quarantine-version=1",
            "auditpipe-source=vpn-concentrator",
            "auditpipe-stage=map",
            #"auditpipe-reasons=[{"field":"actor_id","rule":"required","description":"actor_id comes from `user.id`, which is \"absent\""},{"field":"metadata[\"k\"]","rule":"max_length","description":"line\nbreak"}]"#,
            "auditpipe-intake=kafka",
            "auditpipe-quarantined-at=2026-11-19T10:22:33.456Z",
            "auditpipe-item-index=1",
            "auditpipe-origin-topic=legacy.vpn",
            "auditpipe-origin-partition=2",
            "auditpipe-origin-offset=99",
        ])
        #expect(try LegacyQuarantineEntry(value: record.value, headers: record.headers) == entry)

        let http = LegacyQuarantineEntry(source: "s", stage: .parse, reasons: [], originalBytes: [], intake: .http, quarantinedAtMilliseconds: 5)
        #expect(try LegacyQuarantineEntry(value: http.record.value, headers: http.record.headers) == http)
        #expect(throws: LegacyQuarantineFormatError.self) { try LegacyQuarantineEntry(value: [], headers: [("auditpipe-quarantine-version", [0x32])]) }
    }

    @Test func tallyCountsEventsOncePerFieldAndRuleAndRendersText() {
        var tally = LegacyConformanceTally()
        tally.recordAccepted(source: "billing-svc", count: 3)
        tally.recordQuarantined(source: "billing-svc", reasons: [
            FieldViolation(field: "event_type", rule: "value_map", description: ""),
            FieldViolation(field: "action", rule: "value_map", description: ""),
        ])
        tally.recordQuarantined(source: "billing-svc", reasons: [FieldViolation(field: "actor_id", rule: "type", description: "")])
        tally.recordQuarantined(source: "billing-svc", reasons: [
            FieldViolation(field: "metadata[\"a\"]", rule: "max_length", description: ""),
            FieldViolation(field: "metadata[\"b\"]", rule: "max_length", description: ""),
        ])
        tally.recordAccepted(source: "auth-gateway")
        let entry = LegacyQuarantineEntry(source: "mail-relay", stage: .parse, reasons: [FieldViolation(field: "event", rule: "utf8", description: "")], originalBytes: [], intake: .http, quarantinedAtMilliseconds: 1)
        tally.record(entry)

        let billing = tally.sources["billing-svc"]!
        #expect(billing.accepted == 3 && billing.quarantined == 3)
        #expect(billing.failingFields == ["event_type": 1, "action": 1, "actor_id": 1, "metadata[…]": 1])
        #expect(billing.failingRules == ["value_map": 1, "type": 1, "max_length": 1])
        #expect(tally.render(top: 2) == """
            source          accepted  quarantined  conformance
            auth-gateway           1            0       100.0%
            billing-svc            3            3        50.0%
              top failing fields: action (1), actor_id (1)
              top failing rules:  max_length (1), type (1)
            mail-relay             0            1         0.0%
              top failing fields: event (1)
              top failing rules:  utf8 (1)

            """)
        #expect(LegacyConformanceTally().render() == "no legacy events recorded yet\n")
    }
}
