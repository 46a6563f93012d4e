package import AvroCodec
import Foundation
package import Logging
import Synchronization

/// A Confluent-compatible schema registry served by auditpipe, its state kept in a
/// ``RegistryLog`` (a compacted one-partition Kafka topic in production).
///
/// ``run()`` replays the log from the beginning into a ``RegistryState`` and then follows it;
/// reads answer from that local state once the replay reached the end of the log as it was at
/// start. A write appends one record (acknowledged by the log: acks=all on Kafka), then waits
/// until this instance has applied the log up to and including that record, and answers with
/// what applying it did. Several instances sharing one log therefore agree on every id and
/// version: they all apply the same records in the same order (see ``RegistryState``).
///
/// Reads on an instance may lag a write made through another instance by the time it takes that
/// record to reach this instance (normally milliseconds); a client that writes and then reads
/// through the same instance always sees its write.
package final class SchemaRegistryService: Sendable {
    /// Settings of a served registry.
    package struct Configuration: Sendable, Hashable {
        /// The level used when neither the subject nor the global config sets one.
        /// Default BACKWARD, like Confluent.
        package var defaultLevel: AvroCompatibilityLevel = .backward
        /// How long a write waits for its record to come back from the log. Default 30 s.
        package var writeTimeout: Duration = .seconds(30)
        /// How often a write is re-planned when another instance changed the subject first.
        /// Default 16.
        package var maxConflictRetries: Int = 16

        /// The defaults documented on each field.
        package init() {}
    }

    fileprivate struct Core {
        var state: RegistryState
        /// The offset after the last applied record.
        var position: Int64 = 0
        /// Reads are allowed once the start-up replay reached this offset.
        var replayTarget: Int64?
        var ready = false
        var failure: SchemaRegistryError?
        /// Request ids this instance waits for, with their outcome once applied.
        var pending: [String: RegistryState.Outcome?] = [:]
        var waiters: [Int: (offset: Int64, continuation: CheckedContinuation<Void, any Error>)] = [:]
        var nextWaiter = 0
        var skippedRecords = 0
    }

    private let log: any RegistryLog
    private let configuration: Configuration
    private let logger: Logger
    private let core: Mutex<Core>

    /// Creates a registry over `log`; call ``run()`` to load and follow it.
    package init(log: any RegistryLog, configuration: Configuration = Configuration(), logger: Logger) {
        self.log = log
        self.configuration = configuration
        self.logger = logger
        self.core = Mutex(Core(state: RegistryState(defaultLevel: configuration.defaultLevel)))
    }

    // MARK: Following the log

    /// Replays the log, then follows it until the task is cancelled. Throws if the log fails;
    /// pending and later writes then fail with a retriable `storeError`.
    package func run() async throws {
        do {
            let target = try await log.endOffset()
            core.withLock { core in
                core.replayTarget = target
                if core.position >= target { core.ready = true }
            }
            logger.info("schema registry replaying its log", metadata: ["endOffset": "\(target)"])
            for try await entry in log.entries() {
                apply(entry)
            }
            if Task.isCancelled {
                fail(SchemaRegistryError(.storeError, "the schema registry is shutting down"))
                return
            }
            throw SchemaRegistryError(.storeError, "the schema registry log ended")
        } catch is CancellationError where Task.isCancelled {
            fail(SchemaRegistryError(.storeError, "the schema registry is shutting down"))
            return
        } catch {
            let failure = SchemaRegistryError(.storeError, "schema registry log failed: \(error); restart the instance when the log (Kafka) is back")
            logger.error("\(failure.message)")
            fail(failure)
            throw error
        }
    }

    private func apply(_ entry: RegistryLogEntry) {
        // A record delivered twice (e.g. a consumer that re-read after a rebalance) is applied once.
        guard entry.offset >= core.withLock({ $0.position }) else { return }
        let decoded: (mutation: RegistryMutation, request: String?)
        do {
            decoded = try entry.record.decode()
        } catch {
            logger.warning("skipping unreadable schema log record", metadata: ["offset": "\(entry.offset)", "reason": "\(error)"])
            core.withLock { $0.skippedRecords += 1 }
            advance(to: entry.offset + 1)
            return
        }
        let resumed = core.withLock { core in
            let outcome = core.state.apply(decoded.mutation)
            if let request = decoded.request, core.pending[request] != nil {
                core.pending[request] = .some(outcome)
            }
            return core.advance(to: entry.offset + 1)
        }
        for continuation in resumed { continuation.resume() }
    }

    private func advance(to position: Int64) {
        let resumed = core.withLock { $0.advance(to: position) }
        for continuation in resumed { continuation.resume() }
    }

    private func fail(_ error: SchemaRegistryError) {
        let waiters = core.withLock { core in
            if core.failure == nil { core.failure = error }
            defer { core.waiters.removeAll() }
            return core.waiters.values.map(\.continuation)
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// Waits until the start-up replay is done (or the log failed).
    /// - Throws: the log's failure, or `operationTimeout` after `timeout`.
    package func waitUntilReady(timeout: Duration = .seconds(60)) async throws(SchemaRegistryError) {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (ready, failure) = core.withLock { ($0.ready, $0.failure) }
            if let failure { throw failure }
            if ready { return }
            if ContinuousClock.now >= deadline {
                throw SchemaRegistryError(.operationTimeout, "the schema registry did not finish loading its log within \(timeout)")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    // MARK: Reads

    /// Runs `body` on the current state.
    /// - Throws: `notReady` during the start-up replay, the log's failure after it failed.
    package func read<T>(_ body: (RegistryState) throws(SchemaRegistryError) -> T) throws(SchemaRegistryError) -> T {
        let snapshot: RegistryState = try core.withLock { core throws(SchemaRegistryError) in
            if let failure = core.failure { throw failure }
            guard core.ready else {
                throw SchemaRegistryError(.notReady, "the schema registry is still loading its state from the log; retry shortly")
            }
            return core.state
        }
        return try body(snapshot)
    }

    /// A copy of the whole state (tests compare instances with it).
    package var state: RegistryState { core.withLock { $0.state } }

    /// The offset after the last applied record.
    package var position: Int64 { core.withLock { $0.position } }

    // MARK: Writes

    /// Registers a schema under a subject (idempotent: an already registered schema returns its
    /// id without writing anything).
    /// - Returns: the schema id and the version.
    /// - Throws: 42201 invalid schema, 409 incompatible, 5xx storage errors (retriable).
    package func register(subject: String, schema text: String) async throws(SchemaRegistryError) -> (id: Int32, version: Int32) {
        let schema: AvroSchema
        do {
            schema = try AvroSchema(parsing: text)
        } catch {
            throw SchemaRegistryError(.invalidSchema, "Invalid schema: \(error)")
        }
        guard !subject.isEmpty else { throw SchemaRegistryError(.badRequest, "the subject name must not be empty") }
        for _ in 0..<configuration.maxConflictRetries {
            let plan = try read { state throws(SchemaRegistryError) in try state.planRegister(subject: subject, schema: schema) }
            switch plan {
            case .existing(let id, let version):
                return (id, version)
            case .append(let expectedRevision):
                switch try await write(.register(subject: subject, schema: text, expectedRevision: expectedRevision)) {
                case .registered(let id, let version), .alreadyRegistered(let id, let version):
                    return (id, version)
                case .conflict:
                    continue
                case .rejected(let error):
                    throw error
                default:
                    throw SchemaRegistryError(.storeError, "unexpected outcome of a registration record")
                }
            }
        }
        throw contention(subject)
    }

    /// Deletes one version (soft, or permanent after a soft delete).
    /// - Returns: the deleted version number.
    package func deleteVersion(subject: String, version: SchemaVersionSelector, permanent: Bool) async throws(SchemaRegistryError) -> Int32 {
        for _ in 0..<configuration.maxConflictRetries {
            let mutation = try read { state throws(SchemaRegistryError) in
                try state.planDeleteVersion(subject: subject, version: version, permanent: permanent)
            }
            switch try await write(mutation) {
            case .deletedVersion(let number): return number
            case .conflict: continue
            case .rejected(let error): throw error
            default: throw SchemaRegistryError(.storeError, "unexpected outcome of a delete record")
            }
        }
        throw contention(subject)
    }

    /// Deletes a subject (soft, or permanent after a soft delete).
    /// - Returns: the deleted version numbers.
    package func deleteSubject(subject: String, permanent: Bool) async throws(SchemaRegistryError) -> [Int32] {
        for _ in 0..<configuration.maxConflictRetries {
            let mutation = try read { state throws(SchemaRegistryError) in try state.planDeleteSubject(subject: subject, permanent: permanent) }
            switch try await write(mutation) {
            case .deletedSubject(let versions): return versions
            case .conflict: continue
            case .rejected(let error): throw error
            default: throw SchemaRegistryError(.storeError, "unexpected outcome of a delete record")
            }
        }
        throw contention(subject)
    }

    /// Sets the level of a subject, or the global level when `subject` is nil.
    package func setLevel(_ level: AvroCompatibilityLevel, subject: String?) async throws(SchemaRegistryError) {
        _ = try read { _ in () }
        _ = try await write(.setLevel(subject: subject, level: level))
    }

    /// Removes a subject's level (or resets the global one); returns the level that was set.
    /// - Throws: 40408 when the subject has no level of its own.
    package func clearLevel(subject: String?) async throws(SchemaRegistryError) -> AvroCompatibilityLevel? {
        let previous = try read { state in subject.map { state.subjectLevels[$0] } ?? state.globalLevel }
        if let subject, previous == nil {
            throw SchemaRegistryError(.subjectLevelNotConfigured, "Subject '\(subject)' does not have subject-level compatibility configured")
        }
        _ = try await write(.clearLevel(subject: subject))
        return previous
    }

    private func contention(_ subject: String) -> SchemaRegistryError {
        SchemaRegistryError(
            .operationTimeout,
            "subject '\(subject)' kept changing through other registry instances (\(configuration.maxConflictRetries) attempts); retry"
        )
    }

    /// Appends the record for `mutation` and waits until this instance applied it.
    private func write(_ mutation: RegistryMutation) async throws(SchemaRegistryError) -> RegistryState.Outcome {
        let request = UUID().uuidString.lowercased()
        core.withLock { $0.pending[request] = .some(nil) }
        defer { _ = core.withLock { $0.pending.removeValue(forKey: request) } }
        let offset: Int64
        do {
            offset = try await log.append(RegistryLogRecord(mutation: mutation, request: request))
        } catch {
            throw SchemaRegistryError(.storeError, "could not write to the schema registry log: \(error); retry when Kafka is reachable")
        }
        try await waitUntilApplied(offset)
        let outcome = core.withLock { $0.pending[request] ?? nil }
        if let outcome { return outcome }
        // Configuration records carry no request id: their outcome follows from the mutation.
        switch mutation {
        case .setLevel(_, let level): return .levelSet(level)
        case .clearLevel: return .levelCleared(nil)  // the caller read the previous level
        default: throw SchemaRegistryError(.storeError, "the schema registry log did not return the record written at offset \(offset)")
        }
    }

    private func waitUntilApplied(_ offset: Int64) async throws(SchemaRegistryError) {
        let id: Int? = try core.withLock { core throws(SchemaRegistryError) in
            if let failure = core.failure { throw failure }
            if core.position > offset { return nil }
            defer { core.nextWaiter += 1 }
            return core.nextWaiter
        }
        guard let id else { return }
        let timeout = configuration.writeTimeout
        let timer = Task { [self] in
            try? await Task.sleep(for: timeout)
            let waiter = core.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(
                throwing: SchemaRegistryError(.operationTimeout, "the write at log offset \(offset) did not come back from the log within \(timeout); it may still apply")
            )
        }
        defer { timer.cancel() }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Result<Void, SchemaRegistryError>? = core.withLock { core in
                    if let failure = core.failure { return .failure(failure) }
                    if core.position > offset { return .success(()) }
                    core.waiters[id] = (offset, continuation)
                    return nil
                }
                switch resumeNow {
                case .success: continuation.resume()
                case .failure(let error): continuation.resume(throwing: error)
                case nil: break
                }
            }
        } catch let error as SchemaRegistryError {
            throw error
        } catch {
            throw SchemaRegistryError(.storeError, "\(error)")
        }
    }
}

extension SchemaRegistryService.Core {
    /// Moves the applied position; returns the write waiters and readiness waiters to resume.
    fileprivate mutating func advance(to newPosition: Int64) -> [CheckedContinuation<Void, any Error>] {
        position = max(position, newPosition)
        var resumed: [CheckedContinuation<Void, any Error>] = []
        for (id, waiter) in waiters where waiter.offset < position {
            resumed.append(waiter.continuation)
            waiters.removeValue(forKey: id)
        }
        if !ready, let replayTarget, position >= replayTarget {
            ready = true
        }
        return resumed
    }
}
