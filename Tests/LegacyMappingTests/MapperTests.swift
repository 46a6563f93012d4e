import Foundation
import AuditEvents
import LegacyMapping
import Testing

@Suite struct MapperTests {
    static let now: Int64 = 1_795_132_800_000

    static let rulesText = """
        version: 1
        sources:
          - name: svc
            tenant: {path: org, default: acme}
            event_id: {derive: content_hash}
            timestamp: {path: ts, format: iso8601}
            fields:
              actor_id: {path: [user, user_name]}
              resource: {constant: session}
            value_maps:
              - path: op
                cases:
                  login: {event_type: auth, action: login}
                  "1": {event_type: auth, action: numeric_code}
            metadata:
              unmapped: all
              exclude: [secret, "items[1].token"]
              set:
                ip: {path: $.meta.ip}
                origin: {constant: legacy}
          - name: kafka-svc
            tenant: {constant: acme}
            event_id: {derive: position}
            timestamp: {path: ts, format: epoch_milliseconds, missing: received_time}
            fields:
              actor_id: {path: user}
              event_type: {constant: auth}
              resource: {constant: session}
              action: {path: op, map: {in: login, out: logout}}
            metadata: {unmapped: [extra]}
        """

    static let rules: LegacyRuleSet = try! LegacyRuleSet.parse(yaml: rulesText)

    func map(_ json: String, source: String = "svc", position: LegacySourcePosition? = nil, index: Int = 0) -> Result<AuditEvent, LegacyRejection> {
        let bytes = Array(json.utf8)
        let value = try! LegacyPayload.split(bytes).get().items[0].value.get()
        return LegacyMapper(rules: Self.rules[source: source]!).map(value, context: LegacyRecordContext(
            rawBytes: bytes, position: position, itemIndex: index, receivedAtMilliseconds: 1_795_000_000_000, nowMilliseconds: Self.now
        ))
    }

    @Test func contentHashIDsAreSHA256OfTheBytesAndStable() throws {
        // Expected value computed independently with Python's hashlib (see Corpus/README.md).
        let json = #"{"user":"u1","ts":"2026-11-19T08:00:00Z","op":"login"}"#
        let event = try map(json).get()
        #expect(event.eventID == "svc:c90ec0d4f62cc9e7b9c38d37ae1e0506dcd1062178b5b9da241125279349011d")
        #expect(try map(json).get().eventID == event.eventID)
        #expect(try map(json.replacingOccurrences(of: "u1", with: "u2")).get().eventID != event.eventID)
        #expect(event == AuditEvent(
            eventID: event.eventID, tenantID: "acme", actorID: "u1", eventType: "auth", resource: "session",
            action: "login", timestampMilliseconds: 1_795_075_200_000, metadata: ["origin": "legacy"]
        ))
    }

    /// The same record yields the same content-hash id whether it arrives alone, in an array or
    /// as an NDJSON line (surrounding whitespace and line endings are not part of its bytes).
    @Test func contentHashIDsDoNotDependOnHowTheRecordWasFramed() throws {
        let record = #"{"user":"u1","ts":"2026-11-19T08:00:00Z","op":"login"}"#
        let mapper = LegacyMapper(rules: Self.rules[source: "svc"]!)
        func ids(_ body: String) throws -> [String] {
            try mapper.mapPayload(Array(body.utf8), receivedAtMilliseconds: 0, nowMilliseconds: Self.now).get().map { try $0.result.get().eventID }
        }
        let expected = "svc:c90ec0d4f62cc9e7b9c38d37ae1e0506dcd1062178b5b9da241125279349011d"
        #expect(try ids(record + "\n") == [expected])
        #expect(try ids("[ " + record + " ,\n " + record + "]") == [expected, expected])
        let ndjson = try ids(#"{"user":"u0","ts":"2026-11-19T08:00:00Z","op":"login"}"# + "\r\n" + record + "\r\n")
        #expect(ndjson.count == 2 && ndjson[0] != expected && ndjson[1] == expected)
    }

    @Test func positionIDsDependOnTopicPartitionOffsetAndIndex() throws {
        let json = #"{"user":"u1","op":"in","ts":1795075200000}"#
        let position = LegacySourcePosition(topic: "legacy.svc", partition: 3, offset: 1234)
        // Python hashlib, as above; the source name inside the hash is `kafka-svc` here, so the
        // ids differ from a `svc` source at the same position.
        let first = try map(json, source: "kafka-svc", position: position, index: 0).get()
        let second = try map(json, source: "kafka-svc", position: position, index: 1).get()
        #expect(first.eventID == "kafka-svc:34093bf458816a6ab387780f8f8af330995858cb317b1328bf0e5c1ef24b36b1")
        #expect(first.eventID != second.eventID)
        #expect(try map(json, source: "kafka-svc", position: position, index: 0).get().eventID == first.eventID)
        let other = LegacySourcePosition(topic: "legacy.svc", partition: 3, offset: 1235)
        #expect(try map(json, source: "kafka-svc", position: other).get().eventID != first.eventID)
        // Without a position (HTTP), the rule cannot produce an id.
        let rejection = try #require(map(json, source: "kafka-svc").failure)
        #expect(rejection.stage == .map)
        #expect(rejection.reasons.map(\.rule) == ["position"])
        #expect(rejection.reasons.map(\.field) == ["event_id"])
    }

    @Test func missingTimestampUsesTheReceivedTimeOnlyWhenTheRuleSaysSo() throws {
        let position = LegacySourcePosition(topic: "t", partition: 0, offset: 0)
        #expect(try map(#"{"user":"u1","op":"out"}"#, source: "kafka-svc", position: position).get().timestampMilliseconds == 1_795_000_000_000)
        let rejection = try #require(map(#"{"user":"u1","op":"login"}"#).failure)
        #expect(rejection.reasons == [FieldViolation(field: "timestamp_ms", rule: "required", description: "the timestamp comes from `ts`, which is absent, null or empty; the rule does not allow the received time instead")])
    }

    @Test func metadataCopiesUnusedLeavesDeterministically() throws {
        let json = #"""
            {"user":null,"user_name":"u9","org":"","ts":"2026-11-19T08:00:00Z","op":1,
             "meta":{"ip":"192.0.2.1","agent":{"name":"curl","version":8.5}},
             "tags":["a","b"],"items":[{"id":1,"token":"t1"},{"id":2,"token":"t2"}],
             "secret":"hunter2","flag":false,"nothing":null,"empty":{},"odd.key":"x"}
            """#
        let event = try map(json).get()
        #expect(event.actorID == "u9")  // first path is null: the second one is used
        #expect(event.tenantID == "acme")  // "" counts as absent: the default applies
        #expect(event.action == "numeric_code")  // value-map keys compare as text: 1 == "1"
        #expect(event.metadata == [
            "ip": "192.0.2.1",
            "origin": "legacy",
            "meta.agent.name": "curl",
            "meta.agent.version": "8.5",
            "tags": #"["a","b"]"#,
            "items[0].id": "1",
            "items[0].token": "t1",
            "items[1].id": "2",
            "flag": "false",
            "empty": "{}",
            #"["odd.key"]"#: "x",
        ])
    }

    @Test func allReasonsAreReportedTogetherWithoutDuplicates() throws {
        let json = #"{"user":{"id":5},"ts":"yesterday","op":"logout","org":"t\u0001x"}"#
        let rejection = try #require(map(json).failure)
        #expect(rejection.stage == .map)
        #expect(rejection.reasons.map { "\($0.field) \($0.rule)" } == [
            "actor_id type",
            "event_type value_map",
            "action value_map",
            "timestamp_ms timestamp_format",
            "tenant_id control_characters",
        ])
        #expect(rejection.reasons[0].description == "actor_id comes from `user`, which is an object; expected a string or an integer")
        #expect(rejection.reasons[1].description == #"value "logout" of `op` has no case in the value map that sets event_type and action (known: "1", "login"), and the map has no default; add a case to the rules or fix the producer"#)
    }

    @Test func validationOnlyProblemsHaveStageValidateAndMatchEventValidator() throws {
        let json = #"{"user":"\#(String(repeating: "u", count: 300))","ts":"2030-01-01T00:00:00Z","op":"login"}"#
        let rejection = try #require(map(json).failure)
        #expect(rejection.stage == .validate)
        let event = AuditEvent(
            eventID: "x", tenantID: "acme", actorID: String(repeating: "u", count: 300), eventType: "auth",
            resource: "session", action: "login", timestampMilliseconds: 1_893_456_000_000, metadata: ["origin": "legacy"]
        )
        #expect(rejection.reasons == EventValidator().violations(of: event, nowMilliseconds: Self.now))
        #expect(rejection.reasons.map(\.rule) == ["max_length", "not_in_future"])
    }

    @Test func nonObjectsAreRefused() throws {
        let value = LegacyJSON.array([.number("1")])
        let result = LegacyMapper(rules: Self.rules[source: "svc"]!).map(value, context: LegacyRecordContext(rawBytes: [], receivedAtMilliseconds: 0, nowMilliseconds: Self.now))
        #expect(result.failure == LegacyRejection(stage: .parse, reasons: [FieldViolation(field: "event", rule: "not_object", description: "each legacy event must be a JSON object; got an array")]))
    }

    @Test func pathsResolveNestedArraysNegativeIndicesAndQuotedKeys() throws {
        let doc = try LegacyPayload.split(Array(#"{"a":{"b c":[{"x":1},{"x":2}]}}"#.utf8)).get().items[0].value.get()
        #expect(try LegacyPath(parsing: #"a["b c"][1].x"#).resolve(in: doc)?.value == .number("2"))
        #expect(try LegacyPath(parsing: #"$.a['b c'][-1].x"#).resolve(in: doc)?.concrete.description == #"a["b c"][1].x"#)
        #expect(try LegacyPath(parsing: "a.missing").resolve(in: doc) == nil)
        #expect(try LegacyPath(parsing: #"a["b c"][2]"#).resolve(in: doc) == nil)
        #expect(try LegacyPath(parsing: "a.b").resolve(in: doc) == nil)
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
