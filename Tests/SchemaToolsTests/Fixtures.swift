import AvroCodec
import Foundation
import SchemaTools
import Testing

/// The seed's AuditEvent schema and variations of it.
enum Seed {
    static let fields: [String] = [
        #"{"name": "event_id", "type": "string"}"#,
        #"{"name": "tenant_id", "type": "string"}"#,
        #"{"name": "actor_id", "type": "string"}"#,
        #"{"name": "event_type", "type": "string"}"#,
        #"{"name": "resource", "type": "string"}"#,
        #"{"name": "action", "type": "string"}"#,
        #"{"name": "timestamp", "type": "long", "logicalType": "timestamp-millis"}"#,
        #"{"name": "metadata", "type": {"type": "map", "values": "string"}, "default": {}}"#,
    ]

    /// The seed schema, verbatim from the design document.
    static let v1 = #"{ "type": "record", "name": "AuditEvent", "namespace": "com.worldtech.audit", "fields": [ { "name": "event_id", "type": "string" }, { "name": "tenant_id", "type": "string" }, { "name": "actor_id", "type": "string" }, { "name": "event_type", "type": "string" }, { "name": "resource", "type": "string" }, { "name": "action", "type": "string" }, { "name": "timestamp", "type": "long", "logicalType": "timestamp-millis" }, { "name": "metadata", "type": { "type": "map", "values": "string" }, "default": {} } ]}"#

    static func record(_ fields: [String]) -> String {
        #"{"type": "record", "name": "AuditEvent", "namespace": "com.worldtech.audit", "fields": [\#(fields.joined(separator: ", "))]}"#
    }

    /// The seed with extra fields appended.
    static func adding(_ extra: String...) -> String { record(fields + extra) }

    /// The seed without the named field.
    static func removing(_ name: String) -> String {
        record(fields.filter { !$0.contains(#""name": "\#(name)""#) })
    }

    /// The seed with the named field's declaration replaced.
    static func replacing(_ name: String, with field: String) -> String {
        record(fields.map { $0.contains(#""name": "\#(name)""#) ? field : $0 })
    }

    static let regionWithDefault = #"{"name": "region", "type": "string", "default": "eu"}"#
    static let regionNoDefault = #"{"name": "region", "type": "string"}"#
}

func parse(_ text: String) throws -> AvroSchema { try AvroSchema(parsing: text) }

/// Previous versions 1, 2, ... from schema texts.
func versions(_ texts: String...) throws -> [SchemaVersion] {
    try texts.enumerated().map { SchemaVersion(version: $0.offset + 1, schema: try parse($0.element), text: $0.element, origin: "test v\($0.offset + 1)") }
}

func report(_ candidate: String, _ previous: [SchemaVersion], _ level: AvroCompatibilityLevel) throws -> CompatibilityReport {
    CompatibilityReport(candidate: try parse(candidate), previous: previous, level: level)
}

/// A fresh temporary directory, removed by `cleanup()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "schematools-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = (path as NSString).appendingPathComponent(name)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func subdirectory(_ name: String) throws -> TemporaryDirectory {
        let sub = TemporaryDirectory(existing: (path as NSString).appendingPathComponent(name))
        try FileManager.default.createDirectory(atPath: sub.path, withIntermediateDirectories: true)
        return sub
    }

    private init(existing: String) { path = existing }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}
