import AuditBench
import Testing

@Suite("bench recent: redis-benchmark output")
struct RecentRedisBenchmarkTests {
    @Test("parses redis-benchmark 7 CSV, with commas and quotes inside the test name")
    func parsesCSV() throws {
        let output = """
            "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
            "EVAL local ids = redis.call('ZRANGE', KEYS[1], -1) ""x"" 2 a b 100","38461.54","0.069","0.008","0.039","0.071","0.975","5.023"
            """
        let results = try RedisBenchmarkRun.parseCSV(output)
        #expect(results.count == 1)
        #expect(results[0].test == "EVAL local ids = redis.call('ZRANGE', KEYS[1], -1) \"x\" 2 a b 100")
        #expect(results[0].requestsPerSecond == 38461.54)
        #expect(results[0].p50Milliseconds == 0.039)
        #expect(results[0].p95Milliseconds == 0.071)
        #expect(results[0].p99Milliseconds == 0.975)
        #expect(results[0].maxMilliseconds == 5.023)
    }

    @Test("an old redis-benchmark without percentile columns is an error naming the column")
    func missingColumn() {
        #expect(throws: BenchSetupError.self) {
            try RedisBenchmarkRun.parseCSV("\"test\",\"rps\"\n\"PING\",\"1000\"\n")
        }
    }

    @Test("arguments: same requests and connections, no pipelining, CSV, command last")
    func arguments() {
        let arguments = RedisBenchmarkRun.arguments(host: "127.0.0.1", port: 16379, password: nil, requests: 100, connections: 8, command: ["ZREVRANGE", "k", "0", "99"])
        #expect(arguments == ["-h", "127.0.0.1", "-p", "16379", "-n", "100", "-c", "8", "--csv", "ZREVRANGE", "k", "0", "99"])
    }
}
