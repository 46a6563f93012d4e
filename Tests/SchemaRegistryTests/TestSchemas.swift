import AvroCodec
import Foundation

/// Schemas used across the registry tests.
enum TestSchemas {
    static func record(_ fields: [String], name: String = "Event") -> String {
        #"{"type":"record","name":"\#(name)","namespace":"test.registry","fields":[\#(fields.joined(separator: ","))]}"#
    }

    static let id = #"{"name":"id","type":"string"}"#
    static let regionWithDefault = #"{"name":"region","type":"string","default":"eu"}"#
    static let actorNoDefault = #"{"name":"actor","type":"string"}"#

    /// v1: {id}
    static let v1 = record([id])
    /// v1 plus a field with a default: compatible both ways (FULL).
    static let v2WithDefault = record([id, regionWithDefault])
    /// v1 plus a field WITHOUT a default: breaks BACKWARD (new reader, old data), FORWARD is fine.
    static let v2AddedNoDefault = record([id, actorNoDefault])
    /// v1 minus `id` (no default): breaks FORWARD (old reader, new data), BACKWARD is fine.
    static let v2RemovedNoDefault = record([regionWithDefault])

    /// A distinct valid schema per index (for id tests).
    static func numbered(_ n: Int) -> String {
        record([#"{"name":"f\#(n)","type":"long"}"#], name: "Numbered\(n)")
    }

    static func parse(_ text: String) -> AvroSchema {
        // Test schemas are valid by construction.
        try! AvroSchema(parsing: text)
    }
}
