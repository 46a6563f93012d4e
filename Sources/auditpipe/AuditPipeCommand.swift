import ArgumentParser

/// `auditpipe`: the audit-event service and its tools.
@main
struct AuditPipeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auditpipe",
        abstract: "AuditPipe: durable, schema-enforced, verifiable audit events.",
        discussion: """
            Every setting can also be given as an environment variable (shown in each command's \
            --help); a flag overrides its variable. `Deploy/dev/up` writes the variables for the \
            local dev stack to .dev/env.
            """,
        subcommands: [ServeCommand.self, ReportCommand.self, RecentCommand.self, SchemaCommand.self, LegacyCommand.self, AuthCommand.self, DeadLetterCommand.self, ConfigCommand.self, LagCommand.self, VerifyCommand.self]
    )
}
