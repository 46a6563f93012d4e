import AvroCodec
import Foundation
import SchemaTools
import Testing

@Suite("Loading a directory of previous versions")
struct SchemaFilesTests {
    @Test("v<N>.avsc files are ordered by number (v10 after v9); other files are ignored")
    func ordering() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        for n in [10, 2, 9, 1] {
            try dir.write("v\(n).avsc", Seed.adding(#"{"name": "f\#(n)", "type": "int", "default": \#(n)}"#))
        }
        try dir.write("README.md", "not a schema")
        let loaded = try SchemaFiles.loadPreviousVersions(directory: dir.path)
        #expect(loaded.map(\.version) == [1, 2, 9, 10])
        #expect(loaded.map { $0.text.contains("\"f\($0.version)\"") } == [true, true, true, true])
        #expect(SchemaFiles.versionNumber(fileName: "v12.avsc") == 12)
        #expect(SchemaFiles.versionNumber(fileName: "V3.AVSC") == 3)
        #expect(SchemaFiles.versionNumber(fileName: "v0.avsc") == nil)
        #expect(SchemaFiles.versionNumber(fileName: "version1.avsc") == nil)
        #expect(SchemaFiles.versionNumber(fileName: "v1.json") == nil)
    }

    @Test("misnamed, duplicate and invalid files are errors that name the file")
    func errors() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let misnamed = try dir.subdirectory("misnamed")
        try misnamed.write("v1.avsc", Seed.v1)
        try misnamed.write("audit-v2.avsc", Seed.v1)
        #expect(throws: SchemaToolError.self) { try SchemaFiles.loadPreviousVersions(directory: misnamed.path) }
        do {
            _ = try SchemaFiles.loadPreviousVersions(directory: misnamed.path)
        } catch {
            #expect(error.message.contains("audit-v2.avsc: previous versions must be named v<N>.avsc"))
        }

        let duplicate = try dir.subdirectory("duplicate")
        try duplicate.write("v1.avsc", Seed.v1)
        try duplicate.write("v01.avsc", Seed.v1)
        #expect { try SchemaFiles.loadPreviousVersions(directory: duplicate.path) } throws: { error in
            (error as? SchemaToolError)?.message.contains("both claim version 1") == true
        }

        let invalid = try dir.subdirectory("invalid")
        try invalid.write("v1.avsc", #"{"type": "record", "name": "X"}"#)
        #expect { try SchemaFiles.loadPreviousVersions(directory: invalid.path) } throws: { error in
            let message = (error as? SchemaToolError)?.message ?? ""
            return message.contains("v1.avsc is not a valid Avro schema")
        }

        #expect { try SchemaFiles.loadPreviousVersions(directory: dir.path + "/nope") } throws: { error in
            (error as? SchemaToolError)?.message.contains("does not exist") == true
        }
        #expect { try SchemaFiles.load(path: dir.path + "/missing.avsc") } throws: { error in
            (error as? SchemaToolError)?.message.contains("cannot read schema file") == true
        }
    }
}

@Suite("Schema diff")
struct SchemaDiffTests {
    func diff(_ old: String, _ new: String) throws -> [SchemaChange] {
        SchemaDiff.changes(from: try parse(old), to: try parse(new))
    }

    @Test("identical schemas (even formatted differently) have no differences")
    func identical() throws {
        #expect(try diff(Seed.v1, Seed.record(Seed.fields)).isEmpty)
    }

    @Test("fields added and removed, with types and defaults")
    func addedRemoved() throws {
        let changes = try diff(Seed.v1, Seed.adding(Seed.regionWithDefault))
        #expect(changes == [SchemaChange(kind: .fieldAdded, path: "region", old: nil, new: "string, default \"eu\"", summary: "+ field `region`: string, default \"eu\"")])
        let removed = try diff(Seed.v1, Seed.removing("resource"))
        #expect(removed.map(\.kind) == [.fieldRemoved])
        #expect(removed[0].summary == "- field `resource`: string, no default")
    }

    @Test("type changes, promotions, defaults, renames, enum symbols")
    func changes() throws {
        let old = Seed.adding(
            #"{"name": "attempt", "type": "int", "default": 0}"#,
            #"{"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}, "default": "A"}"#,
            #"{"name": "note", "type": ["null", "string"], "default": null}"#
        )
        let newFields = Seed.fields.map { field in
            if field.contains(#""name": "resource""#) { return #"{"name": "target", "type": "string", "aliases": ["resource"]}"# }
            if field.contains(#""name": "metadata""#) { return #"{"name": "metadata", "type": {"type": "map", "values": "string"}, "default": {"k": "v"}}"# }
            return field
        } + [
            #"{"name": "attempt", "type": "long", "default": 1}"#,
            #"{"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "C"]}, "default": "A"}"#,
            #"{"name": "note", "type": ["null", "string", "long"], "default": null}"#,
        ]
        let new = Seed.record(newFields)
        let changes = try diff(old, new)
        let summaries = changes.map(\.summary)
        #expect(summaries == [
            "~ field `resource` renamed to `target` (old name kept in aliases)",
            "~ field `metadata`: default {} → {\"k\": \"v\"}",
            "~ field `attempt`: default 0 → 1",
            "~ field `attempt`: type int → long (a promotion: new readers can read old data; old readers cannot read new data)",
            "~ enum `com.worldtech.audit.Kind` (field `kind`): symbols added: C",
            "~ enum `com.worldtech.audit.Kind` (field `kind`): symbols removed: B",
            "~ field `note`: type [null, string] → [null, string, long] (branches added: long)",
        ])
        #expect(changes.first { $0.kind == .typeChanged }?.old == "int")
    }

    @Test("nested records and arrays are compared inside")
    func nested() throws {
        let old = Seed.adding(#"{"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [{"name": "sku", "type": "string"}]}}, "default": []}"#)
        let new = Seed.adding(#"{"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int", "default": 1}]}}, "default": []}"#)
        let changes = try diff(old, new)
        #expect(changes.map(\.summary) == ["+ field `items[].qty`: int, default 1"])
    }
}
