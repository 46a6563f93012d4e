import AuditPipeTestSupport
import Foundation
import SchemaTools
import Testing

/// Runs the built `auditpipe` executable (this test target depends on it, so it sits next to
/// the test bundle) and returns its exit status and output.
func runAuditpipe(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
    let binary = try auditpipeBinary()
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let outPath = try dir.write("stdout", "")
    let errPath = try dir.write("stderr", "")
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for key in env.keys where key.hasPrefix("AUDITPIPE_SCHEMA_REGISTRY") { env[key] = nil }
    env.merge(environment) { $1 }
    process.environment = env
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    // Wait without blocking a cooperative thread: the termination handler resumes us.
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do { try process.run() } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    return (status, try String(contentsOfFile: outPath, encoding: .utf8), try String(contentsOfFile: errPath, encoding: .utf8))
}

struct BinaryNotFound: Error, CustomStringConvertible {
    var searched: [String]
    var description: String { "the auditpipe executable was not found next to the tests (searched \(searched)); the test target must depend on it" }
}

func auditpipeBinary() throws -> URL {
    var directories: [URL] = []
    if let executable = Bundle.main.executableURL { directories.append(executable.deletingLastPathComponent()) }
    directories.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
    directories.append(Bundle.main.bundleURL.deletingLastPathComponent())
    for directory in directories {
        let candidate = directory.appendingPathComponent("auditpipe")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    throw BinaryNotFound(searched: directories.map(\.path))
}

@Suite("the auditpipe executable: `schema` exit codes as CI sees them")
struct CLIProcessTests {
    @Test("offline check: 0 compatible, 1 incompatible, 2 usage and file errors")
    func offline() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let previous = try dir.subdirectory("schemas")
        try previous.write("v1.avsc", Seed.v1)
        let good = try dir.write("good.avsc", Seed.adding(Seed.regionWithDefault))
        let bad = try dir.write("bad.avsc", Seed.adding(Seed.regionNoDefault))

        let ok = try await runAuditpipe(["schema", "check", "--schema", good, "--previous-dir", previous.path])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("good.avsc is compatible"))

        let broken = try await runAuditpipe(["schema", "check", "--schema", bad, "--previous-dir", previous.path])
        #expect(broken.status == 1)
        #expect(broken.stdout.contains("field `region` added without a default: consumers reading events written with version 1 with the new schema cannot fill it (BACKWARD)."))

        let forward = try await runAuditpipe(["schema", "check", "--schema", bad, "--previous-dir", previous.path, "--level", "forward", "--format", "json"])
        #expect(forward.status == 0)
        #expect(forward.stdout.contains("\"compatible\" : true"))

        let noSchema = try await runAuditpipe(["schema", "check", "--previous-dir", previous.path])
        #expect(noSchema.status == 2)
        #expect(noSchema.stderr.contains("missing --schema FILE"))
        let noSource = try await runAuditpipe(["schema", "check", "--schema", good])
        #expect(noSource.status == 2)
        let both = try await runAuditpipe(["schema", "check", "--schema", good, "--previous-dir", previous.path, "--registry", "http://127.0.0.1:1", "--subject", "s"])
        #expect(both.status == 2)
        #expect(both.stderr.contains("not both"))
        let badLevel = try await runAuditpipe(["schema", "check", "--schema", good, "--previous-dir", previous.path, "--level", "SIDEWAYS"])
        #expect(badLevel.status == 2)
        #expect(badLevel.stderr.contains("--level must be one of"))
        let badFormat = try await runAuditpipe(["schema", "check", "--schema", good, "--previous-dir", previous.path, "--format", "xml"])
        #expect(badFormat.status == 2)
        let missingFile = try await runAuditpipe(["schema", "check", "--schema", dir.path + "/nope.avsc", "--previous-dir", previous.path])
        #expect(missingFile.status == 2)
        // ArgumentParser's own rejection of an unknown flag: 64 (EX_USAGE), documented.
        let unknownFlag = try await runAuditpipe(["schema", "check", "--schema", good, "--previous-dir", previous.path, "--bogus"])
        #expect(unknownFlag.status == 64)

        let diff = try await runAuditpipe(["schema", "diff", previous.path + "/v1.avsc", bad])
        #expect(diff.status == 0)
        #expect(diff.stdout.contains("+ field `region`: string, no default"))
    }

    @Test("check --registry against the in-process registry, with the URL from the environment")
    func registry() async throws {
        let registry = try await InProcessRegistry()
        defer { Task { await registry.stop() } }
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let v1 = try dir.write("v1.avsc", Seed.v1)
        let bad = try dir.write("bad.avsc", Seed.adding(Seed.regionNoDefault))
        let subject = "auditpipe.events-value"

        let registered = try await runAuditpipe(["schema", "register", "--schema", v1, "--registry", registry.url, "--subject", subject])
        #expect(registered.status == 0, "\(registered.stderr)")
        #expect(registered.stdout == "registered: subject \(subject) version 1, schema id 1\n")

        let broken = try await runAuditpipe(["schema", "check", "--schema", bad, "--subject", subject], environment: ["AUDITPIPE_SCHEMA_REGISTRY_URL": registry.url])
        #expect(broken.status == 1, "\(broken.stderr)")
        #expect(broken.stdout.contains("field `region` added without a default"))

        let listed = try await runAuditpipe(["schema", "list", "--registry", registry.url])
        #expect(listed.status == 0)
        #expect(listed.stdout == "\(subject): v1 (id 1)\n")

        let down = try await runAuditpipe(["schema", "check", "--schema", bad, "--subject", subject, "--registry", "http://127.0.0.1:\(try unusedLocalPort())"])
        #expect(down.status == 2)
        #expect(down.stderr.contains("unreachable"))
    }
}
