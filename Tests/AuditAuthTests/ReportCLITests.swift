import AuditAuth
import AuditPipeProto
import AuditPipeTestSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// `auditpipe report` and `auditpipe recent` against a real server (the read-side test
/// service over gRPC, with ClickHouse behind it). The binary is `auditpipe` from this build's
/// products folder, or the path in `AUDITPIPE_CLI`.
@Suite("auditpipe report / recent", .serialized, .enabled(if: TestService.available(.clickhouse, .clickhouseUser, .clickhousePassword)))
struct ReportCLITests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["AUDITPIPE_CLI"], !path.isEmpty { return URL(fileURLWithPath: path) }
        return TestEnvironment.productsDirectory.appendingPathComponent("auditpipe")
    }

    static func run(_ arguments: [String], key: String?) async throws -> Run {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["AUDITPIPE_API_KEY"] = key
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read while it runs, so that a large output cannot fill the pipe and block it. The
        // blocking reads get threads of their own: on the cooperative pool they would starve
        // the gRPC server that runs in this process.
        async let stdout = readToEnd(out.fileHandleForReading)
        async let stderr = readToEnd(err.fileHandleForReading)
        let (o, e) = await (stdout, stderr)
        await withCheckedContinuation { continuation in
            Thread {
                process.waitUntilExit()
                continuation.resume()
            }.start()
        }
        return Run(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    static func readToEnd(_ handle: FileHandle) async -> Data {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: handle.readDataToEndOfFile()) }.start()
        }
    }

    @Test func reportInEveryFormat() async throws {
        try await ReadSideServerTests.withServer { _, port in
            let common = ["report", "--tenant", "acme", "--from", "2026-03-01", "--to", "2026-04-01", "--server", "127.0.0.1:\(port)"]
            let key = ReadSideServerTests.acmeKey

            let csv = try await Self.run(common + ["--format", "csv"], key: key)
            #expect(csv.status == 0, "\(csv.stderr)")
            let lines = csv.stdout.split(separator: "\n")
            #expect(lines.first == "timestamp,event_type,actor_id,action,resource,event_id,metadata")
            #expect(lines.count == 501)
            #expect(lines.dropFirst().first == "2026-03-01T00:00:00.000Z,auth,alice,login,doc/1,e0,ip=10.0.0.1")

            let ndjson = try await Self.run(common + ["--format", "ndjson", "--limit", "3"], key: key)
            #expect(ndjson.status == 0, "\(ndjson.stderr)")
            let objects = try ndjson.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
            #expect(objects.count == 3)
            #expect(objects.map { $0["event_id"] as? String } == ["e0", "e2", "e4"])
            #expect(objects.allSatisfy { $0["tenant_id"] as? String == "acme" })
            #expect((objects[0]["metadata"] as? [String: String]) == ["ip": "10.0.0.1"])

            let table = try await Self.run(common + ["--event-type", "auth", "--actor", "alice"], key: key)
            #expect(table.status == 0)
            #expect(table.stdout.split(separator: "\n").count == 501)
            #expect(table.stdout.hasPrefix("timestamp "))

            // RFC 3339 bounds with an offset: 00:00 to 01:00 UTC is minutes 0..59, acme has the even ones.
            let hour = try await Self.run(common.prefix(3) + ["--from", "2026-03-01T01:00:00+01:00", "--to", "2026-03-01T01:00:00Z", "--server", "127.0.0.1:\(port)", "--format", "csv"], key: key)
            #expect(hour.status == 0, "\(hour.stderr)")
            #expect(hour.stdout.split(separator: "\n").count == 31)

            let grouped = try await Self.run(common + ["--group-by", "event_type,day", "--format", "csv"], key: key)
            #expect(grouped.status == 0, "\(grouped.stderr)")
            let groupedLines = grouped.stdout.split(separator: "\n")
            #expect(groupedLines.first == "event_type,day,count")
            // 1000 events one minute apart from 2026-03-01 00:00 (16.7 hours), every other one acme's.
            #expect(Array(groupedLines.dropFirst()) == ["auth,2026-03-01,500"])
            let byActor = try await Self.run(common + ["--group-by", "actor,action", "--format", "ndjson"], key: key)
            #expect(byActor.stdout == #"{"action":"login","actor_id":"alice","count":500}"# + "\n")
        }
    }

    @Test func errorsAreClearAndExitNonZero() async throws {
        try await ReadSideServerTests.withServer { _, port in
            let common = ["report", "--from", "2026-03-01", "--to", "2026-04-01", "--server", "127.0.0.1:\(port)"]
            let wrongKey = try await Self.run(common + ["--tenant", "acme"], key: "ap_wrong-key-0000000000000")
            #expect(wrongKey.status == 1)
            #expect(wrongKey.stderr.contains("unauthenticated: invalid API key"), "\(wrongKey.stderr)")
            let otherTenant = try await Self.run(common + ["--tenant", "globex"], key: ReadSideServerTests.acmeKey)
            #expect(otherTenant.status == 1)
            #expect(otherTenant.stderr.contains("permissionDenied"), "\(otherTenant.stderr)")
            #expect(otherTenant.stdout.isEmpty)
            let noKey = try await Self.run(common + ["--tenant", "acme"], key: nil)
            #expect(noKey.status != 0)
            // Without a key the CLI still calls (a development-mode server needs none); this
            // server requires one, and the error says so and how to send it.
            #expect(noKey.stderr.contains("the server requires credentials and none were sent: set AUDITPIPE_API_KEY"), "\(noKey.stderr)")
            let badDate = try await Self.run(["report", "--tenant", "acme", "--from", "2026-02-30", "--to", "2026-04-01"], key: "k")
            #expect(badDate.status != 0)
            #expect(badDate.stderr.contains("--from '2026-02-30' is not a date"), "\(badDate.stderr)")
            let help = try await Self.run(["report", "--help"], key: nil)
            #expect(help.status == 0)
            #expect(help.stdout.contains("--group-by") && help.stdout.contains("YYYY-MM-DD"))

            // recent: the test service answers an empty list (the real one reads Redis).
            let recent = try await Self.run(["recent", "--tenant", "acme", "--actor", "alice", "--server", "127.0.0.1:\(port)", "--format", "csv"], key: ReadSideServerTests.acmeKey)
            #expect(recent.status == 0, "\(recent.stderr)")
            #expect(recent.stdout == "timestamp,event_type,actor_id,action,resource,event_id,metadata\n")
            let recentDenied = try await Self.run(["recent", "--tenant", "globex", "--actor", "alice", "--server", "127.0.0.1:\(port)"], key: ReadSideServerTests.acmeKey)
            #expect(recentDenied.status == 1)
        }
    }
}
