import ArgumentParser

/// `auditpipe-tools`: what measures and exercises AuditPipe, kept out of the product binary.
@main
struct AuditPipeToolsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auditpipe-tools",
        abstract: "AuditPipe's load generators: the benchmarks and the simulated services of the main job.",
        discussion: """
            They drive an `auditpipe` server; `bench` starts the one it needs from the `auditpipe` \
            executable beside this one (or $AUDITPIPE_BIN).
            """,
        subcommands: [SimulateCommand.self, Bench.self]
    )
}
