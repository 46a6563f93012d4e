import Testing

@testable import AuditSimulator

@Suite("Timestamps, JSON text, arguments, metrics")
struct SupportTests {
    // Vectors from Tests/LegacyMappingTests/Corpus (checked there with Python's datetime and
    // email.utils) and from Python's datetime for the month boundaries.
    @Test func iso8601UTC() {
        #expect(CivilTime.iso8601UTC(1_795_076_130_000) == "2026-11-19T08:15:30.000Z")
        #expect(CivilTime.iso8601UTC(1_795_089_600_123, fractionDigits: 6) == "2026-11-19T12:00:00.123000Z")
        #expect(CivilTime.iso8601UTC(0, fractionDigits: 0) == "1970-01-01T00:00:00Z")
    }

    @Test func offsetsAndZonelessTimes() {
        #expect(CivilTime.iso8601(1_795_083_753_456, offsetSeconds: 3600) == "2026-11-19T11:22:33.456+01:00")
        #expect(CivilTime.zoneless(1_795_078_800_000, offsetSeconds: 3600) == "2026-11-19 10:00:00")
        #expect(CivilTime.zoneless(1_795_075_198_000) == "2026-11-19 07:59:58")
        #expect(CivilTime.iso8601(0, offsetSeconds: -5 * 3600 - 1800) == "1969-12-31T18:30:00.000-05:30")
    }

    @Test func rfc2822() {
        #expect(CivilTime.rfc2822(1_795_077_000_000, offsetSeconds: 3600) == "Thu, 19 Nov 2026 09:30:00 +0100")
        #expect(CivilTime.rfc2822(1_709_251_199_000) == "Thu, 29 Feb 2024 23:59:59 +0000")
    }

    @Test func epochSeconds() {
        #expect(CivilTime.epochSecondsText(1_795_046_400_250) == "1795046400.25")
        #expect(CivilTime.epochSecondsText(1_795_046_460_000) == "1795046460")
        #expect(CivilTime.epochSecondsText(1_795_046_470_001) == "1795046470.001")
    }

    @Test func monthRanges() {
        let november = CivilTime.monthRange(containing: 1_795_132_800_000)
        #expect(november.from == 1_793_491_200_000)
        #expect(november.to == 1_796_083_200_000)
        #expect(CivilTime.monthRange(containing: 1_798_718_400_000).to == 1_798_761_600_000)
        #expect(CivilTime.day(1_796_083_200_000 - 1) == "2026-11-30")
    }

    @Test func jsonTextKeepsOrderNumbersAndEscapes() {
        let json = JSONText.object([
            ("b", .int(9_007_199_254_740_993)),
            ("a", .string("quote \" backslash \\ nul \u{0} tab \t é")),
            ("c", .array([.number("1795046400.25"), .bool(false), .null])),
        ])
        #expect(json.text == #"{"b":9007199254740993,"a":"quote \" backslash \\ nul \u0000 tab \t é","c":[1795046400.25,false,null]}"#)
    }

    @Test func durationsAndAddresses() {
        #expect(SimulationArguments.seconds("60s") == 60)
        #expect(SimulationArguments.seconds("90") == 90)
        #expect(SimulationArguments.seconds("1m30s") == 90)
        #expect(SimulationArguments.seconds("1500ms") == 1.5)
        #expect(SimulationArguments.seconds("2h") == 7200)
        #expect(SimulationArguments.seconds("") == nil)
        #expect(SimulationArguments.seconds("10x") == nil)
        #expect(SimulationArguments.seconds("s") == nil)
        #expect(SimulationArguments.seconds("1m30") == nil)
        #expect(SimulationArguments.hostAndPort("127.0.0.1:50051").map { "\($0.host) \($0.port)" } == "127.0.0.1 50051")
        #expect(SimulationArguments.hostAndPort("[::1]:8080").map { "\($0.host) \($0.port)" } == "::1 8080")
        #expect(SimulationArguments.hostAndPort("localhost") == nil)
        #expect(SimulationArguments.hostAndPort(":80") == nil)
        #expect(SimulationArguments.hostAndPort("h:70000") == nil)
    }

    @Test func configurationValidation() throws {
        var configuration = SimulationConfiguration(run: RunIdentity(runID: "abc123"))
        try configuration.validate()
        configuration.rate = 0
        #expect(throws: SimulationConfiguration.Problem.self) { try configuration.validate() }
        configuration.rate = 10
        configuration.run = RunIdentity(runID: "Bad-ID")
        #expect(throws: SimulationConfiguration.Problem.self) { try configuration.validate() }
    }

    @Test func prometheusSamples() {
        let text = """
            # HELP auditpipe_sink_lag_seconds Lag.
            # TYPE auditpipe_sink_lag_seconds gauge
            auditpipe_sink_lag_seconds{partition="0"} 0.25
            auditpipe_sink_lag_seconds{partition="1",topic="a b"} 3.5
            auditpipe_sink_lag_seconds_count 7
            auditpipe_sink_dead_letters_total 2 1700000000000
            """
        #expect(PrometheusText.samples(named: "auditpipe_sink_lag_seconds", in: text) == [0.25, 3.5])
        #expect(PrometheusText.samples(named: "auditpipe_sink_dead_letters_total", in: text) == [2])
        #expect(PrometheusText.samples(named: "auditpipe_consumer_lag_seconds", in: text).isEmpty)
    }

    @Test func seededRandomIsDeterministicAndDerivedStreamsDiffer() {
        var a = SeededRandom(seed: 42)
        var b = SeededRandom(seed: 42)
        #expect((0..<5).map { _ in a.next() } == (0..<5).map { _ in b.next() })
        var x = SeededRandom(seed: 42).derived("0:portal-web")
        var y = SeededRandom(seed: 42).derived("1:docs-api")
        #expect(x.next() != y.next())
    }
}
