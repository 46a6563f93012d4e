import Testing

@testable import KafkaClient

/// `KafkaMessage` keeps its value, key and headers in one array: every part reads back as it was
/// given, absent and empty parts stay distinct, and equal records are equal.
struct KafkaMessageTests {
    static func message(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader]) -> KafkaMessage {
        KafkaMessage(topic: "t", partition: 3, offset: 42, key: key, value: value, headers: headers, timestampMilliseconds: 7)
    }

    @Test(arguments: [
        ([UInt8]?.none, [UInt8]?.none, [KafkaHeader]()),
        ([], [], []),
        (Array("tenant-1".utf8), [0, 0, 0, 0, 1, 2, 3], [KafkaHeader(name: "event_id", value: Array("e-1".utf8))]),
        (nil, Array(repeating: 0xff, count: 70_000), [
            KafkaHeader(name: "dlq-reason", value: Array("sché".utf8)), KafkaHeader(name: "", value: []),
            KafkaHeader(name: "dlq-reason", value: Array(repeating: 7, count: 300)),
        ]),
        (Array(repeating: 1, count: 300), nil, [KafkaHeader(name: "ünïcode", value: [0])]),
    ])
    func partsReadBackAsGiven(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader]) {
        let message = Self.message(key: key, value: value, headers: headers)
        #expect(message.key == key)
        #expect(message.value == value)
        #expect(message.valueBytes.map { Array($0) } == value)
        #expect(message.headers == headers)
        for name in Set(headers.map(\.name)).union(["absent", "dlq-reaso"]) {
            #expect(message.headerValues(named: name).map { Array($0) } == headers.filter { $0.name == name }.map(\.value))
        }
        #expect(message.topic == "t" && message.partition == 3 && message.offset == 42 && message.timestampMilliseconds == 7)
        #expect(message == Self.message(key: key, value: value, headers: headers))
    }

    @Test func partsAreNotConfused() {
        // The same bytes as value or as key, or an empty part against a missing one, are different records.
        #expect(Self.message(key: [1], value: nil, headers: []) != Self.message(key: nil, value: [1], headers: []))
        #expect(Self.message(key: [], value: [1], headers: []) != Self.message(key: nil, value: [1], headers: []))
        #expect(Self.message(key: nil, value: [], headers: []) != Self.message(key: nil, value: nil, headers: []))
    }
}
