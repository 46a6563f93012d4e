import AuditEvents
import Foundation
import LegacyMapping
import Testing

/// Runs every file of the corpus (Corpus/<source>/<file>) through the intake splitter and the
/// mapper with the real rule file (Deploy/legacy-rules.yaml) and compares the output, line by
/// line, with the golden file next to it (<file>.expected).
///
/// The goldens were written by `LEGACY_CORPUS_RECORD=1 swift test --filter CorpusTests` and then
/// checked by hand and against independent oracles (see Corpus/README.md); re-record only when a
/// rule or a message changes on purpose, and review the diff.
@Suite struct CorpusTests {
    /// The fixed clock of the corpus: 2026-11-20T00:00:00Z.
    static let now: Int64 = 1_795_132_800_000
    /// Every corpus file is mapped as if the bridge read it at this position.
    static func position(_ source: String) -> LegacySourcePosition {
        LegacySourcePosition(topic: "legacy.\(source)", partition: 0, offset: 42)
    }

    static let testDirectory = URL(filePath: #filePath).deletingLastPathComponent()
    static let corpus = testDirectory.appending(path: "Corpus")
    static let rulesFile = testDirectory.deletingLastPathComponent().deletingLastPathComponent().appending(path: "Deploy/legacy-rules.yaml")

    static func inputs() throws -> [(source: String, file: URL)] {
        let fm = FileManager.default
        var result: [(String, URL)] = []
        for source in try fm.contentsOfDirectory(atPath: corpus.path).sorted() {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: corpus.appending(path: source).path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            for name in try fm.contentsOfDirectory(atPath: corpus.appending(path: source).path).sorted() where !name.hasSuffix(".expected") {
                result.append((source, corpus.appending(path: source).appending(path: name)))
            }
        }
        return result
    }

    static func run(source: String, file: URL, rules: LegacyRuleSet) throws -> String {
        let sourceRules = try #require(rules[source: source], "no rules for corpus source \(source)")
        let bytes = try Array(Data(contentsOf: file))
        let result = LegacyMapper(rules: sourceRules).mapPayload(
            bytes, position: position(source), receivedAtMilliseconds: now, nowMilliseconds: now
        )
        return LegacyOutput.render(result).text
    }

    @Test func theCorpusHasTwelveServicesAndTheRuleFileCoversExactlyThem() throws {
        let rules = try LegacyRuleSet.load(contentsOfFile: Self.rulesFile.path)
        let services = Set(try Self.inputs().map(\.source))
        #expect(services.count == 12)
        #expect(Set(rules.sources.map(\.name)) == services)
    }

    @Test func everyCorpusFileMatchesItsGoldenOutput() throws {
        let rules = try LegacyRuleSet.load(contentsOfFile: Self.rulesFile.path)
        let record = ProcessInfo.processInfo.environment["LEGACY_CORPUS_RECORD"] == "1"
        let inputs = try Self.inputs()
        #expect(inputs.count >= 16)
        for (source, file) in inputs {
            let actual = try Self.run(source: source, file: file, rules: rules)
            let golden = file.appendingPathExtension("expected")
            if record {
                try Data(actual.utf8).write(to: golden)
                continue
            }
            let expected = try String(contentsOf: golden, encoding: .utf8)
            let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
            let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(actualLines.count == expectedLines.count, "\(source)/\(file.lastPathComponent): \(actualLines.count) lines, golden has \(expectedLines.count)")
            for (i, (a, e)) in zip(actualLines, expectedLines).enumerated() where a != e {
                Issue.record("\(source)/\(file.lastPathComponent) line \(i + 1) differs from the golden file\n  actual:   \(a)\n  expected: \(e)")
            }
        }
        #expect(!record, "recorded the golden files; review them and run again without LEGACY_CORPUS_RECORD")
    }

    /// Truncated and byte-mutated corpus inputs never trap: every one ends as events or reasons.
    @Test func mutatedInputsNeverTrap() throws {
        let rules = try LegacyRuleSet.load(contentsOfFile: Self.rulesFile.path)
        var random = SplitMix64(seed: 0x5EED)
        for (source, file) in try Self.inputs() {
            let original = try Array(Data(contentsOf: file))
            guard original.count < 64 * 1024 else { continue }
            let mapper = LegacyMapper(rules: try #require(rules[source: source]))
            for _ in 0..<150 {
                var bytes = original
                switch random.next() % 3 {
                case 0: bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count + 1))))
                case 1:
                    for _ in 0..<(1 + random.next() % 4) { bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next()) }
                default:
                    let at = Int(random.next() % UInt64(bytes.count))
                    let interesting: [UInt8] = [0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0x0A, 0xFF, 0xC3, 0x2C, 0x3A]
                    bytes.insert(interesting[Int(random.next() % UInt64(interesting.count))], at: at)
                }
                switch mapper.mapPayload(bytes, position: Self.position(source), receivedAtMilliseconds: Self.now, nowMilliseconds: Self.now) {
                case .failure(let error): #expect(!error.reason.description.isEmpty)
                case .success(let outcomes):
                    for outcome in outcomes {
                        if case .failure(let rejection) = outcome.result { #expect(!rejection.reasons.isEmpty) }
                    }
                }
            }
        }
    }

    /// Every event of the corpus is accounted for: accepted or rejected with at least one reason,
    /// and the tally adds up.
    @Test func nothingIsLostAndTheTallyAddsUp() throws {
        let rules = try LegacyRuleSet.load(contentsOfFile: Self.rulesFile.path)
        var tally = LegacyConformanceTally()
        var events = 0
        for (source, file) in try Self.inputs() {
            let bytes = try Array(Data(contentsOf: file))
            let mapper = LegacyMapper(rules: try #require(rules[source: source]))
            switch mapper.mapPayload(bytes, position: Self.position(source), receivedAtMilliseconds: Self.now, nowMilliseconds: Self.now) {
            case .failure(let error):
                Issue.record("\(file.lastPathComponent): payload refused: \(error)")
            case .success(let outcomes):
                for outcome in outcomes {
                    events += 1
                    switch outcome.result {
                    case .success(let event):
                        #expect(EventValidator().violations(of: event, nowMilliseconds: Self.now).isEmpty)
                        tally.recordAccepted(source: source)
                    case .failure(let rejection):
                        #expect(!rejection.reasons.isEmpty)
                        #expect(!outcome.bytes.isEmpty)
                        tally.recordQuarantined(source: source, reasons: rejection.reasons)
                    }
                }
            }
        }
        let counted = tally.sources.values.reduce(0) { $0 + $1.accepted + $1.quarantined }
        #expect(counted == events)
        #expect(tally.sources.count == 12)
        // Every service has at least one accepted event; and at least one refused.
        #expect(tally.sources.values.allSatisfy { $0.accepted > 0 })
        #expect(tally.sources.values.filter { $0.quarantined > 0 }.count == 12)
    }
}

