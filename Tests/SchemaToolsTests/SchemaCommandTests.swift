import AuditPipeTestSupport
import AvroCodec
import Foundation
import SchemaTools
import Testing

@Suite("schema check/diff offline: exit codes and output")
struct OfflineCommandTests {
    @Test("check --previous-dir: 0 compatible, 1 incompatible with the explanation, 2 when it cannot run")
    func check() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let previous = try dir.subdirectory("previous")
        try previous.write("v1.avsc", Seed.v1)
        try previous.write("v2.avsc", Seed.adding(Seed.regionWithDefault))
        let good = try dir.write("good.avsc", Seed.adding(Seed.regionWithDefault, #"{"name": "user_agent", "type": ["null", "string"], "default": null}"#))
        let bad = try dir.write("bad.avsc", Seed.adding(Seed.regionWithDefault, #"{"name": "user_agent", "type": "string"}"#))

        let ok = await SchemaToolCommands.check(schemaPath: good, against: .directory(previous.path), level: .backwardTransitive, format: .text)
        #expect(ok.exitCode == 0)
        #expect(ok.standardOutput == "good.avsc is compatible with the previous versions in \(previous.path) at level BACKWARD_TRANSITIVE (checked against versions 1 and 2).\n")

        let broken = await SchemaToolCommands.check(schemaPath: bad, against: .directory(previous.path), level: .backwardTransitive, format: .text)
        #expect(broken.exitCode == 1)
        #expect(broken.standardOutput.contains("1. field `user_agent` added without a default: consumers reading events written with versions 1 and 2 with the new schema cannot fill it (BACKWARD)."))
        #expect(broken.standardError.isEmpty)

        // FORWARD alone does not mind an added field (the seed's claim was inverted).
        let forward = await SchemaToolCommands.check(schemaPath: bad, against: .directory(previous.path), level: .forwardTransitive, format: .text)
        #expect(forward.exitCode == 0)

        let missing = await SchemaToolCommands.check(schemaPath: dir.path + "/nope.avsc", against: .directory(previous.path), level: .backward, format: .text)
        #expect(missing.exitCode == 2)
        #expect(missing.standardError.hasPrefix("error: cannot read schema file \(dir.path)/nope.avsc"))
        let invalid = try dir.write("invalid.avsc", "{")
        let unparsable = await SchemaToolCommands.check(schemaPath: invalid, against: .directory(previous.path), level: .backward, format: .text)
        #expect(unparsable.exitCode == 2)
        #expect(unparsable.standardError.contains("invalid.avsc is not a valid Avro schema"))
        let noDir = await SchemaToolCommands.check(schemaPath: good, against: .directory(dir.path + "/none"), level: .backward, format: .text)
        #expect(noDir.exitCode == 2)
    }

    @Test("check --format json is one JSON document, also for errors")
    func json() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let previous = try dir.subdirectory("previous")
        try previous.write("v1.avsc", Seed.v1)
        let bad = try dir.write("bad.avsc", Seed.removing("tenant_id"))
        let output = await SchemaToolCommands.check(schemaPath: bad, against: .directory(previous.path), level: .fullTransitive, format: .json)
        #expect(output.exitCode == 1)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [String: Any])
        #expect(document["compatible"] as? Bool == false)
        #expect(document["level"] as? String == "FULL_TRANSITIVE")
        #expect(document["checkedVersions"] as? [Int] == [1])
        let problems = try #require(document["problems"] as? [[String: Any]])
        #expect(problems.count == 1)
        #expect(problems[0]["field"] as? String == "tenant_id")
        #expect(problems[0]["direction"] as? String == "FORWARD")
        #expect(problems[0]["rule"] as? String == "READER_FIELD_MISSING_DEFAULT_VALUE")
        #expect(problems[0]["versions"] as? [Int] == [1])

        let failed = await SchemaToolCommands.check(schemaPath: dir.path + "/nope.avsc", against: .directory(previous.path), level: .backward, format: .json)
        #expect(failed.exitCode == 2)
        let error = try #require(try JSONSerialization.jsonObject(with: Data(failed.standardOutput.utf8)) as? [String: Any])
        #expect((error["error"] as? String)?.contains("cannot read schema file") == true)
    }

    @Test("diff prints the changes and both directions' verdicts")
    func diff() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let a = try dir.write("a.avsc", Seed.v1)
        let b = try dir.write("b.avsc", Seed.adding(Seed.regionNoDefault))
        let output = SchemaToolCommands.diff(oldPath: a, newPath: b, format: .text)
        #expect(output.exitCode == 0)
        #expect(output.standardOutput == """
            a.avsc → b.avsc: 1 change
              + field `region`: string, no default
            BACKWARD (b.avsc reads data written with a.avsc): NOT compatible
              - field `region` added without a default: consumers reading events written with `a.avsc` with the new schema cannot fill it (BACKWARD).
            FORWARD (a.avsc reads data written with b.avsc): compatible

            """)
        let json = SchemaToolCommands.diff(oldPath: a, newPath: b, format: .json)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        #expect(document["backwardCompatible"] as? Bool == false)
        #expect(document["forwardCompatible"] as? Bool == true)
        #expect((document["changes"] as? [[String: Any]])?.first?["kind"] as? String == "field_added")
        #expect(SchemaToolCommands.diff(oldPath: a, newPath: dir.path + "/none.avsc", format: .text).exitCode == 2)
    }
}

@Suite("schema check/register/list against AuditPipe's own registry, served in-process over HTTP")
struct RegistryCommandTests {
    let subject = "auditpipe.events-value"

    @Test("register, check (compatible and breaking), list; the registry refuses what the check flags")
    func flow() async throws {
        let registry = try await InProcessRegistry()
        defer { Task { await registry.stop() } }
        let connection = RegistryConnection(url: registry.url)
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let v1 = try dir.write("v1.avsc", Seed.v1)
        let v2 = try dir.write("v2.avsc", Seed.adding(Seed.regionWithDefault))
        let breaking = try dir.write("breaking.avsc", Seed.adding(Seed.regionWithDefault, #"{"name": "actor_ip", "type": "string"}"#))

        let first = await SchemaToolCommands.register(schemaPath: v1, registry: connection, subject: subject, format: .text)
        #expect(first.exitCode == 0, "\(first.standardError)")
        #expect(first.standardOutput == "registered: subject \(subject) version 1, schema id 1\n")
        let again = await SchemaToolCommands.register(schemaPath: v1, registry: connection, subject: subject, format: .text)
        #expect(again.standardOutput == "already registered: subject \(subject) version 1, schema id 1\n")

        let compatible = await SchemaToolCommands.check(schemaPath: v2, against: .registry(connection, subject: subject), level: .backwardTransitive, format: .text)
        #expect(compatible.exitCode == 0, "\(compatible.standardError)")
        #expect(compatible.standardOutput == """
            v2.avsc is compatible with subject \(subject) at \(registry.url) at level BACKWARD_TRANSITIVE (checked against version 1).
            Note: the registry enforces BACKWARD for this subject on registration; this check used BACKWARD_TRANSITIVE.

            """)
        let second = await SchemaToolCommands.register(schemaPath: v2, registry: connection, subject: subject, format: .json)
        #expect(second.exitCode == 0)
        let registered = try #require(try JSONSerialization.jsonObject(with: Data(second.standardOutput.utf8)) as? [String: Any])
        #expect(registered["version"] as? Int == 2 && registered["id"] as? Int == 2)

        let broken = await SchemaToolCommands.check(schemaPath: breaking, against: .registry(connection, subject: subject), level: .backwardTransitive, format: .text)
        #expect(broken.exitCode == 1)
        #expect(broken.standardOutput.contains("breaking.avsc is NOT compatible with subject \(subject) at \(registry.url) at level BACKWARD_TRANSITIVE (checked against versions 1 and 2): 1 problem."))
        #expect(broken.standardOutput.contains("1. field `actor_ip` added without a default: consumers reading events written with versions 1 and 2 with the new schema cannot fill it (BACKWARD)."))

        // The registry itself refuses it, and register explains why with the subject's level.
        let refused = await SchemaToolCommands.register(schemaPath: breaking, registry: connection, subject: subject, format: .text)
        #expect(refused.exitCode == 1)
        #expect(refused.standardOutput.hasPrefix("The registry refused breaking.avsc for subject \(subject) (level BACKWARD)"))
        #expect(refused.standardOutput.contains("field `actor_ip` added without a default: consumers reading events written with version 2 with the new schema cannot fill it (BACKWARD)."))

        let list = await SchemaToolCommands.list(registry: connection, subject: nil, format: .text)
        #expect(list.exitCode == 0)
        #expect(list.standardOutput == "\(subject): v1 (id 1), v2 (id 2)\n")
        let unknown = await SchemaToolCommands.list(registry: connection, subject: "nope-value", format: .text)
        #expect(unknown.exitCode == 2)

        // A subject without versions: nothing to break.
        let fresh = await SchemaToolCommands.check(schemaPath: breaking, against: .registry(connection, subject: "new-topic-value"), level: .fullTransitive, format: .text)
        #expect(fresh.exitCode == 0)
        #expect(fresh.standardOutput.contains("subject new-topic-value at \(registry.url) has no previous versions"))
    }

    @Test("an unreachable registry or a bad URL exits 2 (the check could not run), not 1")
    func unreachable() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let candidate = try dir.write("c.avsc", Seed.v1)
        let down = RegistryConnection(url: "http://127.0.0.1:\(try unusedLocalPort())", timeout: .seconds(5))
        let output = await SchemaToolCommands.check(schemaPath: candidate, against: .registry(down, subject: subject), level: .backward, format: .text)
        #expect(output.exitCode == 2)
        #expect(output.standardError.contains("unreachable"))
        #expect(output.standardError.contains("retry"))
        let badURL = await SchemaToolCommands.check(schemaPath: candidate, against: .registry(RegistryConnection(url: "registry:8081"), subject: subject), level: .backward, format: .text)
        #expect(badURL.exitCode == 2)
        #expect(badURL.standardError.contains("invalid --registry"))
    }
}
