import AsyncHTTPClient
import CompressNIO
import Foundation
public import Logging
public import NIOCore
import NIOHTTP1
import Synchronization

/// Metadata keys used in this module's log messages.
enum ClickHouseLogKey {
    static let queryID = "clickhouse.query_id"
    static let error = "clickhouse.error"
}

/// How an insert body is compressed on the wire.
public enum ClickHouseCompression: Sendable, Hashable {
    /// Sent as is.
    case none
    /// gzip at zlib's fastest level, announced with `Content-Encoding: gzip`. On 10,000 rows of
    /// the events table (2.9 MB of RowBinary) level 1 compresses 2.1x faster than the default
    /// level 6 for an output 3.5% larger; at level 6, gzip was about 10% of the sink's CPU.
    case gzip
}

/// What the server reported about a finished request (header `X-ClickHouse-Summary`).
public struct ClickHouseSummary: Sendable, Hashable {
    /// The `query_id` the request ran under.
    public var queryID: String
    /// Rows read.
    public var readRows: UInt64?
    /// Rows written. Note: ClickHouse 26.9 reports the block's rows here even when the insert
    /// was deduplicated (checked: same token twice gives `written_rows` 3 both times, 3 rows kept).
    public var writtenRows: UInt64?
    /// Rows in the result.
    public var resultRows: UInt64?

    init(queryID: String, header: String?) {
        self.queryID = queryID
        guard let data = header?.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return }
        func number(_ key: String) -> UInt64? {
            if let text = object[key] as? String { return UInt64(text) }
            return (object[key] as? NSNumber)?.uint64Value
        }
        readRows = number("read_rows")
        writtenRows = number("written_rows")
        resultRows = number("result_rows")
    }
}

/// A client for ClickHouse's HTTP interface.
///
/// - Query values travel only as `param_<name>` URL parameters referenced as `{name:Type}`,
///   never spliced into SQL.
/// - Every request has a `query_id` (generated when not given), and queries a
///   `max_execution_time`.
/// - A non-2xx answer, or an exception that ClickHouse writes into a `200` body part-way,
///   becomes a ``ClickHouseError`` with ClickHouse's code.
/// - When the task consuming a query is cancelled, or the body is abandoned before its end,
///   the client sends `KILL QUERY` for its `query_id`: ClickHouse keeps running a query after
///   the client disconnects.
public final class ClickHouseClient: Sendable {
    /// The configuration.
    public let configuration: ClickHouseConfiguration
    let http: HTTPClient
    let logger: Logger

    /// Settings the client owns; a call that passes them is rejected.
    static let reservedSettings: Set<String> = ["query", "query_id", "database", "http_write_exception_in_output_format", "user", "password"]

    /// Creates a client with its own connection pool; call ``shutdown()`` when done.
    ///
    /// - Throws: ``ClickHouseError`` of kind ``ClickHouseError/Kind/invalidInput`` when the
    ///   configuration does not validate.
    public init(configuration: ClickHouseConfiguration, logger: Logger = Logger(label: "auditpipe.clickhouse")) throws(ClickHouseError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.timeout = .init(connect: Self.timeAmount(configuration.connectTimeout), read: nil)
        httpConfiguration.decompression = .disabled
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
    }

    /// Closes the connection pool.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: Commands

    /// Runs a statement whose answer is small or empty (DDL, `KILL`, `OPTIMIZE`, ...) and
    /// returns the server's summary. The body is read (up to 1 MiB) and checked for errors.
    ///
    /// - Parameters:
    ///   - sql: the statement, with `{name:Type}` placeholders for values.
    ///   - parameters: the placeholder values.
    ///   - settings: ClickHouse settings for this statement.
    ///   - queryID: the `query_id`; generated when nil.
    @discardableResult
    public func execute(
        _ sql: String,
        parameters: [String: ClickHouseParameter] = [:],
        settings: [String: String] = [:],
        queryID: String? = nil
    ) async throws -> ClickHouseSummary {
        try await execute(sql, parameters: parameters, settings: settings, queryID: queryID, timeout: configuration.requestTimeout)
    }

    func execute(
        _ sql: String,
        parameters: [String: ClickHouseParameter],
        settings: [String: String],
        queryID: String?,
        timeout: Duration
    ) async throws -> ClickHouseSummary {
        let queryID = queryID ?? Self.makeQueryID()
        var request = try makeRequest(parameters: parameters, settings: settings, queryID: queryID, extra: [:])
        request.body = .bytes(ByteBuffer(string: sql))
        let response = try await send(request, queryID: queryID, timeout: timeout)
        _ = try await Self.readSmallBody(response, queryID: queryID, limit: 1 << 20)
        return ClickHouseSummary(queryID: queryID, header: response.headers.first(name: "X-ClickHouse-Summary"))
    }

    // MARK: Queries

    /// Starts a query and returns once ClickHouse has sent the response headers; the body is
    /// then streamed from ``ClickHouseQueryResponse/body`` without buffering it whole.
    ///
    /// Put the format in the SQL (`FORMAT JSONEachRow`, `TabSeparated`,
    /// `RowBinaryWithNamesAndTypes`). `max_execution_time` defaults to the configuration's.
    ///
    /// With an `externalTable`, the SQL travels in the URL and the table's rows in the body.
    ///
    /// - Throws: ``ClickHouseError`` for a failed request; `CancellationError` when the task
    ///   is cancelled (the query is killed on the server first).
    public func query(
        _ sql: String,
        parameters: [String: ClickHouseParameter] = [:],
        settings: [String: String] = [:],
        queryID: String? = nil,
        externalTable: ClickHouseExternalTable? = nil
    ) async throws -> ClickHouseQueryResponse {
        let queryID = queryID ?? Self.makeQueryID()
        var merged = settings
        if merged["max_execution_time"] == nil {
            merged["max_execution_time"] = Self.seconds(configuration.maxExecutionTime)
        }
        var request: HTTPClientRequest
        if let externalTable {
            guard Self.isValidName(externalTable.name) else {
                throw ClickHouseError(kind: .invalidInput, message: "external table name '\(externalTable.name)' is invalid: use letters, digits and '_'", queryID: queryID)
            }
            request = try makeRequest(
                parameters: parameters, settings: merged, queryID: queryID,
                extra: externalTable.urlItems.merging(["query": sql]) { $1 }
            )
            let (body, contentType) = externalTable.multipartBody()
            request.body = .bytes(body)
            request.headers.replaceOrAdd(name: "Content-Type", value: contentType)
        } else {
            request = try makeRequest(parameters: parameters, settings: merged, queryID: queryID, extra: [:])
            request.body = .bytes(ByteBuffer(string: sql))
        }
        let control = QueryControl(queryID: queryID, client: self)
        let timeout: Duration
        if let seconds = merged["max_execution_time"].flatMap(Double.init), seconds > 0 {
            timeout = .milliseconds(Int64(seconds * 1000)) + configuration.requestTimeout
        } else {
            // max_execution_time = 0 means "no limit" on the server; keep a generous client bound.
            timeout = .seconds(24 * 3600)
        }
        let response: HTTPClientResponse
        do {
            response = try await send(request, queryID: queryID, timeout: timeout)
        } catch let error as ClickHouseError {
            control.markFinished()
            throw error
        } catch {
            // Cancelled or cut before the headers: the query may be running; kill it.
            await control.kill()
            throw error
        }
        return ClickHouseQueryResponse(
            queryID: queryID,
            format: response.headers.first(name: "X-ClickHouse-Format"),
            body: ClickHouseResponseBody(
                upstream: response.body,
                exceptionTag: response.headers.first(name: "X-ClickHouse-Exception-Tag"),
                control: control
            )
        )
    }

    /// Runs a query and collects its whole (small) answer, at most `maxBytes` bytes.
    public func queryCollecting(
        _ sql: String,
        parameters: [String: ClickHouseParameter] = [:],
        settings: [String: String] = [:],
        queryID: String? = nil,
        maxBytes: Int = 16 << 20
    ) async throws -> ByteBuffer {
        let response = try await query(sql, parameters: parameters, settings: settings, queryID: queryID)
        return try await response.body.collect(upTo: maxBytes)
    }

    /// Sends `KILL QUERY WHERE query_id = {id:String}` (asynchronous on the server).
    public func kill(queryID: String) async throws {
        _ = try await execute(
            "KILL QUERY WHERE query_id = {id:String} ASYNC FORMAT Null",
            parameters: ["id": .string(queryID)],
            settings: [:],
            queryID: nil,
            timeout: configuration.killTimeout
        )
    }

    // MARK: Inserts

    /// Inserts a body in `format` into `table` (`name` or `database.name`), compressed with
    /// gzip by default.
    ///
    /// With a `deduplicationToken`, the insert carries `insert_deduplicate=1` and
    /// `insert_deduplication_token`, so a retry of the same batch is written once (on plain
    /// MergeTree only when the table sets `non_replicated_deduplication_window` > 0).
    ///
    /// - Returns: the summary (its `writtenRows` does not reveal deduplication).
    @discardableResult
    public func insert(
        table: String,
        format: String = "RowBinaryWithNamesAndTypes",
        body: ByteBuffer,
        deduplicationToken: String? = nil,
        settings: [String: String] = [:],
        queryID: String? = nil,
        compression: ClickHouseCompression = .gzip
    ) async throws -> ClickHouseSummary {
        guard format.utf8.allSatisfy(\.isIdentifierByte), !format.isEmpty else {
            throw ClickHouseError(kind: .invalidInput, message: "format '\(format)' is not a ClickHouse format name")
        }
        let queryID = queryID ?? Self.makeQueryID()
        var merged = settings
        if let deduplicationToken {
            merged["insert_deduplicate"] = "1"
            merged["insert_deduplication_token"] = deduplicationToken
        }
        let sql = "INSERT INTO \(try Self.quoteTableName(table)) FORMAT \(format)"
        var request = try makeRequest(parameters: [:], settings: merged, queryID: queryID, extra: ["query": sql])
        switch compression {
        case .none:
            request.body = .bytes(body)
        case .gzip:
            var input = body
            do {
                let compressed = try input.compress(with: .gzip(configuration: .init(compressionLevel: .fastestCompression)))
                request.body = .bytes(compressed)
                request.headers.replaceOrAdd(name: "Content-Encoding", value: "gzip")
            } catch {
                throw ClickHouseError(kind: .invalidInput, message: "cannot gzip the insert body: \(error)", queryID: queryID)
            }
        }
        let response = try await send(request, queryID: queryID, timeout: configuration.requestTimeout)
        _ = try await Self.readSmallBody(response, queryID: queryID, limit: 1 << 20)
        return ClickHouseSummary(queryID: queryID, header: response.headers.first(name: "X-ClickHouse-Summary"))
    }

    // MARK: Plumbing

    func makeRequest(
        parameters: [String: ClickHouseParameter],
        settings: [String: String],
        queryID: String,
        extra: [String: String]
    ) throws(ClickHouseError) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: try makeURL(parameters: parameters, settings: settings, queryID: queryID, extra: extra))
        request.method = .POST
        for (name, value) in authenticationHeaders { request.headers.add(name: name, value: value) }
        return request
    }

    /// `X-ClickHouse-User` and, when a password is set, `X-ClickHouse-Key`.
    var authenticationHeaders: [(String, String)] {
        var headers = [("X-ClickHouse-User", configuration.user)]
        if !configuration.password.isEmpty { headers.append(("X-ClickHouse-Key", configuration.password)) }
        return headers
    }

    /// The request URL: settings, `param_` values, `query_id`, the exception mode, the
    /// database and `extra`, percent-encoded.
    func makeURL(
        parameters: [String: ClickHouseParameter],
        settings: [String: String],
        queryID: String,
        extra: [String: String]
    ) throws(ClickHouseError) -> String {
        var items: [(String, String)] = []
        for (name, value) in settings.sorted(by: { $0.key < $1.key }) {
            guard Self.isValidName(name) else {
                throw ClickHouseError(kind: .invalidInput, message: "setting name '\(name)' is invalid: use letters, digits and '_'", queryID: queryID)
            }
            guard !Self.reservedSettings.contains(name), !name.hasPrefix("param_") else {
                throw ClickHouseError(kind: .invalidInput, message: "setting '\(name)' is managed by the client; use the call's arguments instead", queryID: queryID)
            }
            items.append((name, value))
        }
        for (name, value) in parameters.sorted(by: { $0.key < $1.key }) {
            guard Self.isValidName(name) else {
                throw ClickHouseError(kind: .invalidInput, message: "parameter name '\(name)' is invalid: use letters, digits and '_'", queryID: queryID)
            }
            items.append(("param_\(name)", value.wireValue))
        }
        items.append(("query_id", queryID))
        items.append(("http_write_exception_in_output_format", "0"))
        if let database = configuration.database { items.append(("database", database)) }
        for (name, value) in extra.sorted(by: { $0.key < $1.key }) { items.append((name, value)) }

        var base = configuration.url
        if !base.hasSuffix("/") { base += "/" }
        let query = items.map { Self.percentEncode($0.0) + "=" + Self.percentEncode($0.1) }.joined(separator: "&")
        return base + "?" + query
    }

    /// Sends a request; returns a 2xx response, otherwise throws the server's error.
    func send(_ request: HTTPClientRequest, queryID: String, timeout: Duration) async throws -> HTTPClientResponse {
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: Self.timeAmount(timeout), logger: nil)
        } catch {
            throw Self.mapTransportError(error, queryID: queryID)
        }
        guard (200..<300).contains(response.status.code) else {
            let text = (try? await response.body.collect(upTo: 1 << 20)).map { String(buffer: $0) } ?? ""
            throw Self.errorFromResponse(
                status: Int(response.status.code),
                exceptionCode: response.headers.first(name: "X-ClickHouse-Exception-Code"),
                body: text,
                queryID: queryID
            )
        }
        return response
    }

    /// The error for a non-2xx answer: the code from `X-ClickHouse-Exception-Code` or the
    /// `Code: NNN.` text, the name and the message from the body.
    package static func errorFromResponse(status: Int, exceptionCode: String?, body: String, queryID: String?) -> ClickHouseError {
        let parsed = ClickHouseError.parseServerException(body)
        let code = exceptionCode.flatMap { Int($0.trimmingWhitespace()) } ?? parsed?.code
        let message = parsed?.message ?? String(body.trimmingWhitespace())
        if code == nil, [502, 503, 504].contains(status) {
            return ClickHouseError(kind: .network, message: "HTTP \(status) from a proxy or a stopping server: \(message)", queryID: queryID, httpStatus: status)
        }
        return ClickHouseError(
            kind: .server,
            code: code,
            name: parsed?.name,
            message: message.isEmpty ? "HTTP \(status) with an empty body" : message,
            queryID: queryID,
            httpStatus: status
        )
    }

    static func mapTransportError(_ error: any Error, queryID: String) -> any Error {
        if error is CancellationError { return error }
        if let error = error as? ClickHouseError { return error }
        if let error = error as? HTTPClientError {
            if error == .cancelled { return CancellationError() }
            if error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout || error == .writeTimeout {
                return ClickHouseError(kind: .timeout, message: "request timed out: \(error)", queryID: queryID)
            }
        }
        return ClickHouseError(kind: .network, message: "cannot talk to ClickHouse: \(error)", queryID: queryID)
    }

    /// Reads a small body fully through the exception scanner.
    static func readSmallBody(_ response: HTTPClientResponse, queryID: String, limit: Int) async throws -> ByteBuffer {
        var scanner = ExceptionScanner(tag: response.headers.first(name: "X-ClickHouse-Exception-Tag"))
        var collected = ByteBuffer()
        do {
            for try await chunk in response.body {
                var data = scanner.consume(chunk)
                if collected.readableBytes + data.readableBytes <= limit { collected.writeBuffer(&data) }
            }
        } catch {
            if scanner.sawException { _ = try scanner.finish(queryID: queryID) }
            throw mapTransportError(error, queryID: queryID)
        }
        var rest = try scanner.finish(queryID: queryID)
        collected.writeBuffer(&rest)
        return collected
    }

    static func makeQueryID() -> String { UUID().uuidString.lowercased() }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(\.isIdentifierByte)
    }

    /// Quotes `table` or `database.table` with backticks.
    static func quoteTableName(_ name: String) throws(ClickHouseError) -> String {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw ClickHouseError(kind: .invalidInput, message: "table name '\(name)' must be 'table' or 'database.table'")
        }
        return parts.map { "`" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "`", with: "\\`") + "`" }
            .joined(separator: ".")
    }

    static func percentEncode(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            if byte.isIdentifierByte || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "~") {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                result += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xf)]], as: UTF8.self)
            }
        }
        return result
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(max(1, seconds + (attoseconds > 0 ? 1 : 0)))
    }
}

/// Tracks whether a query finished; kills it on the server when it did not.
final class QueryControl: Sendable {
    let queryID: String
    private let client: ClickHouseClient
    private let finished = Mutex(false)

    init(queryID: String, client: ClickHouseClient) {
        self.queryID = queryID
        self.client = client
    }

    func markFinished() {
        finished.withLock { $0 = true }
    }

    /// Sends `KILL QUERY` once, from a task of its own (the caller's task may be cancelled,
    /// which would cancel the kill request too), and waits for it up to the kill timeout.
    func kill() async {
        let alreadyFinished = finished.withLock { value -> Bool in
            defer { value = true }
            return value
        }
        guard !alreadyFinished else { return }
        let killer = Self.makeKillTask(client: client, queryID: queryID)
        await killer.value
    }

    private static func makeKillTask(client: ClickHouseClient, queryID: String) -> Task<Void, Never> {
        Task {
            do {
                try await client.kill(queryID: queryID)
                client.logger.debug("killed an abandoned ClickHouse query", metadata: [ClickHouseLogKey.queryID: "\(queryID)"])
            } catch {
                client.logger.warning("cannot kill an abandoned ClickHouse query", metadata: [
                    ClickHouseLogKey.queryID: "\(queryID)", ClickHouseLogKey.error: "\(error)",
                ])
            }
        }
    }

    deinit {
        if !finished.withLock({ $0 }) {
            _ = Self.makeKillTask(client: client, queryID: queryID)
        }
    }
}
