import Foundation
import Synchronization

/// One dedicated OS thread that runs submitted jobs in order.
///
/// hiredis calls block; they run here, never on Swift's cooperative pool. Callers bridge with a
/// continuation (see ``run(_:)``).
final class WorkerThread: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var stopping = false
    }

    private let state = Mutex(State())
    private let condition = NSCondition()

    init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.start()
    }

    /// Runs `job` on the thread and returns its result. Fails with `closed` when the thread was
    /// stopped before the job could start.
    func run<T: Sendable>(_ job: @escaping @Sendable () throws(RedisError) -> T) async throws(RedisError) -> T {
        let result: Result<T, RedisError> = await withCheckedContinuation { continuation in
            let accepted = self.submit {
                do throws(RedisError) {
                    continuation.resume(returning: .success(try job()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            if !accepted {
                continuation.resume(returning: .failure(RedisError(kind: .closed, message: "the Redis client was closed")))
            }
        }
        return try result.get()
    }

    /// Queues a job; false when the thread is stopping.
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { signal() }
        return accepted
    }

    /// Runs the queued jobs, then `last`, then ends the thread. Later submissions are refused.
    /// Returns false (and drops `last`) when the thread was already stopping.
    @discardableResult
    func stop(after last: @escaping @Sendable () -> Void) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.jobs.append(last)
            state.stopping = true
            return true
        }
        if accepted { signal() }
        return accepted
    }

    private func signal() {
        condition.lock()
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            let next = state.withLock { state -> (job: (@Sendable () -> Void)?, finished: Bool) in
                if state.jobs.isEmpty { return (nil, state.stopping) }
                return (state.jobs.removeFirst(), false)
            }
            if let job = next.job {
                job()
                continue
            }
            if next.finished { return }
            condition.lock()
            // Re-check under the condition's lock so a signal between the check and the wait
            // is not lost.
            let empty = state.withLock { $0.jobs.isEmpty && !$0.stopping }
            if empty { condition.wait() }
            condition.unlock()
        }
    }
}
