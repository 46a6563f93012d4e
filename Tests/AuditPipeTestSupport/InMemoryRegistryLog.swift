package import SchemaRegistry
import Synchronization

/// A registry log in memory, shared by everything holding the same instance (e.g. two registry
/// instances in one test). Appends are ordered by a lock; subscribers get every record in order.
package final class InMemoryRegistryLog: RegistryLog {
    private struct State {
        var records: [RegistryLogEntry] = []
        var nextOffset: Int64 = 0
        var subscribers: [Int: AsyncThrowingStream<RegistryLogEntry, any Error>.Continuation] = [:]
        var nextSubscriber = 0
        var failure: (any Error)?
    }

    private let state = Mutex(State())

    /// An empty log.
    package init() {}

    /// Appends a record and returns its offset.
    package func append(_ record: RegistryLogRecord) async throws -> Int64 {
        try state.withLock { state in
            if let failure = state.failure { throw failure }
            let entry = RegistryLogEntry(offset: state.nextOffset, record: record)
            state.nextOffset += 1
            state.records.append(entry)
            // Yielded under the lock so every subscriber sees the global append order.
            for continuation in state.subscribers.values { continuation.yield(entry) }
            return entry.offset
        }
    }

    /// The next offset.
    package func endOffset() async throws -> Int64 {
        try state.withLock { state in
            if let failure = state.failure { throw failure }
            return state.nextOffset
        }
    }

    /// All records from the start, then live ones.
    package func entries() -> AsyncThrowingStream<RegistryLogEntry, any Error> {
        let (stream, continuation) = AsyncThrowingStream<RegistryLogEntry, any Error>.makeStream()
        let id = state.withLock { state in
            for entry in state.records { continuation.yield(entry) }
            if let failure = state.failure {
                continuation.finish(throwing: failure)
                return -1
            }
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// A copy of every record, for tests.
    package var allEntries: [RegistryLogEntry] { state.withLock { $0.records } }

    /// Simulates compaction: keeps only the newest record of each key and drops tombstones
    /// (as Kafka does once `delete.retention.ms` has passed); offsets are kept.
    package func compact() {
        state.withLock { state in
            var newest: [[UInt8]: Int64] = [:]
            for entry in state.records { newest[entry.record.key] = entry.offset }
            state.records = state.records.filter { newest[$0.record.key] == $0.offset && $0.record.value != nil }
        }
    }

    /// Makes every later call fail with `error` (and ends the subscriptions), as if the storage
    /// were gone.
    package func fail(with error: any Error) {
        let subscribers = state.withLock { state in
            state.failure = error
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for continuation in subscribers { continuation.finish(throwing: error) }
    }
}
