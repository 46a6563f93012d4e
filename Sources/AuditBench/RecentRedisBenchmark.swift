import Foundation

/// `redis-benchmark` as the ceiling of RecentEvents: the same read on the same key, from the
/// same machine, with the same number of requests and connections.
package enum RedisBenchmarkRun {
    /// One line of `redis-benchmark --csv`.
    package struct Result: Sendable, Hashable {
        /// The command as redis-benchmark names it.
        package var test: String
        package var requestsPerSecond: Double
        package var averageMilliseconds: Double
        package var p50Milliseconds: Double
        package var p95Milliseconds: Double
        package var p99Milliseconds: Double
        package var maxMilliseconds: Double
    }

    /// Parses `redis-benchmark --csv` output (Redis 7: a header line, then one quoted line per
    /// test; the test name may hold commas and doubled quotes).
    ///
    /// - Throws: ``BenchSetupError`` when a column is missing or not a number.
    package static func parseCSV(_ text: String) throws(BenchSetupError) -> [Result] {
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map(String.init).filter { !$0.isEmpty }
        guard let headerLine = lines.first else { throw BenchSetupError("redis-benchmark printed nothing") }
        let header = csvFields(headerLine)
        func column(_ name: String) throws(BenchSetupError) -> Int {
            guard let index = header.firstIndex(of: name) else {
                throw BenchSetupError("redis-benchmark's CSV has no column \(name) (header: \(headerLine)); Redis 7 or later is needed")
            }
            return index
        }
        let test = try column("test"), rps = try column("rps"), avg = try column("avg_latency_ms")
        let p50 = try column("p50_latency_ms"), p95 = try column("p95_latency_ms"), p99 = try column("p99_latency_ms")
        let max = try column("max_latency_ms")
        var results: [Result] = []
        for line in lines.dropFirst() {
            let fields = csvFields(line)
            guard fields.count == header.count else { throw BenchSetupError("redis-benchmark CSV line has \(fields.count) fields, expected \(header.count): \(line)") }
            func number(_ index: Int) throws(BenchSetupError) -> Double {
                guard let value = Double(fields[index]) else { throw BenchSetupError("'\(fields[index])' in column \(header[index]) is not a number") }
                return value
            }
            results.append(Result(
                test: fields[test], requestsPerSecond: try number(rps), averageMilliseconds: try number(avg),
                p50Milliseconds: try number(p50), p95Milliseconds: try number(p95), p99Milliseconds: try number(p99),
                maxMilliseconds: try number(max)
            ))
        }
        return results
    }

    /// Splits one CSV line: fields optionally in double quotes, `""` inside quotes is one quote.
    package static func csvFields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var iterator = Array(line).makeIterator()
        var pending: Character? = nil
        while let character = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else { quoted = false; pending = next }
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }

    /// The `redis-benchmark` arguments for `requests` requests of `command` over `connections`
    /// connections (no pipelining), CSV output.
    package static func arguments(host: String, port: Int, password: String?, requests: Int, connections: Int, command: [String]) -> [String] {
        var arguments = ["-h", host, "-p", String(port), "-n", String(requests), "-c", String(connections), "--csv"]
        if let password, !password.isEmpty { arguments += ["-a", password, "--no-auth-warning"] }
        return arguments + command
    }

    /// Runs redis-benchmark (found on `PATH`) and parses its one result.
    package static func run(arguments: [String]) async throws -> Result {
        let output = try await Subprocess.run(executable: "/usr/bin/env", arguments: ["redis-benchmark"] + arguments)
        guard output.succeeded else {
            throw BenchSetupError("redis-benchmark failed (status \(output.status)): \(output.standardError)\(output.standardOutput); install it with apt-get install redis-tools")
        }
        guard let result = try parseCSV(output.standardOutput).first else {
            throw BenchSetupError("redis-benchmark printed no result: \(output.standardOutput)")
        }
        return result
    }
}
