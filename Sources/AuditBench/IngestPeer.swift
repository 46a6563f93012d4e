import Foundation

/// Runs `Deploy/bench/confluent_peer.py` (Confluent's Python `AvroSerializer` + `Producer`) as a
/// child process and reads its measurement.
package struct ConfluentPeer: Sendable {
    /// The Python interpreter with `confluent-kafka[avro,schemaregistry]` (`$AUDITPIPE_PYTHON`).
    package var python: String
    /// The peer script.
    package var script: String
    package var brokers: [String]
    package var topic: String
    package var registryURL: String
    package var subject: String
    /// The JSON file of event templates (``BenchEventCorpus/templatesJSON()``).
    package var eventsFile: String

    package init(python: String, script: String, brokers: [String], topic: String, registryURL: String, subject: String, eventsFile: String) {
        self.python = python
        self.script = script
        self.brokers = brokers
        self.topic = topic
        self.registryURL = registryURL
        self.subject = subject
        self.eventsFile = eventsFile
    }

    /// Open loop at `rate` events/s for `durationSeconds`.
    package func runAtRate(_ rate: Double, durationSeconds: Double) async throws -> LoadMeasurement {
        try await run(["--mode", "rate", "--rate", String(rate), "--duration", String(durationSeconds)])
    }

    /// As fast as possible for `durationSeconds` with at most `window` unacknowledged events.
    package func runMax(durationSeconds: Double, window: Int) async throws -> LoadMeasurement {
        try await run(["--mode", "max", "--window", String(window), "--duration", String(durationSeconds)])
    }

    private func run(_ modeArguments: [String]) async throws -> LoadMeasurement {
        let output = try await Subprocess.run(
            executable: python,
            arguments: [
                script, "--brokers", brokers.joined(separator: ","), "--topic", topic,
                "--registry-url", registryURL, "--subject", subject, "--events", eventsFile,
            ] + modeArguments
        )
        guard output.succeeded else {
            throw BenchError("the Confluent peer (\(script)) failed with status \(output.status): \(output.standardError.suffix(2000))")
        }
        guard let line = output.standardOutput.split(separator: "\n").last else {
            throw BenchError("the Confluent peer printed nothing; stderr: \(output.standardError.suffix(2000))")
        }
        return try Self.parse(String(line))
    }

    /// Reads the peer's JSON result line.
    package static func parse(_ line: String) throws(BenchError) -> LoadMeasurement {
        struct Latency: Decodable {
            var count: UInt64
            var min: UInt64
            var p50: UInt64
            var p90: UInt64
            var p99: UInt64
            var p999: UInt64
            var max: UInt64
            var mean: Double
        }
        struct Output: Decodable {
            var label: String
            var sent: Int
            var succeeded: Int
            var failed: Int
            var elapsed_s: Double
            var max_lag_ns: UInt64
            var latency_ns: Latency?
            var first_error: String?
        }
        let decoded: Output
        do {
            decoded = try JSONDecoder().decode(Output.self, from: Data(line.utf8))
        } catch {
            throw BenchError("cannot read the Confluent peer's result `\(line.prefix(300))`: \(error)")
        }
        var measurement = LoadMeasurement(
            label: decoded.label, sent: decoded.sent, succeeded: decoded.succeeded, failed: decoded.failed,
            elapsedSeconds: decoded.elapsed_s,
            latency: decoded.latency_ns.map {
                LatencySummary(
                    count: $0.count, minNanoseconds: $0.min, p50Nanoseconds: $0.p50, p90Nanoseconds: $0.p90,
                    p99Nanoseconds: $0.p99, p999Nanoseconds: $0.p999, maxNanoseconds: $0.max, meanNanoseconds: $0.mean
                )
            },
            firstError: decoded.first_error
        )
        measurement.maxScheduleLagNanoseconds = decoded.max_lag_ns
        return measurement
    }
}
