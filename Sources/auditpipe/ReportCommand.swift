import ArgumentParser
import AuditEvents
import AuditPipeProto
import AuditQuery
import Foundation
import Glibc
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import SwiftProtobuf

/// `auditpipe report`: streams a compliance report from a running server.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Stream a compliance report (events or counts) from an AuditPipe server.",
        discussion: """
            Rows are written as they arrive, so a report over months can be piped into a file \
            or another tool without waiting for the end. Times are UTC.

            Examples:
              auditpipe report --tenant acme --from 2026-03-01 --to 2026-04-01 \\
                --event-type auth
              auditpipe report --tenant acme --from 2026-01-01 --to 2026-04-01 \\
                --group-by event_type,day --format csv
              auditpipe report --tenant acme --actor alice --metadata ip=10.0.0.1 \\
                --from 2026-03-01T08:00:00Z --to 2026-03-01T09:00:00+01:00 \\
                --format ndjson > alice.ndjson

            A long export prints a progress line on stderr. If it stops part-way, the last line \
            on stderr gives a --cursor that resumes right after the last event written.

            Exit status: 0 on success, 1 when the server refused or failed the report.
            """
    )

    @Option(help: "The tenant to report on. May be left out when the API key is bound to exactly one tenant.")
    var tenant: String?

    @Option(help: "Start of the range, inclusive: YYYY-MM-DD (midnight UTC) or RFC 3339 (2026-03-01T08:00:00Z).")
    var from: String

    @Option(help: "End of the range, exclusive: YYYY-MM-DD (midnight UTC) or RFC 3339.")
    var to: String

    @Option(name: .customLong("event-type"), help: "Keep only this event type (repeat the flag or separate with commas).")
    var eventTypes: [String] = []

    @Option(name: .customLong("actor"), help: "Keep only this actor (repeatable, comma-separated).")
    var actors: [String] = []

    @Option(name: .customLong("resource"), help: "Keep only this resource (repeatable, comma-separated).")
    var resources: [String] = []

    @Option(name: .customLong("action"), help: "Keep only this action (repeatable, comma-separated).")
    var actions: [String] = []

    @Option(name: .customLong("metadata"), help: "Keep only events whose metadata has KEY=VALUE (repeatable; all must match).")
    var metadata: [String] = []

    @Option(name: .customLong("group-by"), help: "Count events grouped by these, comma-separated: event_type, action, actor, day. Without it, events are listed.")
    var groupBy: String?

    @Option(help: "Row mode: stop after this many events.")
    var limit: UInt64?

    @Option(help: "Row mode: resume after this cursor (printed on stderr when an export stops).")
    var cursor: String?

    @Option(help: "Output: table, csv or ndjson.")
    var format: OutputFormat = .table

    @Flag(name: .customLong("no-progress"), help: "Do not print the progress line on stderr.")
    var noProgress = false

    @OptionGroup var connection: ServerConnectionOptions

    func run() async throws {
        var request = Auditpipe_V1_ComplianceReportRequest()
        request.tenantID = tenant ?? ""
        request.fromMs = try ReportDate.milliseconds(from, option: "--from")
        request.toMs = try ReportDate.milliseconds(to, option: "--to")
        guard request.fromMs < request.toMs else {
            throw ValidationError("--to (\(to)) must be after --from (\(from)); the range is [from, to)")
        }
        request.eventTypes = Self.split(eventTypes)
        request.actorIds = Self.split(actors)
        request.resources = Self.split(resources)
        request.actions = Self.split(actions)
        for entry in metadata {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                throw ValidationError("--metadata '\(entry)' must be KEY=VALUE")
            }
            request.metadataEquals[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        var dimensions: [String] = []
        if let groupBy {
            for name in Self.split([groupBy]) {
                switch name {
                case "event_type", "event-type", "type": request.groupBy.append(.eventType); dimensions.append("event_type")
                case "action": request.groupBy.append(.action); dimensions.append("action")
                case "actor", "actor_id": request.groupBy.append(.actor); dimensions.append("actor_id")
                case "day", "date": request.groupBy.append(.day); dimensions.append("day")
                default: throw ValidationError("--group-by '\(name)' is not a dimension; use event_type, action, actor or day")
                }
            }
            if limit != nil || cursor != nil { throw ValidationError("--limit and --cursor apply to event lists, not to --group-by counts") }
        }
        if let limit { request.limit = limit }
        if let cursor { request.cursor = cursor }

        let metadata = connection.callMetadata()
        let transport = try connection.transport()
        let format = self.format
        let showProgress = !noProgress
        let reportDimensions = dimensions
        let connection = self.connection
        do {
            try await withGRPCClient(transport: transport) { client in
                // The chunks arrive as bytes: csv and ndjson are written straight from them.
                try await client.serverStreaming(
                    request: ClientRequest(message: request, metadata: metadata),
                    descriptor: Auditpipe_V1_AuditService.Method.ComplianceReport.descriptor,
                    serializer: ProtobufSerializer<Auditpipe_V1_ComplianceReportRequest>(),
                    deserializer: MessageBytes(),
                    options: .defaults
                ) { response in
                    let output = ReportOutput(format: format, dimensions: reportDimensions)
                    let progress = Progress(enabled: showProgress)
                    var lastCursor: String? = nil
                    do {
                        for try await chunk in response.messages {
                            let summary = try output.write(chunk: chunk)
                            if !summary.nextCursor.isEmpty { lastCursor = summary.nextCursor }
                            progress.add(events: summary.events + summary.aggregates)
                        }
                    } catch {
                        output.flush()
                        progress.finish()
                        throw ReportInterrupted(cause: error, cursor: lastCursor)
                    }
                    output.writeHeader()
                    output.flush()
                    progress.finish()
                }
            }
        } catch let interrupted as ReportInterrupted {
            var message = connection.describe(interrupted.cause)
            if let cursor = interrupted.cursor {
                message += "\nThe output ends after a complete event; resume with: --cursor \(cursor)"
            }
            throw CommandFailure(message: message)
        } catch let error as RPCError {
            throw CommandFailure(message: connection.describe(error))
        }
    }

    static func split(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// Output formats of `report` and `recent`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, csv, ndjson
}

/// Connection flags shared by the client commands.
struct ServerConnectionOptions: ParsableArguments {
    @Option(help: "The AuditPipe gRPC server, host:port. [env: AUDITPIPE_SERVER, default 127.0.0.1:50051]")
    var server: String?

    @Option(name: .customLong("api-key-env"), help: "The environment variable that holds the API key (keys are never passed as flags).")
    var apiKeyEnvironmentVariable = "AUDITPIPE_API_KEY"

    @Flag(help: "Use TLS, trusting the system's certificate authorities (or --tls-ca).")
    var tls = false

    @Option(name: .customLong("tls-ca"), help: "PEM file of the CA that signed the server's certificate; implies --tls.")
    var tlsCA: String?

    @Option(name: .customLong("client-cert"), help: "PEM client certificate for mutual TLS (with --client-key); implies --tls.")
    var clientCertificate: String?

    @Option(name: .customLong("client-key"), help: "PEM private key of --client-cert.")
    var clientKey: String?

    func validate() throws {
        if (clientCertificate == nil) != (clientKey == nil) {
            throw ValidationError("--client-cert and --client-key go together")
        }
    }

    /// The API key from the environment variable `--api-key-env` names, when it is set.
    var apiKey: String? {
        ProcessInfo.processInfo.environment[apiKeyEnvironmentVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `authorization: Bearer <key>` when a key is set; empty otherwise (a server in development
    /// mode, or a client certificate). A server that requires a key answers UNAUTHENTICATED,
    /// which ``describe(_:)`` explains.
    func callMetadata() -> Metadata {
        var metadata = Metadata()
        if let apiKey { metadata.addString("Bearer \(apiKey)", forKey: "authorization") }
        return metadata
    }

    func transport() throws -> HTTP2ClientTransport.Posix {
        let address = server ?? ProcessInfo.processInfo.environment["AUDITPIPE_SERVER"] ?? "127.0.0.1:50051"
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port) else {
            throw ValidationError("--server '\(address)' must be host:port")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let security: HTTP2ClientTransport.Posix.TransportSecurity
        let trust: TLSConfig.TrustRootsSource = tlsCA.map { .certificates([.file(path: $0, format: .pem)]) } ?? .systemDefault
        if let clientCertificate, let clientKey {
            security = .mTLS(certificateChain: [.file(path: clientCertificate, format: .pem)], privateKey: .file(path: clientKey, format: .pem)) {
                $0.trustRoots = trust
            }
        } else if tls || tlsCA != nil {
            security = .tls { $0.trustRoots = trust }
        } else {
            security = .plaintext
        }
        return try HTTP2ClientTransport.Posix(target: .dns(host: host, port: port), transportSecurity: security)
    }

    /// ``describe(_:)-swift.type.method``, saying for UNAUTHENTICATED which credentials were sent.
    func describe(_ error: any Error) -> String {
        guard let error = error as? RPCError, error.code == .unauthenticated else { return Self.describe(error) }
        let advice: String
        if apiKey != nil {
            advice = "the server did not accept the API key in $\(apiKeyEnvironmentVariable): check that it is a current key with access to this tenant"
        } else if clientCertificate != nil {
            advice = "the server did not accept the client certificate, and no API key was sent: set \(apiKeyEnvironmentVariable) to an API key (or choose the variable with --api-key-env)"
        } else {
            advice = "the server requires credentials and none were sent: set \(apiKeyEnvironmentVariable) to an API key (or choose the variable with --api-key-env), or use --client-cert and --client-key"
        }
        return "\(advice) (server: \(error.code): \(error.message))"
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? RPCError {
            let hint: String
            switch error.code {
            case .unauthenticated: hint = " (check the API key variable, or the client certificate)"
            case .permissionDenied: hint = " (the credentials are not allowed this tenant or role)"
            case .unavailable: hint = " (is the server running and reachable? TLS on one side only?)"
            default: hint = ""
            }
            return "\(error.code): \(error.message)\(hint)"
        }
        return "\(error)"
    }
}

/// Dates on the command line.
enum ReportDate {
    /// Milliseconds since the epoch for `YYYY-MM-DD` (midnight UTC) or RFC 3339 text.
    static func milliseconds(_ text: String, option: String) throws -> Int64 {
        let bytes = Array(text.utf8)
        if bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
           let year = Int64(text.prefix(4)), let month = Int64(text.dropFirst(5).prefix(2)), let day = Int64(text.suffix(2)),
           (1...12).contains(month), (1...CivilDate.daysIn(month: month, year: year)).contains(day) {
            return ReportTime.milliseconds(year: year, month: month, day: day)
        }
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: text) {
                return Int64((date.timeIntervalSince1970 * 1000).rounded())
            }
        }
        throw ValidationError("\(option) '\(text)' is not a date: use YYYY-MM-DD (midnight UTC) or RFC 3339, e.g. 2026-03-01T08:00:00Z")
    }
}

/// A gRPC message as its bytes: the report's chunks are read without building messages.
struct MessageBytes: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}

/// Writes events or aggregates to stdout as they arrive.
///
/// csv and ndjson events are written from the chunks' bytes by ``ReportExportWriter`` (no
/// message or formatter per event); the table and aggregate rows are formatted from decoded
/// messages (they are for people, or small).
final class ReportOutput {
    let format: OutputFormat
    let dimensions: [String]
    private var export: ReportExportWriter?
    private var buffer: [UInt8] = []
    private var headerWritten = false

    init(format: OutputFormat, dimensions: [String]) {
        self.format = format
        self.dimensions = dimensions
        switch format {
        case .csv where dimensions.isEmpty: export = ReportExportWriter(format: .csv)
        case .ndjson where dimensions.isEmpty: export = ReportExportWriter(format: .ndjson)
        default: export = nil
        }
        buffer.reserveCapacity(1 << 17)
    }

    static let eventColumns = ["timestamp", "event_type", "actor_id", "action", "resource", "event_id", "metadata"]
    static let tableWidths = [24, 18, 20, 12, 28, 24, 0]

    var columns: [String] { dimensions.isEmpty ? Self.eventColumns : dimensions + ["count"] }

    /// Writes the header line (csv, table) once; called before the first row or at the end of
    /// an empty answer, so that a refused call writes nothing to stdout.
    func writeHeader() {
        guard !headerWritten else { return }
        headerWritten = true
        switch format {
        case .ndjson: return
        case .csv: emit(columns.map(Self.csvField).joined(separator: ","))
        case .table: emit(tableLine(columns))
        }
    }

    /// Writes the rows of one chunk (its protobuf bytes).
    func write(chunk bytes: [UInt8]) throws -> ReportExportWriter.ChunkSummary {
        writeHeader()
        var summary: ReportExportWriter.ChunkSummary
        if export != nil {
            summary = try export!.append(chunk: bytes, to: &buffer)
            if summary.aggregates > 0 { write(try Auditpipe_V1_ComplianceReportChunk(serializedBytes: bytes)) }
        } else {
            let chunk = try Auditpipe_V1_ComplianceReportChunk(serializedBytes: bytes)
            write(chunk)
            summary = .init(events: chunk.events.count, aggregates: chunk.aggregates.count, nextCursor: chunk.nextCursor)
        }
        if buffer.count >= 1 << 16 { flush() }
        return summary
    }

    func write(_ chunk: Auditpipe_V1_ComplianceReportChunk) {
        for stored in chunk.events { write(event: stored) }
        for aggregate in chunk.aggregates {
            var values: [String] = []
            for dimension in dimensions {
                switch dimension {
                case "event_type": values.append(aggregate.eventType)
                case "action": values.append(aggregate.action)
                case "actor_id": values.append(aggregate.actorID)
                default: values.append(aggregate.day)
                }
            }
            values.append(String(aggregate.count))
            switch format {
            case .csv: emit(values.map(Self.csvField).joined(separator: ","))
            case .table: emit(tableLine(values))
            case .ndjson:
                var object: [String: Any] = [:]
                for (name, value) in zip(dimensions, values) { object[name] = value }
                object["count"] = aggregate.count
                emit(Self.json(object))
            }
        }
    }

    /// The table form of an event (csv and ndjson go through ``ReportExportWriter``).
    func write(event stored: Auditpipe_V1_StoredEvent) {
        let event = stored.event
        let metadataText = event.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
        emit(tableLine([
            RFC3339.text(milliseconds: event.timestampMs), event.eventType, event.actorID, event.action, event.resource, event.eventID, metadataText,
        ]))
    }

    func tableLine(_ values: [String]) -> String {
        if !dimensions.isEmpty {
            return values.enumerated().map { index, value in
                index == values.count - 1 ? value : Self.pad(Self.printable(value), 24)
            }.joined(separator: " ")
        }
        return zip(values, Self.tableWidths).map { value, width in
            width == 0 ? Self.printable(value) : Self.pad(Self.printable(value), width)
        }.joined(separator: " ")
    }

    /// Control characters shown escaped so that one event stays on one line.
    static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                result += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    static func pad(_ text: String, _ width: Int) -> String {
        if text.count > width { return String(text.prefix(width - 1)) + "…" }
        return text + String(repeating: " ", count: width - text.count)
    }

    /// RFC 4180: quoted when it holds a comma, quote or line break; quotes doubled.
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func json(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    private func emit(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 1 << 16 { flush() }
    }

    /// Writes what is buffered to stdout.
    func flush() {
        var written = 0
        while written < buffer.count {
            let result = buffer[written...].withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                // The reader went away (`| head`): stop as a program killed by SIGPIPE would.
                if errno == EPIPE { exit(128 + SIGPIPE) }
                FileHandle.standardError.write(Data("cannot write the report to stdout: \(String(cString: strerror(errno)))\n".utf8))
                exit(1)
            }
            written += result
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// A progress line on stderr: rewritten in place on a terminal, one line every 10 s otherwise.
final class Progress {
    private let enabled: Bool
    private let start = ContinuousClock.now
    private var lastPrint = ContinuousClock.now
    private var rows = 0
    private var printed = false
    private let terminal = isatty(STDERR_FILENO) == 1

    init(enabled: Bool) { self.enabled = enabled }

    func add(events: Int) {
        rows += events
        guard enabled else { return }
        let now = ContinuousClock.now
        let interval: Duration = terminal ? .milliseconds(500) : .seconds(10)
        guard now - start > .seconds(2), now - lastPrint >= interval else { return }
        lastPrint = now
        printLine(final: false)
    }

    func finish() {
        guard enabled, printed else { return }
        printLine(final: true)
    }

    private func printLine(final: Bool) {
        printed = true
        let seconds = Double((ContinuousClock.now - start).components.seconds) + Double((ContinuousClock.now - start).components.attoseconds) / 1e18
        let rate = seconds > 0 ? Int(Double(rows) / seconds) : 0
        let text = "\(final ? "done" : "…"): \(rows) rows in \(String(format: "%.1f", seconds)) s (\(rate)/s)"
        let line = terminal ? "\r\u{1B}[K" + text + (final ? "\n" : "") : text + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// A report stream that failed part-way, with the cursor after the last event written.
struct ReportInterrupted: Error {
    var cause: any Error
    var cursor: String?
}

/// A failure that is reported as one message, with exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
