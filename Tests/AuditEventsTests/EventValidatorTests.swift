import AuditEvents
import Testing

@Suite("Event field rules")
struct EventValidatorTests {
    let now: Int64 = 1_760_000_000_000
    let validator = EventValidator()

    func event() -> AuditEvent {
        AuditEvent(
            eventID: "e-1", tenantID: "acme", actorID: "alice", eventType: "auth",
            resource: "session", action: "login", timestampMilliseconds: now - 1000, metadata: ["ip": "10.0.0.1"]
        )
    }

    @Test func validEventHasNoViolations() {
        #expect(validator.violations(of: event(), nowMilliseconds: now).isEmpty)
    }

    @Test(arguments: [
        (\AuditEvent.eventID, "event_id"), (\AuditEvent.tenantID, "tenant_id"), (\AuditEvent.actorID, "actor_id"),
        (\AuditEvent.eventType, "event_type"), (\AuditEvent.resource, "resource"), (\AuditEvent.action, "action"),
    ] as [(any WritableKeyPath<AuditEvent, String> & Sendable, String)])
    func emptyRequiredFieldIsNamed(field: any WritableKeyPath<AuditEvent, String> & Sendable, name: String) {
        var e = event()
        e[keyPath: field] = ""
        let violations = validator.violations(of: e, nowMilliseconds: now)
        #expect(violations == [FieldViolation(field: name, rule: "required", description: "\(name) is required and must not be empty")])
    }

    @Test func overlongAndControlCharacters() {
        var e = event()
        e.tenantID = String(repeating: "t", count: 129)
        e.actorID = "alice\nadmin"
        let violations = validator.violations(of: e, nowMilliseconds: now)
        #expect(violations.map(\.field) == ["tenant_id", "actor_id"])
        #expect(violations.map(\.rule) == ["max_length", "control_characters"])
        #expect(violations[0].description.contains("129 bytes"))
    }

    @Test func blankIdsAndNamesAreRefused() {
        var e = event()
        e.tenantID = "   "
        e.actorID = "\u{3000}\u{A0}"  // ideographic and no-break spaces
        e.metadata = [" ": "v", "ok": "   "]  // a blank key is refused, a blank value is not
        let found = validator.violations(of: e, nowMilliseconds: now).map { "\($0.field) \($0.rule)" }
        #expect(found == ["tenant_id blank", "actor_id blank", "metadata[\" \"] blank"])
    }

    @Test(arguments: ["\u{200B}", "\u{200E}", "\u{200F}", "\u{202A}", "\u{202E}", "\u{2066}", "\u{2069}", "\u{FEFF}", "\u{00AD}", "\u{E0001}"])
    func formatCharactersAreRefused(character: String) {
        var e = event()
        e.tenantID = "acme" + character + "corp"
        e.metadata = ["k" + character: "value" + character]  // values are free text
        let found = validator.violations(of: e, nowMilliseconds: now)
        #expect(found.map(\.rule) == ["format_characters", "format_characters"])
        #expect(found.map(\.field) == ["tenant_id", "metadata[\"k\(character)\"]"])
        let code = String(character.unicodeScalars.first!.value, radix: 16, uppercase: true)
        #expect(found[0].description.contains("U+" + String(repeating: "0", count: max(0, 4 - code.count)) + code))
    }

    @Test func letterAndSymbolsOutsideASCIIPass() {
        var e = event()
        e.tenantID = "müller-日本-😀"
        e.actorID = "حسن"  // right-to-left letters are letters, not format characters
        #expect(validator.violations(of: e, nowMilliseconds: now).isEmpty)
    }

    @Test func timestampRules() {
        var e = event()
        e.timestampMilliseconds = 0
        #expect(validator.violations(of: e, nowMilliseconds: now).map(\.rule) == ["too_old"])
        e.timestampMilliseconds = now / 1000  // seconds by mistake
        let old = validator.violations(of: e, nowMilliseconds: now)
        #expect(old.map(\.rule) == ["too_old"])
        #expect(old[0].description.contains("not seconds"))
        e.timestampMilliseconds = now * 1000  // microseconds by mistake
        let future = validator.violations(of: e, nowMilliseconds: now)
        #expect(future.map(\.rule) == ["not_in_future"])
        #expect(future[0].description.contains("microseconds"))
        e.timestampMilliseconds = now + 3600 * 1000  // one hour of clock skew is fine
        #expect(validator.violations(of: e, nowMilliseconds: now).isEmpty)
    }

    @Test func metadataLimits() {
        var e = event()
        e.metadata = Dictionary(uniqueKeysWithValues: (0 ..< 65).map { ("k\($0)", "v") })
        #expect(validator.violations(of: e, nowMilliseconds: now).map(\.rule) == ["max_entries"])
        e.metadata = ["": "x", "big": String(repeating: "v", count: 4097)]
        let violations = validator.violations(of: e, nowMilliseconds: now)
        #expect(Set(violations.map(\.rule)) == ["required", "max_length"])
        #expect(violations.contains { $0.field == "metadata[\"big\"]" })
    }

    @Test func metadataViolationsComeSortedByKeyWhateverTheDictionaryOrder() {
        var e = event()
        let long = String(repeating: "v", count: 4097)
        e.metadata = ["zz\n": long, "": "x", "ok": "fine", "b\u{7}": "y", String(repeating: "k", count: 129): "z"]
        let fields = validator.violations(of: e, nowMilliseconds: now).map { "\($0.field) \($0.rule)" }
        #expect(fields == [
            "metadata required",
            "metadata[\"b\u{7}\"] control_characters",
            "metadata[\"\(String(repeating: "k", count: 64))\"] max_length",
            "metadata[\"zz\n\"] max_length",
            "metadata[\"zz\n\"] control_characters",
        ])
    }
}

@Suite("UUIDv7")
struct UUIDv7Tests {
    @Test func formatVersionVariantAndTimeOrder() {
        let first = UUIDv7.make(milliseconds: 1_700_000_000_000)
        let second = UUIDv7.make(milliseconds: 1_700_000_000_001)
        #expect(first.count == 36)
        #expect(first.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
        #expect(Array(first)[14] == "7")
        #expect("89ab".contains(Array(first)[19]))
        #expect(first < second)
        #expect(first.hasPrefix("018bcfe5-6800"))
        #expect(UUIDv7.make() != UUIDv7.make())
    }
}

@Suite("Control characters")
struct ControlCharacterTests {
    @Test func theByteCheckAgreesWithUnicodeForEveryScalar() {
        var mismatches: [UInt32] = []
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }  // surrogates
            let text = "a" + String(Character(scalar)) + "b"
            if EventValidator.containsControlCharacter(text) != (scalar.properties.generalCategory == .control) {
                mismatches.append(value)
            }
        }
        #expect(mismatches.isEmpty)
    }
}
