import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where the store-side benchmarks find the dev stack: the `AUDITPIPE_*` variables that
/// `Deploy/dev/up` writes to `.dev/env` (source it first).
package struct StoreBenchEnvironment: Sendable {
    /// Kafka bootstrap servers.
    package var kafkaBrokers: [String]
    /// The dev Kafka cluster's control port `host:port` (`create-topic`), or nil.
    package var kafkaControl: String?
    /// ClickHouse HTTP URL, user and password.
    package var clickHouseURL: String
    package var clickHouseUser: String
    package var clickHousePassword: String
    /// `redis://host:port`, or nil.
    package var redisURL: String?
    /// The whole environment, handed to a spawned `auditpipe serve`.
    package var variables: [String: String]

    /// Reads the variables.
    ///
    /// - Throws: ``BenchSetupError`` naming the missing variable.
    package static func current(needsKafka: Bool = true, needsRedis: Bool = false) throws(BenchSetupError) -> StoreBenchEnvironment {
        let variables = ProcessInfo.processInfo.environment
        func value(_ name: String) -> String? { variables[name].flatMap { $0.isEmpty ? nil : $0 } }
        func required(_ name: String) throws(BenchSetupError) -> String {
            guard let text = value(name) else {
                throw BenchSetupError("\(name) is not set: start the dev stack (Deploy/dev/up) and `source .dev/env` first")
            }
            return text
        }
        let brokers = needsKafka ? try required("AUDITPIPE_KAFKA_BROKERS") : (value("AUDITPIPE_KAFKA_BROKERS") ?? "")
        let redis = needsRedis ? try required("AUDITPIPE_REDIS_URL") : value("AUDITPIPE_REDIS_URL")
        return StoreBenchEnvironment(
            kafkaBrokers: brokers.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) },
            kafkaControl: value("AUDITPIPE_KAFKA_CONTROL"),
            clickHouseURL: try required("AUDITPIPE_CLICKHOUSE_URL"),
            clickHouseUser: value("AUDITPIPE_CLICKHOUSE_USER") ?? "default",
            clickHousePassword: value("AUDITPIPE_CLICKHOUSE_PASSWORD") ?? "",
            redisURL: redis,
            variables: variables
        )
    }

    /// Creates a topic through the dev cluster's control port (the mock cluster has no
    /// CreateTopics over the wire).
    package func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 3) async throws {
        guard let kafkaControl else {
            throw BenchSetupError("AUDITPIPE_KAFKA_CONTROL is not set: the benchmark creates its own topics through the dev Kafka control port")
        }
        let reply = try await KafkaControlPort.send("create-topic \(name) \(partitions) \(replicationFactor)", to: kafkaControl)
        guard reply.hasPrefix("ok") else { throw BenchSetupError("create-topic \(name) failed: \(reply)") }
    }
}

/// A short unique suffix for topic, group and database names of one run.
package func benchRunID() -> String {
    String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(10))
}

/// Runs a blocking closure on a thread of its own and returns its result (blocking calls must not
/// hold a thread of Swift's cooperative pool).
package func onDedicatedThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.name = name
        thread.start()
    }
}

/// The dev Kafka cluster's control port: one command line in, one reply line out.
enum KafkaControlPort {
    static func send(_ command: String, to address: String) async throws -> String {
        try await onDedicatedThread("auditpipe-bench-kafka-control") { try sendBlocking(command, to: address) }
    }

    private static func sendBlocking(_ command: String, to address: String) throws -> String {
        guard let colon = address.lastIndex(of: ":") else {
            throw BenchSetupError("AUDITPIPE_KAFKA_CONTROL must be host:port (got \(address))")
        }
        let host = String(address[..<colon])
        let port = String(address[address.index(after: colon)...])
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, port, &hints, &info) == 0, let first = info else {
            throw BenchSetupError("cannot resolve the Kafka control address \(address)")
        }
        defer { freeaddrinfo(info) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw BenchSetupError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw BenchSetupError("cannot connect to the Kafka control port \(address) (errno \(errno)): is the dev stack up?")
        }
        let line = Array((command + "\n").utf8)
        var sent = 0
        while sent < line.count {
            let n = line[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw BenchSetupError("writing to the Kafka control port failed: errno \(errno)") }
            sent += n
        }
        var reply: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1 {
            if byte == UInt8(ascii: "\n") { break }
            reply.append(byte)
        }
        return String(decoding: reply, as: UTF8.self)
    }
}

/// An `auditpipe serve` child process of this same executable, on its own ports, topic, sink
/// group and ClickHouse database, so a benchmark disturbs nobody else's server.
package final class BenchServerProcess: Sendable {
    /// The gRPC address.
    package let grpcHost: String
    package let grpcPort: Int
    /// The HTTP address (`/readyz`).
    package let httpAddress: String
    /// Where its log goes.
    package let logPath: String
    private let child: ProcessBox
    private let exited = ExitSignal()

    /// What the server is started with.
    package struct Settings: Sendable {
        package var grpcAddress: String
        package var httpAddress: String
        package var eventsTopic: String
        package var deadLetterTopic: String
        package var sinkGroup: String
        package var clickHouseDatabase: String
        package var logLevel: String = "warning"

        package init(grpcAddress: String, httpAddress: String, eventsTopic: String, deadLetterTopic: String, sinkGroup: String, clickHouseDatabase: String) {
            self.grpcAddress = grpcAddress
            self.httpAddress = httpAddress
            self.eventsTopic = eventsTopic
            self.deadLetterTopic = deadLetterTopic
            self.sinkGroup = sinkGroup
            self.clickHouseDatabase = clickHouseDatabase
        }
    }

    /// Starts `auditpipe serve` (``AuditPipeExecutable``) and waits until `/readyz` answers 200.
    package init(settings: Settings, environment: StoreBenchEnvironment, readyTimeout: Duration = .seconds(90)) async throws {
        guard let colon = settings.grpcAddress.lastIndex(of: ":"), let port = Int(settings.grpcAddress[settings.grpcAddress.index(after: colon)...]) else {
            throw BenchSetupError("--grpc-addr must be host:port (got \(settings.grpcAddress))")
        }
        grpcHost = String(settings.grpcAddress[..<colon])
        grpcPort = port
        httpAddress = settings.httpAddress
        logPath = NSTemporaryDirectory() + "auditpipe-bench-\(settings.sinkGroup).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw BenchSetupError("cannot write \(logPath)") }
        let executable = AuditPipeExecutable.path
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = [
            "serve", "--grpc-addr", settings.grpcAddress, "--http-addr", settings.httpAddress,
            "--events-topic", settings.eventsTopic, "--dlq-topic", settings.deadLetterTopic,
            "--sink-group", settings.sinkGroup, "--clickhouse-database", settings.clickHouseDatabase,
            "--log-level", settings.logLevel,
        ]
        var variables = environment.variables
        // Flags win over variables, but keep the child from inheriting an unrelated auth setup.
        variables.removeValue(forKey: "AUDITPIPE_AUTH_CONFIG")
        child.environment = variables
        child.standardOutput = log
        child.standardError = log
        child.standardInput = FileHandle.nullDevice
        self.child = ProcessBox(child)
        let exited = self.exited
        child.terminationHandler = { _ in exited.signal() }
        try child.run()
        do {
            try await waitUntilReady(timeout: readyTimeout)
        } catch {
            await stop()
            throw error
        }
    }

    private func waitUntilReady(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = "no answer"
        while ContinuousClock.now < deadline {
            if exited.isDone {
                throw BenchSetupError("auditpipe serve exited during start-up; see \(logPath)")
            }
            do {
                var request = HTTPClientRequest(url: "http://\(httpAddress)/readyz")
                request.method = .GET
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(2))
                let body = try await response.body.collect(upTo: 1 << 16)
                if response.status.code == 200 { return }
                last = "HTTP \(response.status.code): \(String(buffer: body))"
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw BenchSetupError("auditpipe serve on \(httpAddress) was not ready after \(timeout) (\(last)); see \(logPath)")
    }

    /// The child's process id (to read its CPU time from /proc).
    package var processIdentifier: Int32 { child.process.processIdentifier }

    /// SIGTERM (graceful drain), then SIGKILL after 20 s; returns once the process has exited.
    package func stop() async {
        let pid = child.process.processIdentifier
        if !exited.isDone { kill(pid, SIGTERM) }
        let killer = Task {
            try await Task.sleep(for: .seconds(20))
            if !self.exited.isDone { kill(pid, SIGKILL) }
        }
        await exited.wait()
        killer.cancel()
    }
}

/// Keeps the child's `Process` alive (and its termination handler registered); only its pid is
/// read after start.
private final class ProcessBox: @unchecked Sendable {
    let process: Process
    init(_ process: Process) { self.process = process }
}

/// Set once when the child exits; `wait()` returns after that.
final class ExitSignal: Sendable {
    private let state = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    var isDone: Bool { state.withLock { $0.done } }

    func signal() {
        let waiters = state.withLock { state in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}
