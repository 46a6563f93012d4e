import AuditPipeTestSupport
import Foundation
import SchemaRegistry
import Testing

/// Confluent's own Python client (confluent-kafka: SchemaRegistryClient, AvroSerializer,
/// AvroDeserializer) against the registry auditpipe serves, and the registry's compatibility
/// verdicts against Apache's avro.compatibility on avro_oracle.py's corpus.
@Suite("Interop with Confluent's Python client")
struct InteropTests {
    /// This folder, with symlinks resolved (the scripts live next to the sources).
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().resolvingSymlinksInPath()

    @Test("confluent_kafka registers, reads back, checks compatibility and serializes through our server", .enabled(if: TestService.available(.python)), .timeLimit(.minutes(3)))
    func confluentPythonClient() async throws {
        let registry = try await RunningRegistry(log: InMemoryRegistryLog())
        let server = try await RunningHTTPServer(registry: registry.service)
        defer { Task { await server.stop(); await registry.stop() } }
        let oracleDirectory = Self.testsDirectory.deletingLastPathComponent().appendingPathComponent("AvroCodecTests")
        let output = try await runPython(
            [Self.testsDirectory.appendingPathComponent("registry_interop.py").path, server.baseURL, oracleDirectory.path]
        )
        let result = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        let failures = result?["failures"] as? [String]
        #expect(failures == [], "\(failures ?? ["no result: \(output)"])")
        #expect((result?["checks"] as? Int ?? 0) >= 26, "every check of the script ran")
        #expect((result?["pairs"] as? Int ?? 0) >= 100, "the corpus has 64 primitive pairs plus 45 hand-written ones")
        #expect((result?["incompatible_pairs"] as? Int ?? 0) >= 20)
    }
}

/// Runs the dev venv's Python (AUDITPIPE_PYTHON) off the cooperative pool; returns stdout.
func runPython(_ arguments: [String]) async throws -> String {
    let python = try TestService.python.value
    return try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            do {
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("registry-interop-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: directory) }
                let outURL = directory.appendingPathComponent("out")
                let errURL = directory.appendingPathComponent("err")
                _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
                _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: python)
                process.arguments = arguments
                process.standardOutput = try FileHandle(forWritingTo: outURL)
                process.standardError = try FileHandle(forWritingTo: errURL)
                try process.run()
                process.waitUntilExit()
                let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
                let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
                guard process.terminationStatus == 0 else {
                    throw TimedOut(what: "python \(arguments.first ?? "") exited with \(process.terminationStatus): \(err.suffix(3000))")
                }
                continuation.resume(returning: out)
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}
