import AuditPipeTestSupport
@testable import KafkaClient
import Testing

@Suite("KafkaConsumer against the dev cluster", .enabled(if: TestService.available(.kafka, .kafkaControl)), .timeLimit(.minutes(3)))
struct ConsumerIntegrationTests {
    /// Produces `count` keyed records with headers; returns them by "partition:offset".
    static func produce(_ count: Int, to topic: String, from start: Int = 0) async throws -> [String: KafkaOutgoingMessage] {
        let producer = try KafkaProducer(configuration: KafkaTestCluster.producerConfiguration(), logger: KafkaTestCluster.logger)
        var sent: [String: KafkaOutgoingMessage] = [:]
        for i in start..<(start + count) {
            let message = KafkaOutgoingMessage(
                topic: topic,
                key: Array("key-\(i)".utf8),
                value: Array("value-\(i)".utf8),
                headers: [KafkaHeader(name: "event-id", value: Array("e\(i)".utf8)), KafkaHeader(name: "empty", value: [])],
                timestampMilliseconds: 1_700_000_000_000 + Int64(i)
            )
            let report = try await producer.send(message)
            sent["\(report.partition):\(report.offset)"] = message
        }
        await producer.shutdown()
        return sent
    }

    @Test func consumeCommitCloseAndResumeAfterTheCommittedOffset() async throws {
        let topic = try KafkaTestCluster.createTopic("consumer_resume", partitions: 3)
        let group = TestEnvironment.uniqueName("group")
        var sent = try await Self.produce(30, to: topic)

        // First member: read everything, check contents, commit half of each partition.
        let first = try KafkaConsumer(configuration: KafkaTestCluster.consumerConfiguration(group: group), topics: [topic], logger: KafkaTestCluster.logger)
        let recorder = EventRecorder(first)
        try await recorder.wait(for: "30 records") { $0.messages.count >= 30 }
        let received = recorder.messages
        #expect(received.count == 30)
        for message in received {
            let original = try #require(sent["\(message.partition):\(message.offset)"])
            #expect(message.topic == topic)
            #expect(message.key == original.key)
            #expect(message.value == original.value)
            #expect(message.headers == original.headers)
            #expect(message.timestampMilliseconds == original.timestampMilliseconds)
        }
        #expect(recorder.assignment.count == 3)
        var commits: [KafkaTopicPartitionOffset] = []
        for (partition, messages) in Dictionary(grouping: received, by: \.partition) {
            let offsets = messages.map(\.offset).sorted()
            #expect(offsets == Array(0..<Int64(offsets.count)))  // in order, no gaps
            commits.append(KafkaTopicPartitionOffset(topic: topic, partition: partition, offset: Int64(offsets.count / 2)))
        }
        try await first.commit(commits)
        let committed = try await first.committed(commits.map(\.topicPartition))
        #expect(committed == Dictionary(uniqueKeysWithValues: commits.map { ($0.topicPartition, $0.offset) }))
        await first.close()
        await recorder.waitForEnd()
        #expect(recorder.events.last.map { if case .revoked = $0 { true } else { false } } == true)
        if case .failure(let error) = recorder.finished { Issue.record("sequence failed: \(error)") }
        await #expect(throws: KafkaError.self) { try await first.commit(commits) }

        // More records while nobody is in the group.
        let more = try await Self.produce(6, to: topic, from: 30)
        sent.merge(more) { a, _ in a }

        // Second member of the same group resumes exactly after the committed offsets.
        let second = try KafkaConsumer(configuration: KafkaTestCluster.consumerConfiguration(group: group), topics: [topic], logger: KafkaTestCluster.logger)
        let recorder2 = EventRecorder(second)
        let expected = Set(sent.keys.filter { key in
            let parts = key.split(separator: ":")
            let partition = Int32(parts[0])!, offset = Int64(parts[1])!
            return offset >= committed[KafkaTopicPartition(topic: topic, partition: partition)]!
        })
        #expect(expected.count == 30 - commits.reduce(0) { $0 + Int($1.offset) } + 6)
        try await recorder2.wait(for: "\(expected.count) records after the committed offsets") { $0.messages.count >= expected.count }
        try await Task.sleep(for: .milliseconds(500))  // anything extra would show up here
        let resumed = recorder2.messages.map { "\($0.partition):\($0.offset)" }
        #expect(resumed.count == expected.count)
        #expect(Set(resumed) == expected)

        // Watermarks: low 0, high = records written per partition.
        for partition in Int32(0)..<3 {
            let (low, high) = try await second.watermarks(topic: topic, partition: partition)
            #expect(low == 0)
            #expect(high == Int64(sent.keys.filter { $0.hasPrefix("\(partition):") }.count))
        }
        await second.close()
        await recorder2.waitForEnd()
    }

    /// cooperative-sticky only where the linked librdkafka can close such a consumer safely.
    static let strategies: [KafkaConsumerConfiguration.AssignmentStrategy] =
        LibrdkafkaVersion.current.hasStickyAssignorStateFix ? [.cooperativeSticky, .range, .roundRobin] : [.range, .roundRobin]

    @Test(arguments: strategies)
    func twoMembersSplitThePartitionsAndTheSurvivorGetsThemBack(strategy: KafkaConsumerConfiguration.AssignmentStrategy) async throws {
        let topic = try KafkaTestCluster.createTopic("consumer_rebalance", partitions: 4)
        let group = TestEnvironment.uniqueName("group")
        let all = Set((0..<4).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) })
        let configuration = try KafkaTestCluster.consumerConfiguration(group: group, strategy: strategy)

        let a = try KafkaConsumer(configuration: configuration, topics: [topic], logger: KafkaTestCluster.logger)
        let recorderA = EventRecorder(a)
        try await recorderA.wait(for: "A owns all partitions") { $0.assignment == all }

        let b = try KafkaConsumer(configuration: configuration, topics: [topic], logger: KafkaTestCluster.logger)
        let recorderB = EventRecorder(b)
        try await recorderB.wait(for: "B gets partitions", timeout: .seconds(60)) { !$0.assignment.isEmpty }
        try await recorderA.wait(for: "A and B split the partitions", timeout: .seconds(60)) {
            $0.assignment.union(recorderB.assignment) == all && $0.assignment.isDisjoint(with: recorderB.assignment)
        }
        #expect(recorderA.assignment.count == 2 && recorderB.assignment.count == 2)

        let revokedFromA = recorderA.events.compactMap { if case .revoked(let p) = $0 { p } else { nil } }
        if strategy == .cooperativeSticky {
            // Incremental: A gave up only what B got, never everything.
            #expect(revokedFromA.first.map { Set($0) } == recorderB.assignment)
        } else {
            // EAGER: A gave up everything, then got its share back.
            #expect(revokedFromA.first.map { Set($0) } == all)
        }

        // Records flow to both members, each record to exactly one.
        let sent = try await Self.produce(40, to: topic)
        try await recorderA.wait(for: "all records consumed by A and B") { $0.messages.count + recorderB.messages.count >= 40 }
        let seenA = Set(recorderA.messages.map { "\($0.partition):\($0.offset)" })
        let seenB = Set(recorderB.messages.map { "\($0.partition):\($0.offset)" })
        #expect(seenA.isDisjoint(with: seenB))
        #expect(seenA.union(seenB) == Set(sent.keys))
        #expect(recorderA.messages.allSatisfy { recorderA.assignment.contains(KafkaTopicPartition(topic: $0.topic, partition: $0.partition)) })

        // B leaves gracefully; A gets everything back.
        await b.close()
        await recorderB.waitForEnd()
        #expect(recorderB.assignment.isEmpty)
        try await recorderA.wait(for: "A owns all partitions again", timeout: .seconds(60)) { $0.assignment == all }
        await a.close()
        await recorderA.waitForEnd()
    }

    /// librdkafka 2.0.2 aborts the process when a `cooperative-sticky` consumer is destroyed
    /// after its first JoinGroup and before its first SyncGroup (issue #4312). With the default
    /// configuration, consumers that join a busy group and close at moments spread over the
    /// whole join (before, during and after the rebalance) all close, and the member that stays
    /// keeps consuming; the process is still alive to check it.
    @Test func consumersClosedBeforeTheirFirstAssignmentDoNotAbortTheProcess() async throws {
        let topic = try KafkaTestCluster.createTopic("consumer_early_close", partitions: 4)
        var configuration = try KafkaConsumerConfiguration(bootstrapServers: KafkaTestCluster.bootstrapServers, groupID: TestEnvironment.uniqueName("group"))
        #expect(configuration.partitionAssignmentStrategy == .range)  // the default
        configuration.sessionTimeoutMilliseconds = 3000
        configuration.heartbeatIntervalMilliseconds = 500
        let stays = try KafkaConsumer(configuration: configuration, topics: [topic], logger: KafkaTestCluster.logger)
        let recorder = EventRecorder(stays)
        let all = Set((0..<4).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) })
        try await recorder.wait(for: "the first member owns every partition", timeout: .seconds(60)) { $0.assignment == all }

        for step in 0..<8 {
            let early = try KafkaConsumer(configuration: configuration, topics: [topic], logger: KafkaTestCluster.logger)
            let earlyRecorder = EventRecorder(early)
            try await Task.sleep(for: .milliseconds(450 * step))  // 0 to 3.15 s: the mock's join takes about 2 s
            await early.close()
            await earlyRecorder.waitForEnd()
        }
        try await recorder.wait(for: "the first member owns every partition again", timeout: .seconds(60)) { $0.assignment == all }
        let sent = try await Self.produce(20, to: topic)
        try await recorder.wait(for: "the first member consumes", timeout: .seconds(60)) { $0.messages.count >= sent.count }
        await stays.close()
        await recorder.waitForEnd()
    }

    @Test func slowReaderGetsEverythingThroughASmallBuffer() async throws {
        let topic = try KafkaTestCluster.createTopic("consumer_backpressure", partitions: 2)
        let sent = try await Self.produce(120, to: topic)
        var configuration = try KafkaTestCluster.consumerConfiguration(group: TestEnvironment.uniqueName("group"))
        configuration.bufferHighWatermark = 4
        configuration.bufferLowWatermark = 1
        let consumer = try KafkaConsumer(configuration: configuration, topics: [topic], logger: KafkaTestCluster.logger)
        var seen: Set<String> = []
        var lastOffset: [Int32: Int64] = [:]
        for try await event in consumer.events {
            guard case .message(let message) = event else { continue }
            #expect(message.offset == (lastOffset[message.partition] ?? -1) + 1)  // per-partition order, no gap
            lastOffset[message.partition] = message.offset
            seen.insert("\(message.partition):\(message.offset)")
            if seen.count % 20 == 0 { try await Task.sleep(for: .milliseconds(50)) }  // a slow reader
            if seen.count == sent.count { break }
        }
        #expect(seen == Set(sent.keys))
        await consumer.close()
    }
}

@Suite("KafkaConsumer lifecycle", .timeLimit(.minutes(1)))
struct ConsumerLifecycleTests {
    @Test func cooperativeStickyIsRefusedWhereClosingItCanAbort() throws {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: ["127.0.0.1:9"], groupID: "g")
        configuration.partitionAssignmentStrategy = .cooperativeSticky
        if LibrdkafkaVersion.current.hasStickyAssignorStateFix {
            try configuration.validate()
        } else {
            let error = #expect(throws: KafkaError.self) { try configuration.validate() }
            #expect("\(error!)".contains("librdkafka 2.3.0"), "\(error!)")
        }
        #expect(LibrdkafkaVersion(hex: 0x0200_02ff).hasStickyAssignorStateFix == false)
        #expect(LibrdkafkaVersion(hex: 0x0203_00ff).hasStickyAssignorStateFix == true)
        #expect("\(LibrdkafkaVersion(hex: 0x0200_02ff))" == "librdkafka 2.0.2")
    }

    @Test func closeWithoutAReachableBrokerEndsTheSequenceAndFailsLaterCalls() async throws {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: ["127.0.0.1:1"], groupID: "g")
        configuration.sessionTimeoutMilliseconds = 6000
        let consumer = try KafkaConsumer(configuration: configuration, topics: ["nowhere"], logger: KafkaTestCluster.logger)
        let recorder = EventRecorder(consumer)
        try await Task.sleep(for: .milliseconds(200))
        await consumer.close()
        await recorder.waitForEnd()
        #expect(recorder.events.isEmpty)
        if case .failure(let error) = recorder.finished { Issue.record("sequence failed: \(error)") }
        let error = await #expect(throws: KafkaError.self) { _ = try await consumer.watermarks(topic: "nowhere", partition: 0) }
        #expect(error?.code == .destroyed)
        await consumer.close()  // a second close returns at once
    }

    @Test func invalidTopicListIsRejected() {
        let configuration = KafkaConsumerConfiguration(bootstrapServers: ["127.0.0.1:1"], groupID: "g")
        #expect(throws: KafkaError.self) { _ = try KafkaConsumer(configuration: configuration, topics: [], logger: KafkaTestCluster.logger) }
    }
}

@Suite("KafkaConsumer close under backpressure", .enabled(if: TestService.available(.kafka, .kafkaControl)), .timeLimit(.minutes(2)))
struct ConsumerCloseUnderBackpressureTests {
    @Test func closeWhileTheBufferIsFullAndNobodyReads() async throws {
        let topic = try KafkaTestCluster.createTopic("consumer_close_full", partitions: 1)
        _ = try await ConsumerIntegrationTests.produce(50, to: topic)
        var configuration = try KafkaTestCluster.consumerConfiguration(group: TestEnvironment.uniqueName("group"))
        configuration.bufferHighWatermark = 3
        configuration.bufferLowWatermark = 1
        let consumer = try KafkaConsumer(configuration: configuration, topics: [topic], logger: KafkaTestCluster.logger)
        // Read until the first record shows up, then stop reading so the buffer fills.
        var iterator = consumer.events.makeAsyncIterator()
        var first: KafkaMessage?
        while first == nil, let event = try await iterator.next() {
            if case .message(let message) = event { first = message }
        }
        #expect(first?.offset == 0)
        try await Task.sleep(for: .seconds(1))
        await consumer.close()
        // Unread records were dropped at close; what is left ends with the revoke, then nil.
        var rest: [KafkaConsumerEvent] = []
        while let event = try await iterator.next() { rest.append(event) }
        #expect(rest == [.revoked([KafkaTopicPartition(topic: topic, partition: 0)])])
    }
}
