import ArgumentParser
import AvroCodec
import Foundation
import SchemaTools

/// `auditpipe schema`: check, register, list and compare Avro schemas, for people and CI.
struct SchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Check, register, list and compare Avro schemas (Confluent-compatible registries or files).",
        discussion: """
            Exit codes (check and register): 0 compatible / done, 1 incompatible (each problem is \
            explained), 2 the command could not run (bad option, unreadable or invalid file, \
            registry unreachable or answering an error). A command line that ArgumentParser \
            itself rejects (an unknown flag) exits 64.
            """,
        subcommands: [Check.self, Register.self, List.self, Diff.self]
    )

    /// Registry options shared by the subcommands that talk to a registry.
    struct RegistryOptions: ParsableArguments {
        @Option(name: .customLong("registry"), help: "Schema registry URL (Confluent's REST API, or auditpipe's own). [env: AUDITPIPE_SCHEMA_REGISTRY_URL]")
        var url: String?

        @Option(name: .customLong("registry-user"), help: "HTTP basic user for the registry (Confluent Cloud: API key). [env: AUDITPIPE_SCHEMA_REGISTRY_USER]")
        var user: String?

        @Option(name: .customLong("registry-timeout"), help: "Timeout of one registry request, in seconds. (default: 10)")
        var timeoutSeconds: Double = 10

        /// The connection, or nil when no URL was given (flag or environment). The password is
        /// read from AUDITPIPE_SCHEMA_REGISTRY_PASSWORD only (flags show in `ps`).
        func connection() throws(SchemaToolError) -> RegistryConnection? {
            let environment = ProcessInfo.processInfo.environment
            guard let url = url ?? environment["AUDITPIPE_SCHEMA_REGISTRY_URL"].flatMap({ $0.isEmpty ? nil : $0 }) else { return nil }
            guard timeoutSeconds > 0, timeoutSeconds.isFinite else {
                throw SchemaToolError("--registry-timeout must be a positive number of seconds (got \(timeoutSeconds))")
            }
            return RegistryConnection(
                url: url,
                user: user ?? environment["AUDITPIPE_SCHEMA_REGISTRY_USER"].flatMap { $0.isEmpty ? nil : $0 },
                password: environment["AUDITPIPE_SCHEMA_REGISTRY_PASSWORD"],
                timeout: .milliseconds(Int64(timeoutSeconds * 1000))
            )
        }
    }

    /// `--format text|json`, parsed here so that a bad value exits 2 like every other usage error.
    static func format(_ text: String) throws(SchemaToolError) -> SchemaOutputFormat {
        guard let format = SchemaOutputFormat(rawValue: text.lowercased()) else {
            throw SchemaToolError("--format must be text or json (got \(text))")
        }
        return format
    }

    /// Prints `output` and exits with its status.
    static func finish(_ output: SchemaToolOutput) throws {
        if !output.standardOutput.isEmpty {
            FileHandle.standardOutput.write(Data(output.standardOutput.utf8))
        }
        if !output.standardError.isEmpty {
            FileHandle.standardError.write(Data(output.standardError.utf8))
        }
        if output.exitCode != 0 { throw ExitCode(output.exitCode) }
    }

    /// Usage errors found after parsing: message on stderr, exit 2.
    static func usage(_ error: SchemaToolError, command: String, format: SchemaOutputFormat = .text) throws -> Never {
        var output = SchemaToolCommands.failure(SchemaToolError(error.message + "\nSee 'auditpipe schema \(command) --help'."), format: format)
        output.exitCode = SchemaToolExitCode.couldNotRun
        try finish(output)
        throw ExitCode(SchemaToolExitCode.couldNotRun)
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Check that a candidate schema is compatible with the previous versions of a subject.",
            discussion: """
                Previous versions come from a registry (--registry URL --subject S) or, offline, \
                from a directory (--previous-dir DIR) of v1.avsc, v2.avsc, ... ordered by number. \
                Each problem is explained: which field, which rule, which readers or writers \
                break (by version) and what to do.

                Exit codes: 0 compatible, 1 incompatible (problems printed), 2 the check could \
                not run (usage, file or registry error).
                """
        )

        @Option(name: .customLong("schema"), help: "The candidate schema (.avsc).")
        var schema: String?

        @OptionGroup var registry: RegistryOptions

        @Option(name: .customLong("subject"), help: "The registry subject, e.g. auditpipe.events-value.")
        var subject: String?

        @Option(name: .customLong("previous-dir"), help: "Offline: a directory of previous versions v1.avsc, v2.avsc, ...")
        var previousDirectory: String?

        @Option(name: .customLong("level"), help: "NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE. (default: BACKWARD_TRANSITIVE, for audit data kept for years)")
        var level: String = AvroCompatibilityLevel.backwardTransitive.rawValue

        @Option(name: .customLong("format"), help: "text or json. (default: text)")
        var format: String = "text"

        func run() async throws {
            let format: SchemaOutputFormat
            do { format = try SchemaCommand.format(self.format) } catch { try SchemaCommand.usage(error, command: "check") }
            let source: SchemaHistorySource
            let level: AvroCompatibilityLevel
            let schema: String
            do throws(SchemaToolError) {
                guard let path = self.schema else { throw SchemaToolError("missing --schema FILE (the candidate schema)") }
                schema = path
                guard let parsed = AvroCompatibilityLevel(rawValue: self.level.uppercased()) else {
                    throw SchemaToolError("--level must be one of \(AvroCompatibilityLevel.allCases.map(\.rawValue).joined(separator: ", ")) (got \(self.level))")
                }
                level = parsed
                let connection = try registry.connection()
                switch (connection, previousDirectory) {
                case (let connection?, nil):
                    guard let subject, !subject.isEmpty else { throw SchemaToolError("--registry needs --subject (e.g. auditpipe.events-value)") }
                    source = .registry(connection, subject: subject)
                case (nil, let directory?):
                    if subject != nil { throw SchemaToolError("--subject goes with --registry, not with --previous-dir") }
                    source = .directory(directory)
                case (.some, .some):
                    throw SchemaToolError("give either --registry URL --subject S or --previous-dir DIR, not both")
                case (nil, nil):
                    throw SchemaToolError("give the previous versions: --registry URL --subject S, or --previous-dir DIR")
                }
            } catch {
                try SchemaCommand.usage(error, command: "check", format: format)
            }
            try SchemaCommand.finish(await SchemaToolCommands.check(schemaPath: schema, against: source, level: level, format: format))
        }
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "register",
            abstract: "Register a schema under a subject; prints the version and the schema id.",
            discussion: "Exit codes: 0 registered (or already registered), 1 refused as incompatible (explained), 2 any other error."
        )

        @Option(name: .customLong("schema"), help: "The schema to register (.avsc).")
        var schema: String?

        @OptionGroup var registry: RegistryOptions

        @Option(name: .customLong("subject"), help: "The subject, e.g. auditpipe.events-value.")
        var subject: String?

        @Option(name: .customLong("format"), help: "text or json. (default: text)")
        var format: String = "text"

        func run() async throws {
            let format: SchemaOutputFormat
            do { format = try SchemaCommand.format(self.format) } catch { try SchemaCommand.usage(error, command: "register") }
            let connection: RegistryConnection
            let schema: String
            let subject: String
            do throws(SchemaToolError) {
                guard let path = self.schema else { throw SchemaToolError("missing --schema FILE") }
                guard let found = try registry.connection() else { throw SchemaToolError("missing --registry URL") }
                guard let name = self.subject, !name.isEmpty else { throw SchemaToolError("missing --subject S") }
                (schema, connection, subject) = (path, found, name)
            } catch {
                try SchemaCommand.usage(error, command: "register", format: format)
            }
            try SchemaCommand.finish(await SchemaToolCommands.register(schemaPath: schema, registry: connection, subject: subject, format: format))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the registry's subjects and their versions (with schema ids)."
        )

        @OptionGroup var registry: RegistryOptions

        @Option(name: .customLong("subject"), help: "Only this subject.")
        var subject: String?

        @Option(name: .customLong("format"), help: "text or json. (default: text)")
        var format: String = "text"

        func run() async throws {
            let format: SchemaOutputFormat
            do { format = try SchemaCommand.format(self.format) } catch { try SchemaCommand.usage(error, command: "list") }
            let connection: RegistryConnection
            do throws(SchemaToolError) {
                guard let found = try registry.connection() else { throw SchemaToolError("missing --registry URL") }
                connection = found
            } catch {
                try SchemaCommand.usage(error, command: "list", format: format)
            }
            try SchemaCommand.finish(await SchemaToolCommands.list(registry: connection, subject: subject, format: format))
        }
    }

    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "Show what changed between two schema files, and whether each can read the other's data.",
            discussion: "Exit codes: 0 the comparison ran (whatever the differences), 2 a file cannot be read or parsed."
        )

        @Argument(help: "The old schema (.avsc).")
        var old: String?

        @Argument(help: "The new schema (.avsc).")
        var new: String?

        @Option(name: .customLong("format"), help: "text or json. (default: text)")
        var format: String = "text"

        func run() async throws {
            let format: SchemaOutputFormat
            do { format = try SchemaCommand.format(self.format) } catch { try SchemaCommand.usage(error, command: "diff") }
            guard let old, let new else {
                try SchemaCommand.usage(SchemaToolError("give two schema files: auditpipe schema diff OLD.avsc NEW.avsc"), command: "diff", format: format)
            }
            try SchemaCommand.finish(SchemaToolCommands.diff(oldPath: old, newPath: new, format: format))
        }
    }
}
