import Foundation
import Testing

import AuditBench

@Suite("BenchResult")
struct BenchResultTests {
    @Test("a JSON line has the documented keys in order and parses as JSON")
    func jsonLine() throws {
        let result = BenchResult(
            benchmark: "ingest", figure: "throughput_stream", value: 12345.6789, unit: "events/s",
            peer: "confluent-python", peerValue: 5000, target: ">= 2x peer", met: true, notes: "a \"quoted\"\nnote\t\u{1}"
        )
        let line = result.jsonLine
        #expect(!line.contains("\n"))
        #expect(line.hasPrefix("{\"benchmark\":\"ingest\",\"figure\":\"throughput_stream\",\"value\":12345.679,\"unit\":\"events/s\",\"peer\":\"confluent-python\",\"peer_value\":5000,\"ratio\":2.469,\"target\":\">= 2x peer\",\"met\":true,\"notes\":"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["notes"] as? String == "a \"quoted\"\nnote\t\u{1}")
        #expect(object["ratio"] as? Double == 2.469)
        #expect(object["met"] as? Bool == true)
    }

    @Test("absent peer, target and verdict are null; non-finite values too")
    func nulls() throws {
        let line = BenchResult(benchmark: "legacy", figure: "x", value: .nan, unit: "ms").jsonLine
        #expect(line == "{\"benchmark\":\"legacy\",\"figure\":\"x\",\"value\":null,\"unit\":\"ms\",\"peer\":null,\"peer_value\":null,\"ratio\":null,\"target\":null,\"met\":null,\"notes\":\"\"}")
        let zeroPeer = BenchResult(benchmark: "b", figure: "f", value: 3, unit: "u", peer: "p", peerValue: 0)
        #expect(zeroPeer.ratio == nil)
        #expect(try JSONSerialization.jsonObject(with: Data(line.utf8)) is [String: Any])
    }

    @Test("ratio is value over peer value")
    func ratio() {
        #expect(BenchResult(benchmark: "b", figure: "f", value: 3, unit: "u", peer: "p", peerValue: 4).ratio == 0.75)
        #expect(BenchResult(benchmark: "b", figure: "f", value: 3, unit: "u").ratio == nil)
    }

    @Test("numbers: JSON rounding and human formatting")
    func numbers() {
        #expect(JSONText.number(1) == "1")
        #expect(JSONText.number(-2.5) == "-2.5")
        #expect(JSONText.number(0.0004) == "0")
        #expect(JSONText.number(0.0125) == "0.013")
        #expect(JSONText.number(.infinity) == "null")
        #expect(BenchFormat.value(12345.6) == "12346")
        #expect(BenchFormat.value(12.345) == "12.35")
        #expect(BenchFormat.value(1.23456) == "1.235")
        #expect(BenchFormat.value(-0.5) == "-0.500")
        #expect(BenchFormat.fixed(3.05, decimals: 0) == "3")
        #expect(BenchFormat.fixed(0.001, decimals: 3) == "0.001")
        #expect(BenchFormat.fixed(-0.0001, decimals: 2) == "0.00")
        #expect(BenchFormat.value(.nan) == "nan")
    }

    @Test("the table aligns columns and lists notes; markdown escapes pipes")
    func tables() {
        let results = [
            BenchResult(benchmark: "ingest", figure: "ack_latency_p99", value: 3.2, unit: "ms", peer: "confluent-python", peerValue: 6.4, target: "< 10 ms", met: true, notes: "n1"),
            BenchResult(benchmark: "ingest", figure: "throughput", value: 900, unit: "events/s", peer: "librdkafka-raw", peerValue: 3000, target: ">= 0.5x ceiling", met: false, notes: "a|b"),
        ]
        let lines = BenchResult.table(results).split(separator: "\n").map(String.init)
        #expect(lines.count == 7)
        #expect(lines[0].hasPrefix("benchmark"))
        let valueColumn = lines[0].range(of: "value")!.lowerBound.utf16Offset(in: lines[0])
        #expect(lines[2].dropFirst(valueColumn).hasPrefix("3.200"))
        #expect(lines[3].dropFirst(valueColumn).hasPrefix("900.00"))
        #expect(lines[2].hasSuffix("yes"))
        #expect(lines[3].hasSuffix("NO"))
        #expect(lines[5] == "  ingest/ack_latency_p99: n1")
        let markdown = BenchResult.markdownTable(results)
        #expect(markdown.contains("| a\\|b |"))
        #expect(markdown.contains("| **no** |"))
        #expect(markdown.split(separator: "\n").count == 4)
    }
}

@Suite("Pacing and load")
struct PacingTests {
    @Test("open-loop schedule: event i is due at i / rate")
    func schedule() {
        let schedule = OpenLoopSchedule(rate: 5000, durationSeconds: 2)
        #expect(schedule.total == 10_000)
        #expect(schedule.due(atElapsed: 0) == 1)
        #expect(schedule.due(atElapsed: 0.0001) == 1)
        #expect(schedule.due(atElapsed: 0.0002) == 2)
        #expect(schedule.due(atElapsed: 1) == 5001)
        #expect(schedule.due(atElapsed: 100) == 10_000)
        #expect(schedule.dueTime(of: 5000) == 1)
        let odd = OpenLoopSchedule(rate: 3, durationSeconds: 0.1)
        #expect(odd.total == 0)
        #expect(odd.due(atElapsed: 1) == 0)
        #expect(OpenLoopSchedule(rate: 10, durationSeconds: 0.3).total == 3)
    }

    @Test("open loop sends every scheduled event once and records each answer")
    func openLoop() async {
        let seen = SeenIndexes()
        let measurement = await LoadDriver.openLoop(label: "t", schedule: OpenLoopSchedule(rate: 2000, durationSeconds: 0.1), maxInFlight: 1000) { index in
            seen.insert(index)
            return index % 10 == 0 ? .failure("boom \(index)") : .ok
        }
        #expect(seen.sorted == Array(0..<200))
        #expect(measurement.sent == 200)
        #expect(measurement.succeeded == 180)
        #expect(measurement.failed == 20)
        #expect(measurement.firstError?.hasPrefix("boom") == true)
        #expect(measurement.latency?.count == 180)
    }

    @Test("open loop drops (and counts) events beyond the in-flight limit instead of queueing")
    func openLoopLimit() async {
        let gate = Gate()
        let measurement = await LoadDriver.openLoop(label: "t", schedule: OpenLoopSchedule(rate: 1000, durationSeconds: 0.05), maxInFlight: 5) { _ in
            await gate.wait()
            return .ok
        } onScheduled: {
            gate.open()
        }
        #expect(measurement.sent == 5)
        #expect(measurement.skipped == 45)
        #expect(measurement.failed == 45)
        #expect(measurement.succeeded == 5)
    }

    @Test("closed loop hands out disjoint index ranges to its workers")
    func closedLoop() async {
        let seen = SeenIndexes()
        let measurement = await LoadDriver.closedLoop(label: "t", durationSeconds: 0.05, concurrency: 4, batchSize: 10) { first, count in
            for index in first..<first + count { seen.insert(index) }
            try? await Task.sleep(for: .milliseconds(1))
            return SendOutcome(succeeded: count - 1, failed: 1, error: "one bad")
        }
        let sorted = seen.sorted
        #expect(sorted.count >= 40, "each of the 4 workers sends at least one batch of 10")
        #expect(sorted == Array(0..<sorted.count))
        #expect(measurement.sent == sorted.count)
        #expect(measurement.succeeded == sorted.count / 10 * 9)
        #expect(measurement.latency?.count == UInt64(measurement.succeeded))
        #expect(measurement.throughput > 0)
    }
}

import Synchronization

final class SeenIndexes: Sendable {
    private let indexes = Mutex<[Int]>([])
    func insert(_ index: Int) { indexes.withLock { $0.append(index) } }
    var sorted: [Int] { indexes.withLock { $0.sorted() } }
}

/// Holds senders until the whole schedule was handed out.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
