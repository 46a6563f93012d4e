import AuditEvents
import LegacyMapping
import Testing

@Suite struct IntakeTests {
    func split(_ text: String, _ format: LegacyPayloadFormat = .auto, limits: LegacyIntakeLimits = LegacyIntakeLimits()) -> Result<LegacyPayload, LegacyPayloadError> {
        LegacyPayload.split(Array(text.utf8), format: format, limits: limits)
    }

    func rules(_ item: LegacyItem) -> [String] {
        switch item.value {
        case .success: ["ok"]
        case .failure(let rejection): rejection.reasons.map(\.rule)
        }
    }

    @Test func detectsObjectsPrettyObjectsArraysAndNDJSON() throws {
        #expect(try split(#"{"a":1}"#).get().format == .object)
        #expect(try split("{\n  \"a\": 1,\n  \"b\": [1,\n 2]\n}\n").get().format == .object)
        #expect(try split(" [ {\"a\":1} , {\"a\":2} ] ").get().format == .array)
        let ndjson = try split("{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":3}").get()
        #expect(ndjson.format == .ndjson)
        #expect(ndjson.items.map(\.line) == [1, 3, 4])
        #expect(ndjson.items.map(\.index) == [0, 1, 2])
        #expect(ndjson.items[1].bytes == Array(#"{"a":2}"#.utf8))
        // A broken first line does not turn NDJSON into one broken object, when line 1 is whole.
        let brokenLater = try split("{\"a\":1}\n{\"a\":\n{\"a\":3}\n").get()
        #expect(brokenLater.format == .ndjson)
        #expect(brokenLater.items.map(rules) == [["ok"], ["syntax"], ["ok"]])
        // A broken pretty-printed object stays one item with one reason.
        let brokenObject = try split("{\n  \"a\": 1,\n  \"b\": \n}\n").get()
        #expect(brokenObject.format == .object)
        #expect(brokenObject.items.count == 1)
        #expect(brokenObject.items[0].value.failure?.reasons == [FieldViolation(field: "event", rule: "syntax", description: "not valid JSON at byte 20: unexpected character '}'")])
    }

    @Test func invalidUTF8RejectsOnlyItsOwnEvent() throws {
        var bytes = Array(#"[{"a":"ok"},{"a":"caf"#.utf8)
        bytes.append(0xE9)
        bytes += Array(#""},{"b":"\u00e9"}]"#.utf8)
        let payload = try LegacyPayload.split(bytes).get()
        #expect(payload.items.map(rules) == [["ok"], ["utf8"], ["ok"]])
        #expect(payload.items[1].value.failure?.reasons.first?.description == "the string at byte 5 is not valid UTF-8; JSON must be UTF-8 (check the producer's encoding, e.g. Latin-1)")
        #expect(payload.items[1].bytes == Array(bytes[12..<24]))
        #expect(payload.items[2].value == .success(.object({ var o = LegacyJSONObject(); o.set("b", .string("é")); return o }())))
        // Overlong encodings and lone continuation bytes are invalid too.
        for bad: [UInt8] in [[0xC0, 0xAF], [0x80], [0xED, 0xA0, 0x80]] {
            let line = Array(#"{"a":""#.utf8) + bad + Array(#""}"#.utf8)
            #expect(try LegacyPayload.split(line).get().items.map(rules) == [["utf8"]])
        }
        // Outside strings, a stray byte breaks the structure: a syntax error, not a crash.
        #expect(try LegacyPayload.split([0xFF, 0xFE] + Array(#"{"a":1}"#.utf8)).get().items.map(rules) == [["syntax"]])
    }

    @Test func limitsRefuseWithReasons() throws {
        var limits = LegacyIntakeLimits()
        limits.maxPayloadBytes = 100
        limits.maxEventBytes = 20
        limits.maxEvents = 2
        limits.maxNestingDepth = 3
        let tooBig = try #require(split(String(repeating: " ", count: 101), limits: limits).failure)
        #expect(tooBig.isTooLarge)
        #expect(tooBig.reason == FieldViolation(field: "payload", rule: "max_size", description: "the payload is 101 bytes; the limit is 100 bytes; send fewer events per request"))
        let tooMany = try #require(split("[{},{},{}]", limits: limits).failure)
        #expect(tooMany.isTooLarge && tooMany.reason.rule == "max_events")
        #expect(try #require(split("{}\n{}\n{}\n", limits: limits).failure).reason.rule == "max_events")
        let oversized = try split("{\"a\":1}\n{\"a\":\"0123456789012345\"}", limits: limits).get()
        #expect(oversized.items.map(rules) == [["ok"], ["max_size"]])
        #expect(oversized.items[1].bytes.count == 24)
        #expect(try split("[[[[1]]]]", .ndjson, limits: limits).get().items.map(rules) == [["max_depth"]])
        #expect(try #require(split("[{\"a\":[[[1]]]}]", limits: limits).failure).reason.rule == "max_depth")
        #expect(try #require(split("   \n ").failure).reason.rule == "empty")
        #expect(try split("[]").get().items.isEmpty)
        #expect(try #require(split("[{\"a\":1},").failure).reason == FieldViolation(field: "payload", rule: "syntax", description: "the payload is not a valid JSON array (byte 9): unexpected end of JSON text; no event of it was read"))
    }

    @Test func duplicateKeysNumbersAndEscapesAreReadExactly() throws {
        #expect(try split(#"{"a":1,"a":2}"#).get().items.map(rules) == [["syntax"]])
        let value = try split(#"{"n":12345678901234567890,"f":-0.5e-3,"s":"\ud83d\ude00\n\"","t":true,"z":null}"#).get().items[0].value.get()
        #expect(value.canonicalText == #"{"f":-0.5e-3,"n":12345678901234567890,"s":"😀\n\"","t":true,"z":null}"#)
        #expect(try split(#"{"s":"\ud83d"}"#).get().items.map(rules) == [["syntax"]])
        #expect(try split("\u{FEFF}{\"a\":1}").get().items.map(rules) == [["ok"]])
    }

    /// The legacy texts' string literals, from the package's one JSON writer: DEL is escaped
    /// here (as it always was in stored metadata), not in Avro's canonical form.
    @Test func stringLiteralsEscapeDeleteAndControlCharacters() throws {
        #expect(LegacyJSONWriter.string("a\u{7F}b\"\\\n\u{01}é") == #""a\u007fb\"\\\n\u0001é""#)
        #expect(LegacyJSONWriter.string("plain") == #""plain""#)
        #expect(try split(#"{"k":"\u007f"}"#).get().items[0].value.get().canonicalText == #"{"k":"\u007f"}"#)
    }

    @Test func mapPayloadMapsEachEventIndependently() throws {
        let rules = try LegacyRuleSet.parse(yaml: MapperTests.rulesText)
        let mapper = LegacyMapper(rules: try #require(rules[source: "svc"]))
        let body = """
            {"user":"u1","ts":"2026-11-19T08:00:00Z","op":"login"}
            not json
            {"user":"u2","ts":"2026-11-19T08:00:01Z","op":"login"}
            """
        let outcomes = try mapper.mapPayload(Array(body.utf8), receivedAtMilliseconds: 0, nowMilliseconds: MapperTests.now).get()
        #expect(outcomes.map(\.index) == [0, 1, 2])
        #expect(outcomes.map { (try? $0.result.get())?.actorID } == ["u1", nil, "u2"])
        #expect(outcomes[1].bytes == Array("not json".utf8))
        #expect(outcomes[1].result.failure?.stage == .parse)
    }
}
