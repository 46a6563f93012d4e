import AuditPipeTestSupport
@testable import KafkaClient
import Synchronization
import Testing

@Suite("KafkaProducer against the dev cluster", .enabled(if: TestService.available(.kafka, .kafkaControl)), .timeLimit(.minutes(2)))
struct ProducerIntegrationTests {
    @Test func everyRecordIsAcknowledgedWithJavaCompatiblePartitioning() async throws {
        let topic = try KafkaTestCluster.createTopic("producer_acks", partitions: 3)
        let producer = try KafkaProducer(configuration: KafkaTestCluster.producerConfiguration(), logger: KafkaTestCluster.logger)
        #expect(try await producer.partitionCount(topic: topic) == 3)

        let count = 300
        let reports = try await withThrowingTaskGroup(of: (Int, KafkaDeliveryReport).self) { group in
            for i in 0..<count {
                group.addTask {
                    let message = KafkaOutgoingMessage(
                        topic: topic,
                        key: Array("user-\(i % 17)".utf8),
                        value: Array("event-\(i)".utf8),
                        headers: [("event-id", Array("id-\(i)".utf8)), ("stage", [0, 1, 2])]
                    )
                    return (i, try await producer.send(message))
                }
            }
            var reports: [Int: KafkaDeliveryReport] = [:]
            for try await (i, report) in group { reports[i] = report }
            return reports
        }
        #expect(reports.count == count)
        for (i, report) in reports {
            #expect(report.topic == topic)
            // The partition librdkafka's murmur2_random chose equals Java's default partitioner.
            #expect(report.partition == javaPartition(key: Array("user-\(i % 17)".utf8), partitions: 3))
        }
        // Offsets per partition are exactly 0..<n: every record written once, none lost.
        let byPartition = Dictionary(grouping: reports.values, by: \.partition)
        for (_, partitionReports) in byPartition {
            #expect(partitionReports.map(\.offset).sorted() == Array(0..<Int64(partitionReports.count)))
        }
        await producer.shutdown()
        let error = await #expect(throws: KafkaError.self) {
            _ = try await producer.send(KafkaOutgoingMessage(topic: topic, key: nil, value: [1]))
        }
        #expect(error?.code == .destroyed)
    }

    @Test func leaderMovesMidStreamAndEveryRecordIsWrittenExactlyOnce() async throws {
        let topic = try KafkaTestCluster.createTopic("producer_leader_move", partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaTestCluster.producerConfiguration(), logger: KafkaTestCluster.logger)
        var reports: [KafkaDeliveryReport] = []
        for round in 0..<3 {
            // Move partition 0's leadership to another broker between bursts of sends.
            let reply = try KafkaTestCluster.control("leader \(topic) 0 \(round + 1)")
            #expect(reply.hasPrefix("ok"), "control port: \(reply)")
            reports += try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
                for i in 0..<50 {
                    group.addTask {
                        try await producer.send(KafkaOutgoingMessage(topic: topic, key: Array("k\(i)".utf8), value: Array("r\(round)-\(i)".utf8)))
                    }
                }
                var all: [KafkaDeliveryReport] = []
                for try await report in group { all.append(report) }
                return all
            }
        }
        #expect(reports.map(\.offset).sorted() == Array(0..<150))
        await producer.shutdown()
    }

    @Test func queueFullIsBackpressureNotAnError() async throws {
        let topic = try KafkaTestCluster.createTopic("producer_backpressure", partitions: 2)
        var configuration = try KafkaTestCluster.producerConfiguration()
        configuration.maxQueuedMessages = 5
        let producer = try KafkaProducer(configuration: configuration, logger: KafkaTestCluster.logger)
        let count = 400
        let offsets = try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
            for i in 0..<count {
                group.addTask {
                    try await producer.send(KafkaOutgoingMessage(topic: topic, key: nil, value: Array("v\(i)".utf8), partition: Int32(i % 2)))
                }
            }
            var all: [KafkaDeliveryReport] = []
            for try await report in group { all.append(report) }
            return all
        }
        #expect(offsets.count == count)
        #expect(Set(offsets.map { "\($0.partition):\($0.offset)" }).count == count)
        try await producer.flush(timeout: .seconds(10))
        await producer.shutdown()
    }

    @Test("sendBatch: every record of a batch acknowledged, in order, keyed like send, with its header, through a full queue")
    func batchIsAcknowledgedRecordByRecord() async throws {
        let topic = try KafkaTestCluster.createTopic("producer_batch", partitions: 3)
        var configuration = try KafkaTestCluster.producerConfiguration()
        configuration.maxQueuedMessages = 50  // smaller than a batch: the batch waits for room and goes on
        let producer = try KafkaProducer(configuration: configuration, logger: KafkaTestCluster.logger)
        let batches = try await withThrowingTaskGroup(of: [Result<KafkaDeliveryReport, KafkaError>].self) { group in
            for b in 0..<3 {
                group.addTask {
                    var batch = KafkaOutgoingBatch(topic: topic, headerName: "event_id")
                    for i in 0..<200 {
                        batch.append(key: Array("user-\(i % 17)".utf8), value: Array("b\(b)-\(i)".utf8), headerValue: Array("id-\(b)-\(i)".utf8))
                    }
                    // Half of them in two steps: produced first, reports awaited after.
                    if b == 1 { return await producer.enqueueBatch(batch).results() }
                    return await producer.sendBatch(batch)
                }
            }
            var all: [[Result<KafkaDeliveryReport, KafkaError>]] = []
            for try await results in group { all.append(results) }
            return all
        }
        var reports: [KafkaDeliveryReport] = []
        for results in batches {
            #expect(results.count == 200)
            for (i, result) in results.enumerated() {
                let report = try result.get()
                #expect(report.topic == topic)
                #expect(report.partition == javaPartition(key: Array("user-\(i % 17)".utf8), partitions: 3))
                reports.append(report)
            }
        }
        for (_, partitionReports) in Dictionary(grouping: reports, by: \.partition) {
            #expect(partitionReports.map(\.offset).sorted() == Array(0..<Int64(partitionReports.count)))
        }
        // The records carry their values and headers.
        let consumer = try KafkaConsumer(
            configuration: KafkaTestCluster.consumerConfiguration(group: TestEnvironment.uniqueName("g")),
            topics: [topic],
            logger: KafkaTestCluster.logger
        )
        var seen: [String: String] = [:]
        let deadline = ContinuousClock.now + .seconds(30)
        for try await event in consumer.events {
            if case .message(let message) = event {
                seen[String(decoding: message.value ?? [], as: UTF8.self)] = message.headers.first { $0.name == "event_id" }.map { String(decoding: $0.value, as: UTF8.self) }
            }
            if seen.count == 600 || ContinuousClock.now > deadline { break }
        }
        #expect(seen.count == 600)
        #expect(seen["b1-7"] == "id-1-7")
        await consumer.close()
        await producer.shutdown()
        let afterShutdown = await producer.sendBatch(KafkaOutgoingBatch(topic: topic, bytes: [1], records: [.init(key: nil, value: 0..<1)]))
        guard case .failure(let error) = afterShutdown.first else { Issue.record("expected a failure after shutdown"); return }
        #expect(error.code == .destroyed)
    }

    @Test func shutdownWhileSendingLeavesNoSendHanging() async throws {
        let topic = try KafkaTestCluster.createTopic("producer_shutdown", partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaTestCluster.producerConfiguration(), logger: KafkaTestCluster.logger)
        let outcomes = Locked<(ok: Int, failed: Int)>((0, 0))
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    do {
                        _ = try await producer.send(KafkaOutgoingMessage(topic: topic, key: nil, value: Array("v\(i)".utf8)))
                        outcomes.withLock { $0.ok += 1 }
                    } catch {
                        outcomes.withLock { $0.failed += 1 }
                    }
                }
            }
            group.addTask { await producer.shutdown() }
        }
        let (ok, failed) = outcomes.withLock { $0 }
        #expect(ok + failed == 200)
        // Records that were acknowledged are in the log; the high watermark counts them.
        let consumer = try KafkaConsumer(
            configuration: KafkaTestCluster.consumerConfiguration(group: TestEnvironment.uniqueName("g")),
            topics: [topic],
            logger: KafkaTestCluster.logger
        )
        let (low, high) = try await consumer.watermarks(topic: topic, partition: 0)
        #expect(low == 0)
        #expect(high >= Int64(ok))
        await consumer.close()
    }
}

@Suite("KafkaProducer without a reachable broker", .timeLimit(.minutes(1)))
struct ProducerUnreachableTests {
    @Test func deliveryTimesOutWithARetriableError() async throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"])
        configuration.deliveryTimeoutMilliseconds = 1500
        let producer = try KafkaProducer(configuration: configuration, logger: KafkaTestCluster.logger)
        let error = await #expect(throws: KafkaError.self) {
            _ = try await producer.send(KafkaOutgoingMessage(topic: "nowhere", key: [1], value: [2]))
        }
        #expect(error?.code == .messageTimedOut)
        #expect(error?.isRetriable == true)
        #expect(error?.message.contains("not written") == true)
        await producer.shutdown()
    }

    @Test("sendBatch without a broker: every record fails retriably at the delivery timeout; a shutdown fails the rest")
    func batchTimesOutAndShutdownFailsIt() async throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"])
        configuration.deliveryTimeoutMilliseconds = 1500
        let producer = try KafkaProducer(configuration: configuration, logger: KafkaTestCluster.logger)
        var batch = KafkaOutgoingBatch(topic: "nowhere", headerName: "event_id")
        for i in 0..<20 { batch.append(key: [UInt8(i)], value: [2], headerValue: [3]) }
        let results = await producer.sendBatch(batch)
        #expect(results.count == 20)
        for result in results {
            guard case .failure(let error) = result else { Issue.record("expected a failure"); continue }
            #expect(error.code == .messageTimedOut && error.isRetriable)
        }
        let pending = Task { await producer.sendBatch(batch) }
        try await Task.sleep(for: .milliseconds(200))
        await producer.shutdown(timeout: .milliseconds(200))
        let failed = await pending.value
        #expect(failed.count == 20)
        #expect(failed.allSatisfy { if case .failure(let error) = $0 { error.code == .purgedFromQueue || error.code == .destroyed } else { false } })
    }

    @Test func shutdownFailsPendingSendsInsteadOfHanging() async throws {
        let configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"])
        let producer = try KafkaProducer(configuration: configuration, logger: KafkaTestCluster.logger)
        let errors = Locked<[KafkaError]>([])
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    do throws(KafkaError) {
                        _ = try await producer.send(KafkaOutgoingMessage(topic: "nowhere", key: nil, value: [1]))
                    } catch {
                        errors.withLock { $0.append(error) }
                    }
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(300))
                await producer.shutdown(timeout: .milliseconds(200))
            }
        }
        let all = errors.withLock { $0 }
        #expect(all.count == 10)
        #expect(all.allSatisfy { $0.code == .purgedFromQueue || $0.code == .destroyed })
    }
}
