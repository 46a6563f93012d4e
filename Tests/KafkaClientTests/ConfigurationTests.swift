@testable import KafkaClient
import Testing

@Suite("Configuration validation")
struct ConfigurationTests {
    @Test func producerDefaultsAreSafeAndValid() throws {
        let configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:9092"])
        try configuration.validate()
        let properties = Dictionary(uniqueKeysWithValues: configuration.properties)
        #expect(properties["enable.idempotence"] == "true")
        #expect(properties["acks"] == "all")
        #expect(properties["max.in.flight.requests.per.connection"] == "5")
        #expect(properties["linger.ms"] == "25")
        #expect(properties["partitioner"] == "murmur2_random")
        #expect(properties["log.queue"] == "true")
        #expect(properties["bootstrap.servers"] == "127.0.0.1:9092")
    }

    @Test(arguments: [
        "enable.idempotence", "acks", "request.required.acks", "max.in.flight.requests.per.connection",
        "max.in.flight", "partitioner", "log.queue", "linger.ms", "bootstrap.servers", "transactional.id",
    ])
    func producerRejectsPropertiesThatWouldWeakenOrShadowFields(key: String) {
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["localhost:9092"])
        configuration.additionalProperties[key] = "1"
        let error = #expect(throws: KafkaError.self) { try configuration.validate() }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("additionalProperties[\"\(key)\"]") == true)
        #expect(error?.isRetriable == false)
    }

    @Test func producerAcceptsOtherProperties() throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["localhost:9092"])
        configuration.additionalProperties["security.protocol"] = "plaintext"
        try configuration.validate()
        #expect(configuration.properties.last! == ("security.protocol", "plaintext"))
    }

    @Test func producerRejectsOutOfRangeFields() {
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["localhost:9092"])
        configuration.maxInFlightRequestsPerConnection = 6
        let error = #expect(throws: KafkaError.self) { try configuration.validate() }
        #expect(error?.message == "invalid configuration: KafkaProducerConfiguration.maxInFlightRequestsPerConnection must be in 1...5 (got 6)")

        configuration.maxInFlightRequestsPerConnection = 1
        configuration.lingerMilliseconds = -1
        #expect(throws: KafkaError.self) { try configuration.validate() }
        configuration.lingerMilliseconds = 0
        try? configuration.validate()
        #expect((try? configuration.validate()) != nil)
    }

    @Test(arguments: [[], ["localhost"], ["localhost:0"], [":9092"], ["a:1,b:2"], ["host:port"]])
    func bootstrapServersMustBeHostPort(servers: [String]) {
        let configuration = KafkaProducerConfiguration(bootstrapServers: servers)
        let error = #expect(throws: KafkaError.self) { try configuration.validate() }
        #expect(error?.message.contains("bootstrapServers") == true)
    }

    @Test func consumerDefaults() throws {
        let configuration = KafkaConsumerConfiguration(bootstrapServers: ["127.0.0.1:9092"], groupID: "g")
        try configuration.validate()
        let properties = Dictionary(uniqueKeysWithValues: configuration.properties)
        #expect(properties["enable.auto.commit"] == "false")
        #expect(properties["enable.auto.offset.store"] == "false")
        #expect(properties["auto.offset.reset"] == "earliest")
        #expect(properties["partition.assignment.strategy"] == "range")
        #expect(properties["session.timeout.ms"] == "6000")
        #expect(properties["heartbeat.interval.ms"] == "2000")
        #expect(properties["group.instance.id"] == nil)
        #expect(properties["group.id"] == "g")
        #expect(properties["log.queue"] == "true")
    }

    @Test func consumerMembershipRules() throws {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: ["127.0.0.1:9092"], groupID: "g")
        configuration.heartbeatIntervalMilliseconds = configuration.sessionTimeoutMilliseconds
        let heartbeat = #expect(throws: KafkaError.self) { try configuration.validate() }
        #expect(heartbeat?.message.contains("heartbeatIntervalMilliseconds") == true)
        configuration.heartbeatIntervalMilliseconds = 2000
        configuration.groupInstanceID = ""
        let empty = #expect(throws: KafkaError.self) { try configuration.validate() }
        #expect(empty?.message.contains("groupInstanceID") == true)
        configuration.groupInstanceID = "pod-7"
        try configuration.validate()
        #expect(Dictionary(uniqueKeysWithValues: configuration.properties)["group.instance.id"] == "pod-7")
        configuration.additionalProperties["group.instance.id"] = "other"
        #expect(throws: KafkaError.self) { try configuration.validate() }
    }

    @Test func consumerRules() {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: ["127.0.0.1:9092"], groupID: "")
        #expect(throws: KafkaError.self) { try configuration.validate() }
        configuration.groupID = "g"
        configuration.bufferLowWatermark = configuration.bufferHighWatermark
        let watermark = #expect(throws: KafkaError.self) { try configuration.validate() }
        #expect(watermark?.message.contains("bufferLowWatermark") == true)
        configuration.bufferLowWatermark = 0
        configuration.maxPollIntervalMilliseconds = configuration.sessionTimeoutMilliseconds - 1
        let poll = #expect(throws: KafkaError.self) { try configuration.validate() }
        #expect(poll?.message.contains("maxPollIntervalMilliseconds") == true)
        configuration.maxPollIntervalMilliseconds = 300_000
        configuration.additionalProperties["enable.auto.commit"] = "true"
        let auto = #expect(throws: KafkaError.self) { try configuration.validate() }
        #expect(auto?.message.contains("fixed: false") == true)
    }

    @Test func librdkafkaRejectsUnknownPropertyWithItsMessage() {
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:9092"])
        configuration.additionalProperties["no.such.property"] = "1"
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: configuration, logger: KafkaTestCluster.logger)
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("no.such.property") == true)
    }
}

@Suite("KafkaError")
struct KafkaErrorTests {
    @Test func codesHaveLibrdkafkaNames() {
        #expect(KafkaError.Code.queueFull.name == "_QUEUE_FULL")
        #expect(KafkaError.Code.messageTimedOut.name == "_MSG_TIMED_OUT")
        #expect(KafkaError.Code.unknownTopicOrPartition.name == "UNKNOWN_TOPIC_OR_PART")
        #expect(KafkaError.Code.rebalanceInProgress.rawValue == 27)
    }

    @Test func retriableDefaultsFollowTheCode() {
        #expect(KafkaError(code: .messageTimedOut, message: "x").isRetriable)
        #expect(!KafkaError(code: .invalidArgument, message: "x").isRetriable)
        let fatal = KafkaError(code: .messageTimedOut, message: "x", isFatal: true)
        #expect(!fatal.isRetriable && fatal.isFatal)
        #expect(fatal.description == "KafkaError(_MSG_TIMED_OUT): x [fatal]")
    }

    @Test func javaMurmur2ReferenceVectors() {
        // Vectors from Apache Kafka's UtilsTest.testMurmur2.
        #expect(javaMurmur2(Array("21".utf8)) == -973_932_308)
        #expect(javaMurmur2(Array("foobar".utf8)) == -790_332_482)
        #expect(javaMurmur2(Array("a-little-bit-long-string".utf8)) == -985_981_536)
        #expect(javaMurmur2(Array("a-little-bit-longer-string".utf8)) == -1_486_304_829)
        #expect(javaMurmur2(Array("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8".utf8)) == -58_897_971)
        #expect(javaMurmur2(Array("abc".utf8)) == 479_470_107)
    }
}

@Suite("Helpers")
struct HelperTests {
    @Test func durationsBecomeClampedMilliseconds() {
        #expect(milliseconds(.seconds(2)) == 2000)
        #expect(milliseconds(.milliseconds(1500)) == 1500)
        #expect(milliseconds(.microseconds(999)) == 0)
        #expect(milliseconds(.seconds(-1)) == 0)
        #expect(milliseconds(.seconds(10_000_000)) == Int32.max)
    }
}
