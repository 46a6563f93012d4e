import Foundation
import Synchronization

/// What a finished child process wrote and how it ended.
package struct SubprocessOutput: Sendable, Equatable {
    /// The exit status (or the signal number when `uncaughtSignal`).
    package var status: Int32
    /// True when the process was killed by a signal.
    package var uncaughtSignal: Bool
    package var standardOutput: String
    package var standardError: String

    /// True for a normal exit with status 0.
    package var succeeded: Bool { status == 0 && !uncaughtSignal }
}

/// A child process that could not be started or failed.
package struct SubprocessError: Error, Sendable, CustomStringConvertible {
    package var description: String
}

/// Runs helper programs (the Confluent Python peer) for the benchmarks without blocking Swift's
/// cooperative pool: the pipes are drained by dedicated threads and the exit is awaited through
/// `terminationHandler`, bridged with a continuation.
package enum Subprocess {
    /// Runs `executable` with `arguments` (and `environment` added to this process's), and returns
    /// its output once it exits. Cancelling the calling task terminates the child.
    ///
    /// - Throws: `SubprocessError` when the executable cannot be started.
    package static func run(
        executable: String,
        arguments: [String],
        environment: [String: String] = [:],
        echoStandardError: Bool = false
    ) async throws -> SubprocessOutput {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice

        let collected = Collected()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<SubprocessOutput, any Error>) in
                // Both pipes and the exit must be seen before the continuation resumes.
                let group = DispatchGroup()
                group.enter()
                group.enter()
                group.enter()
                Self.drain(stdout.fileHandleForReading, echo: false) { collected.setOut($0); group.leave() }
                Self.drain(stderr.fileHandleForReading, echo: echoStandardError) { collected.setErr($0); group.leave() }
                process.terminationHandler = { _ in group.leave() }
                do {
                    try process.run()
                } catch {
                    try? stdout.fileHandleForWriting.close()
                    try? stderr.fileHandleForWriting.close()
                    continuation.resume(throwing: SubprocessError(description: "cannot start \(executable): \(error)"))
                    return
                }
                collected.setProcess(process)
                // The parent's copies of the write ends must close, or the readers never see EOF.
                try? stdout.fileHandleForWriting.close()
                try? stderr.fileHandleForWriting.close()
                group.notify(queue: .global()) {
                    let (out, err) = collected.outputs
                    continuation.resume(returning: SubprocessOutput(
                        status: process.terminationStatus,
                        uncaughtSignal: process.terminationReason == .uncaughtSignal,
                        standardOutput: out, standardError: err
                    ))
                }
            }
        } onCancel: {
            collected.terminate()
        }
    }

    /// Reads `handle` to EOF on a thread of its own (a blocking read must not hold a pool thread).
    private static func drain(_ handle: FileHandle, echo: Bool, done: @escaping @Sendable (String) -> Void) {
        let thread = Thread {
            var data = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                if echo { FileHandle.standardError.write(chunk) }
                data.append(chunk)
            }
            done(String(decoding: data, as: UTF8.self))
        }
        thread.name = "auditpipe-bench-pipe"
        thread.start()
    }

    private final class Collected: Sendable {
        private struct State {
            var out = ""
            var err = ""
            var process: Process?
            var cancelled = false
        }
        private let state = Mutex(State())

        func setOut(_ text: String) { state.withLock { $0.out = text } }
        func setErr(_ text: String) { state.withLock { $0.err = text } }
        var outputs: (String, String) { state.withLock { ($0.out, $0.err) } }

        func setProcess(_ process: Process) {
            let cancelled = state.withLock { state in
                state.process = process
                return state.cancelled
            }
            if cancelled { process.terminate() }
        }

        func terminate() {
            let process = state.withLock { state in
                state.cancelled = true
                return state.process
            }
            if let process, process.isRunning { process.terminate() }
        }
    }
}
