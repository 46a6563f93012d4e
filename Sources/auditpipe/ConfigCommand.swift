import ArgumentParser
import AuditServer
import Foundation

/// `auditpipe config`: the configuration file and its overrides.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check AuditPipe's configuration.",
        subcommands: [Check.self]
    )

    /// `auditpipe config check [FILE]`: validates the file with the environment's overrides and
    /// prints the effective configuration with each value's source.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate a configuration file and print the effective configuration.",
            discussion: """
                Reads FILE (or the file named by AUDITPIPE_CONFIG), applies the AUDITPIPE_* \
                environment overrides exactly as `auditpipe serve` does (flags > environment > \
                file > defaults), and prints every key with its effective value and where it \
                came from. Secrets (passwords, the cursor key, passwords inside URLs) are masked. \
                Nothing is contacted. Exits 0 when the configuration is valid, 1 otherwise, with \
                one line per problem naming the key, e.g.
                  auditpipe.yaml:14:19: sink.batch_max_rows: must be a positive integer up to 1000000, got "ten"
                Every key is described in docs/configuration.md.
                """
        )

        @Argument(help: "The YAML configuration file. [default: $AUDITPIPE_CONFIG]")
        var file: String?

        @Flag(name: .customLong("ignore-environment"), help: "Check the file alone, without the AUDITPIPE_* overrides of this shell.")
        var ignoreEnvironment = false

        func run() throws {
            var environment = ProcessInfo.processInfo.environment
            if ignoreEnvironment {
                environment = environment.filter { $0.key == ConfigurationLoader.fileVariable && file == nil }
            }
            let loaded: LoadedConfiguration
            do {
                loaded = try ConfigurationLoader.load(file: file, environment: environment)
            } catch {
                let count = error.problems.count
                FileHandle.standardError.write(Data("configuration is invalid (\(count) problem\(count == 1 ? "" : "s")):\n\(error.description)\n".utf8))
                throw ExitCode.failure
            }
            for warning in loaded.warnings {
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
            print("configuration is valid" + (loaded.file.map { ": \($0)" } ?? " (no file: environment and defaults)"))
            print("effective configuration (secrets masked):")
            print(loaded.renderTable())
        }
    }
}
