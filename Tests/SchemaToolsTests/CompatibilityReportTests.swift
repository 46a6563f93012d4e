import AvroCodec
import Foundation
import SchemaTools
import Testing

@Suite("Compatibility report: offline checks on the seed schema, explained in plain words")
struct CompatibilityReportTests {
    @Test("adding a field WITH a default passes BACKWARD_TRANSITIVE (and FULL_TRANSITIVE)")
    func addWithDefault() throws {
        let previous = try versions(Seed.v1, Seed.adding(#"{"name": "source_ip", "type": ["null", "string"], "default": null}"#))
        let candidate = Seed.adding(#"{"name": "source_ip", "type": ["null", "string"], "default": null}"#, Seed.regionWithDefault)
        let backward = try report(candidate, previous, .backwardTransitive)
        #expect(backward.isCompatible)
        #expect(backward.checkedVersions == [1, 2])
        #expect(try report(candidate, previous, .fullTransitive).isCompatible)
        #expect(backward.text(candidate: "c.avsc", subject: "S").contains("c.avsc is compatible with S at level BACKWARD_TRANSITIVE (checked against versions 1 and 2)"))
    }

    @Test("adding a field WITHOUT a default breaks BACKWARD (a new reader cannot fill it from old data), not FORWARD")
    func addWithoutDefault() throws {
        let previous = try versions(Seed.v1)
        let candidate = Seed.adding(Seed.regionNoDefault)
        let backward = try report(candidate, previous, .backward)
        #expect(!backward.isCompatible)
        let problem = try #require(backward.problems.first)
        #expect(backward.problems.count == 1)
        #expect(problem.direction == .backward)
        #expect(problem.rule == "READER_FIELD_MISSING_DEFAULT_VALUE")
        #expect(problem.field == "region")
        #expect(problem.versions == [1])
        #expect(problem.explanation == "field `region` added without a default: consumers reading events written with version 1 with the new schema cannot fill it (BACKWARD).")
        #expect(problem.fix.hasPrefix("Give it a default, e.g. \"default\": \"\""))
        #expect(problem.location == "/fields/8 of the new schema")
        // The seed said this breaks FORWARD: it does not. Old readers simply ignore the new field.
        #expect(try report(candidate, previous, .forward).isCompatible)
        #expect(try report(candidate, previous, .forwardTransitive).isCompatible)
        #expect(try !report(candidate, previous, .full).isCompatible)
    }

    @Test("removing a field that has no default breaks FORWARD (old readers need it), not BACKWARD")
    func removeWithoutDefault() throws {
        let previous = try versions(Seed.v1)
        let candidate = Seed.removing("resource")
        #expect(try report(candidate, previous, .backwardTransitive).isCompatible)
        let forward = try report(candidate, previous, .forward)
        let problem = try #require(forward.problems.first)
        #expect(forward.problems.count == 1)
        #expect(problem.direction == .forward)
        #expect(problem.rule == "READER_FIELD_MISSING_DEFAULT_VALUE")
        #expect(problem.field == "resource")
        #expect(problem.explanation.hasPrefix("field `resource` removed, but version 1 declares it without a default: consumers still on version 1 cannot read events written with the new schema, which lack it (FORWARD)."))
        #expect(problem.fix.hasPrefix("Keep `resource` in the schema"))
        #expect(problem.location == "/fields/4 of version 1")
    }

    @Test("removing a field that HAS a default (metadata) is forward compatible")
    func removeWithDefault() throws {
        #expect(try report(Seed.removing("metadata"), versions(Seed.v1), .fullTransitive).isCompatible)
    }

    @Test("a type change Avro cannot convert breaks both ways, with the types and the advice")
    func typeChange() throws {
        let candidate = Seed.replacing("actor_id", with: #"{"name": "actor_id", "type": "long"}"#)
        let full = try report(candidate, versions(Seed.v1), .full)
        #expect(full.problems.map(\.direction) == [.backward, .forward])
        let backward = full.problems[0]
        #expect(backward.rule == "TYPE_MISMATCH")
        #expect(backward.explanation == "field `actor_id`: type changed from `string` (version 1) to `long`; the new schema cannot read the `string` values in events written with version 1 (BACKWARD).")
        #expect(backward.fix.hasPrefix("Avro cannot convert `string` to `long`. Keep the type; add a new field"))
        #expect(full.problems[1].explanation == "field `actor_id`: type changed from `string` (version 1) to `long`; consumers still on version 1 cannot read the `long` values the new schema writes (FORWARD).")
    }

    @Test("promotions: int→long passes BACKWARD but breaks FORWARD; long→int breaks BACKWARD")
    func promotions() throws {
        let v1 = Seed.adding(#"{"name": "attempt", "type": "int", "default": 0}"#)
        let widened = Seed.adding(#"{"name": "attempt", "type": "long", "default": 0}"#)
        #expect(try report(widened, versions(v1), .backwardTransitive).isCompatible)
        let forward = try report(widened, versions(v1), .forward)
        let problem = try #require(forward.problems.first)
        #expect(problem.rule == "TYPE_MISMATCH" && problem.direction == .forward && problem.field == "attempt")
        #expect(problem.fix.hasPrefix("Avro promotes `int` to `long` only when a new reader reads old data"))

        let narrowed = try report(v1, versions(widened), .backward)
        #expect(narrowed.problems.count == 1)
        #expect(narrowed.problems[0].explanation.contains("type changed from `long` (version 1) to `int`"))
        #expect(narrowed.problems[0].fix == "Avro never narrows `long` to `int`. Keep `long`.")
        // float -> double and string -> bytes are promotions too.
        let f = Seed.adding(#"{"name": "score", "type": "float", "default": 0}"#)
        let d = Seed.adding(#"{"name": "score", "type": "double", "default": 0}"#)
        #expect(try report(d, versions(f), .backward).isCompatible)
        #expect(try report(Seed.replacing("resource", with: #"{"name": "resource", "type": "bytes"}"#), versions(Seed.v1), .full).isCompatible)
    }

    @Test("enum symbol removal breaks BACKWARD; addition breaks FORWARD unless the old enum has a default")
    func enums() throws {
        func action(_ symbols: [String], default symbol: String? = nil) -> String {
            let list = symbols.map { "\"\($0)\"" }.joined(separator: ", ")
            let def = symbol.map { #", "default": "\#($0)""# } ?? ""
            return Seed.replacing("action", with: #"{"name": "action", "type": {"type": "enum", "name": "Action", "symbols": [\#(list)]\#(def)}}"#)
        }
        let v1 = action(["CREATE", "UPDATE", "DELETE"])
        let removed = try report(action(["CREATE", "UPDATE"]), versions(v1), .full)
        #expect(removed.problems.count == 1)
        let problem = removed.problems[0]
        #expect(problem.rule == "MISSING_ENUM_SYMBOLS" && problem.direction == .backward && problem.field == "action")
        #expect(problem.explanation == "enum `com.worldtech.audit.Action` (field `action`): the new schema drops symbols DELETE, which events written with version 1 may contain, and has no default symbol (BACKWARD).")

        let added = try report(action(["CREATE", "UPDATE", "DELETE", "ARCHIVE"]), versions(v1), .full)
        #expect(added.problems.count == 1)
        #expect(added.problems[0].direction == .forward)
        #expect(added.problems[0].explanation.contains("the new schema adds symbols ARCHIVE, which consumers still on version 1 do not know"))
        // With a default symbol in the old enum, old readers map ARCHIVE to it.
        let v1WithDefault = action(["CREATE", "UPDATE", "DELETE", "OTHER"], default: "OTHER")
        #expect(try report(action(["CREATE", "UPDATE", "DELETE", "OTHER", "ARCHIVE"], default: "OTHER"), versions(v1WithDefault), .fullTransitive).isCompatible)
    }

    @Test("transitive levels check every version and name the ones that break")
    func transitive() throws {
        // v2 adds region with a default; the candidate drops the default.
        let previous = try versions(Seed.v1, Seed.adding(Seed.regionWithDefault), Seed.adding(Seed.regionWithDefault))
        let candidate = Seed.adding(Seed.regionNoDefault)
        #expect(try report(candidate, previous, .backward).isCompatible, "version 3 data has region")
        let transitive = try report(candidate, previous, .backwardTransitive)
        #expect(transitive.checkedVersions == [1, 2, 3])
        #expect(transitive.problems.map(\.versions) == [[1]])
        #expect(transitive.problems[0].explanation.contains("events written with version 1 with the new schema"))
    }

    @Test("one problem against several versions is reported once, with the versions")
    func grouping() throws {
        let previous = try versions(Seed.v1, Seed.v1, Seed.v1, Seed.v1)
        let r = try report(Seed.adding(Seed.regionNoDefault), previous, .backwardTransitive)
        #expect(r.problems.count == 1)
        #expect(r.problems[0].versions == [1, 2, 3, 4])
        #expect(r.problems[0].explanation.contains("written with versions 1–4 with"))
        #expect(CompatibilityReport.phrase(versions: [1, 2, 4]) == "versions 1, 2 and 4")
        #expect(CompatibilityReport.phrase(versions: [1, 2, 3, 5, 7, 8, 9]) == "versions 1–3, 5 and 7–9")
    }

    @Test("a rename without an alias is flagged as added+removed with a hint; with an alias it is backward compatible")
    func rename() throws {
        let renamed = Seed.replacing("resource", with: #"{"name": "target", "type": "string"}"#)
        let r = try report(renamed, versions(Seed.v1), .full)
        #expect(r.problems.count == 2)
        #expect(r.problems[0].explanation.hasSuffix("(Was `resource` renamed to `target`?)"))
        #expect(r.problems[0].fix.contains(#""aliases": ["resource"]"#))
        #expect(r.problems[1].explanation.contains("field `resource` removed") && r.problems[1].explanation.contains("(Renamed to `target`?"))
        let aliased = Seed.replacing("resource", with: #"{"name": "target", "type": "string", "aliases": ["resource"]}"#)
        #expect(try report(aliased, versions(Seed.v1), .backwardTransitive).isCompatible)
        // Ambiguous (two string fields added, one removed): no guess.
        let ambiguous = try report(Seed.removing("resource").replacingOccurrences(of: "{}}]}", with: #"{}}, {"name": "a", "type": "string"}, {"name": "b", "type": "string"}]}"#), versions(Seed.v1, Seed.v1), .fullTransitive)
        #expect(ambiguous.problems.count == 3)
        #expect(ambiguous.problems.allSatisfy { !$0.explanation.contains("renamed") && !$0.explanation.contains("Renamed") })
        #expect(ambiguous.problems[2].explanation.hasPrefix("field `resource` removed, but versions 1 and 2 declare it without a default: consumers still on versions 1 and 2 cannot read"))
    }

    @Test("unions: dropping null breaks BACKWARD, making a field optional breaks FORWARD")
    func unions() throws {
        let optional = Seed.adding(#"{"name": "session", "type": ["null", "string"], "default": null}"#)
        let required = Seed.adding(#"{"name": "session", "type": "string", "default": ""}"#)
        let tightened = try report(required, versions(optional), .full)
        #expect(tightened.problems.map(\.direction) == [.backward])
        #expect(tightened.problems[0].explanation == "field `session`: type changed from `[null, string]` (version 1) to `string`; the new schema cannot read the `null` values in events written with version 1 (BACKWARD).")
        let loosened = try report(optional, versions(required), .full)
        #expect(loosened.problems.map(\.direction) == [.forward])
        #expect(loosened.problems[0].explanation == "field `session`: type changed from `string` (version 1) to `[null, string]`; consumers still on version 1 cannot read the `null` values the new schema writes (FORWARD).")
        // A union losing a branch that old data may hold.
        let wide = Seed.adding(#"{"name": "n", "type": ["null", "string", "long"], "default": null}"#)
        let narrow = Seed.adding(#"{"name": "n", "type": ["null", "string"], "default": null}"#)
        let lost = try report(narrow, versions(wide), .backward)
        #expect(lost.problems.count == 1 && lost.problems[0].rule == "MISSING_UNION_BRANCH")
        #expect(lost.problems[0].explanation.contains("cannot read the `long` values in events written with version 1"))
    }

    @Test("nested record fields are named by path")
    func nested() throws {
        let v1 = Seed.adding(#"{"name": "address", "type": {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}]}, "default": {"city": ""}}"#)
        let v2 = Seed.adding(#"{"name": "address", "type": {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}, {"name": "zip", "type": "string"}]}, "default": {"city": "", "zip": ""}}"#)
        let r = try report(v2, versions(v1), .backward)
        #expect(r.problems.count == 1)
        #expect(r.problems[0].field == "address.zip")
        #expect(r.problems[0].explanation.hasPrefix("field `address.zip` added without a default"))
    }

    @Test("named types: a renamed record needs an alias; a fixed cannot change size")
    func namedTypes() throws {
        let v1 = Seed.adding(#"{"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 32}, "default": "\#(String(repeating: "a", count: 32))"}"#)
        let resized = Seed.adding(#"{"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 64}, "default": "\#(String(repeating: "a", count: 64))"}"#)
        let r = try report(resized, versions(v1), .backward)
        #expect(r.problems.count == 1 && r.problems[0].rule == "FIXED_SIZE_MISMATCH")
        #expect(r.problems[0].explanation == "field `hash`: fixed `com.worldtech.audit.Hash` changed size from 32 (version 1) to 64 bytes; a fixed value of one size cannot be read as another (BACKWARD).")

        let renamedRecord = Seed.v1.replacingOccurrences(of: #""name": "AuditEvent""#, with: #""name": "AuditRecord""#)
        let renamed = try report(renamedRecord, versions(Seed.v1), .backward)
        #expect(renamed.problems.count == 1 && renamed.problems[0].rule == "NAME_MISMATCH")
        #expect(renamed.problems[0].explanation.contains("renamed from `record com.worldtech.audit.AuditEvent` (version 1) to `record com.worldtech.audit.AuditRecord`"))
        #expect(renamed.problems[0].fix == #"Keep the name, or add "aliases": ["com.worldtech.audit.AuditEvent"] to the renamed type."#)
        let aliased = Seed.v1.replacingOccurrences(of: #""name": "AuditEvent""#, with: #""name": "AuditRecord", "aliases": ["AuditEvent"]"#)
        #expect(try report(aliased, versions(Seed.v1), .backwardTransitive).isCompatible)
    }

    @Test("NONE and an empty history are always compatible; the text says why")
    func trivial() throws {
        let breaking = Seed.adding(Seed.regionNoDefault)
        let none = try report(breaking, versions(Seed.v1), .none)
        #expect(none.isCompatible && none.checkedVersions.isEmpty)
        #expect(none.text(candidate: "c.avsc", subject: "S").contains("NONE"))
        let empty = try report(breaking, [], .fullTransitive)
        #expect(empty.isCompatible)
        #expect(empty.text(candidate: "c.avsc", subject: "subject S").contains("subject S has no previous versions"))
    }

    @Test("the text report lists each problem with its fix and rule")
    func textReport() throws {
        let r = try report(Seed.adding(Seed.regionNoDefault), versions(Seed.v1, Seed.v1), .backwardTransitive)
        let text = r.text(candidate: "audit.avsc", subject: "subject auditpipe.events-value")
        #expect(text == """
            audit.avsc is NOT compatible with subject auditpipe.events-value at level BACKWARD_TRANSITIVE (checked against versions 1 and 2): 1 problem.

            1. field `region` added without a default: consumers reading events written with versions 1 and 2 with the new schema cannot fill it (BACKWARD).
               Fix: Give it a default, e.g. "default": "", or make it optional: "type": ["null", "string"], "default": null.
               Rule: READER_FIELD_MISSING_DEFAULT_VALUE at /fields/8 of the new schema.

            """)
    }
}
