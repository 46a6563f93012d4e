import ArgumentParser
import AuditPipeProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf

/// `auditpipe recent`: a user's newest events, from the real-time store.
struct RecentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recent",
        abstract: "Show a user's newest events (up to 100), oldest first.",
        discussion: """
            Reads the real-time store (Redis), so events show up here within moments of being \
            acknowledged, before they reach compliance reports. An unknown user has no events.

            Example:
              AUDITPIPE_API_KEY=... auditpipe recent --tenant acme --actor alice --limit 20
            """
    )

    @Option(help: "The tenant. May be left out when the API key is bound to exactly one tenant.")
    var tenant: String?

    @Option(help: "The user (actor id) whose events to show.")
    var actor: String

    @Option(help: "How many events, 1 to 100.")
    var limit: UInt32 = 100

    @Option(help: "Output: table, csv or ndjson.")
    var format: OutputFormat = .table

    @OptionGroup var connection: ServerConnectionOptions

    func validate() throws {
        guard (1...100).contains(limit) else { throw ValidationError("--limit \(limit) must be 1 to 100") }
        guard !actor.isEmpty else { throw ValidationError("--actor must not be empty") }
    }

    func run() async throws {
        var request = Auditpipe_V1_RecentEventsRequest()
        request.tenantID = tenant ?? ""
        request.actorID = actor
        request.limit = limit
        let metadata = connection.callMetadata()
        let response: Auditpipe_V1_RecentEventsResponse
        do {
            response = try await withGRPCClient(transport: try connection.transport()) { client in
                try await Auditpipe_V1_AuditService.Client(wrapping: client).recentEvents(request: ClientRequest(message: request, metadata: metadata))
            }
        } catch let error as RPCError {
            throw CommandFailure(message: ServerConnectionOptions.describe(error))
        }
        let output = ReportOutput(format: format, dimensions: [])
        output.writeHeader()
        for event in response.events { output.write(event: event) }
        output.flush()
        if response.events.isEmpty, format == .table {
            FileHandle.standardError.write(Data("no events for actor '\(actor)'\n".utf8))
        }
    }
}
