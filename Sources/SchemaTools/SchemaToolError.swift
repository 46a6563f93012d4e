/// Why a schema tool could not do its job (a file that cannot be read, an invalid schema, a
/// registry that cannot be reached, a bad option). Distinct from "the schema is incompatible",
/// which is a result, not an error: CI tells the two apart by the exit code
/// (``SchemaToolExitCode``).
package struct SchemaToolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A message for a human that says what failed and what to do.
    package var message: String
    /// Whether running the same command again later may succeed (the registry was unreachable
    /// or busy), as opposed to an input that must be fixed.
    package var isRetriable: Bool

    /// Creates an error.
    package init(_ message: String, isRetriable: Bool = false) {
        self.message = message
        self.isRetriable = isRetriable
    }

    /// The message.
    package var description: String { message }
}

/// The exit codes of `auditpipe schema ...`, chosen so that CI can tell "your schema breaks
/// compatibility" from "the check could not run".
package enum SchemaToolExitCode {
    /// The command succeeded (for `check`: the candidate is compatible).
    package static let success: Int32 = 0
    /// `check` / `register`: the candidate breaks the compatibility level; the problems are printed.
    package static let incompatible: Int32 = 1
    /// The command could not run: bad usage, a file that cannot be read or parsed, a registry
    /// that cannot be reached or answered an error.
    package static let couldNotRun: Int32 = 2
}
