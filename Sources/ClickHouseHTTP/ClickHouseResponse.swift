import AsyncHTTPClient
public import NIOCore

/// A running query: its id, its format, and its body as a stream.
public struct ClickHouseQueryResponse: Sendable {
    /// The `query_id` the query runs under.
    public let queryID: String
    /// The output format the server announced (`X-ClickHouse-Format`).
    public let format: String?
    /// The body, streamed.
    public let body: ClickHouseResponseBody
}

/// The body of a query's answer: chunks of bytes as they arrive, with ClickHouse's in-body
/// exceptions turned into thrown ``ClickHouseError``s.
///
/// A body that ends early is never reported as complete. When ClickHouse fails part-way it
/// writes the exception and closes the connection; the exception (code and text) is thrown when
/// its bytes arrive, but AsyncHTTPClient 1.37 sometimes drops the last bytes read before the
/// close (seen in about half of the runs against ClickHouse 26.9), and the failure is then a
/// retriable ``ClickHouseError/Kind/network`` error. Pass the setting `wait_end_of_query=1`
/// when the exact code matters more than streaming (the server then buffers the answer and
/// reports failures as an HTTP error).
///
/// Iterate it once. If the consuming task is cancelled, the iterator kills the query on the
/// server and throws `CancellationError`; if the body is dropped before its end, the query is
/// killed in the background.
public struct ClickHouseResponseBody: AsyncSequence, Sendable {
    /// A chunk of the body.
    public typealias Element = ByteBuffer

    let upstream: HTTPClientResponse.Body
    let exceptionTag: String?
    let control: QueryControl

    /// The iterator.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var upstream: HTTPClientResponse.Body.AsyncIterator
        var scanner: ExceptionScanner
        let control: QueryControl
        let exceptionTag: String?
        var done = false

        /// The next chunk of data; nil at the end of a successful body.
        public mutating func next() async throws -> ByteBuffer? {
            while !done {
                let chunk: ByteBuffer?
                do {
                    chunk = try await upstream.next()
                } catch {
                    done = true
                    if scanner.sawException {
                        // ClickHouse may close the connection right after the exception
                        // trailer; the exception is what matters.
                        control.markFinished()
                        _ = try scanner.finish(queryID: control.queryID)
                    }
                    let mapped = ClickHouseClient.mapTransportError(error, queryID: control.queryID)
                    if mapped is CancellationError || Task.isCancelled {
                        await control.kill()
                        throw CancellationError()
                    }
                    // The connection broke: the server may still be running the query.
                    await control.kill()
                    if exceptionTag != nil, var clickHouseError = mapped as? ClickHouseError, clickHouseError.kind == .network {
                        clickHouseError.message = "the answer ended before its end: \(clickHouseError.message). ClickHouse closes the connection this way after an exception part-way; AsyncHTTPClient can drop the last bytes, and with them the exception text. Use the setting wait_end_of_query=1 for a reliable error code."
                        throw clickHouseError
                    }
                    throw mapped
                }
                if let chunk {
                    let data = scanner.consume(chunk)
                    if data.readableBytes > 0 { return data }
                    continue
                }
                done = true
                if Task.isCancelled {
                    // The HTTP layer ends the body early when the task is cancelled.
                    await control.kill()
                    throw CancellationError()
                }
                control.markFinished()
                let rest = try scanner.finish(queryID: control.queryID)
                return rest.readableBytes > 0 ? rest : nil
            }
            return nil
        }
    }

    /// Starts reading the body.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(upstream: upstream.makeAsyncIterator(), scanner: ExceptionScanner(tag: exceptionTag), control: control, exceptionTag: exceptionTag)
    }

    /// Reads the whole body, failing when it exceeds `maxBytes` (the query is then killed).
    public func collect(upTo maxBytes: Int) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        for try await var chunk in self {
            guard collected.readableBytes + chunk.readableBytes <= maxBytes else {
                await control.kill()
                throw ClickHouseError(kind: .invalidInput, message: "the answer is larger than \(maxBytes) bytes; stream it instead", queryID: control.queryID)
            }
            collected.writeBuffer(&chunk)
        }
        return collected
    }

    /// The body split into lines at `\n` (for TabSeparated, CSV, JSONEachRow), without the
    /// line break; a last line without a break is returned too.
    public var lines: ClickHouseLines { ClickHouseLines(body: self) }

    /// The body decoded as `RowBinaryWithNamesAndTypes` (or `RowBinary` when `columns` are
    /// given), row by row.
    public func rows(columns: [ClickHouseColumn]? = nil) -> ClickHouseRows {
        ClickHouseRows(body: self, columns: columns)
    }
}

/// Lines of a text body; see ``ClickHouseResponseBody/lines``.
public struct ClickHouseLines: AsyncSequence, Sendable {
    /// One line, decoded as UTF-8 (invalid bytes replaced).
    public typealias Element = String
    let body: ClickHouseResponseBody

    /// The iterator.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var chunks: ClickHouseResponseBody.AsyncIterator
        var pending: [UInt8] = []
        var ready: [String] = []
        var readyIndex = 0
        var ended = false

        /// The next line; nil at the end.
        public mutating func next() async throws -> String? {
            while true {
                if readyIndex < ready.count {
                    defer { readyIndex += 1 }
                    return ready[readyIndex]
                }
                ready.removeAll(keepingCapacity: true)
                readyIndex = 0
                if ended { return nil }
                guard let chunk = try await chunks.next() else {
                    ended = true
                    if !pending.isEmpty {
                        ready.append(String(decoding: pending, as: UTF8.self))
                        pending.removeAll()
                    }
                    continue
                }
                for byte in chunk.readableBytesView {
                    if byte == UInt8(ascii: "\n") {
                        ready.append(String(decoding: pending, as: UTF8.self))
                        pending.removeAll(keepingCapacity: true)
                    } else {
                        pending.append(byte)
                    }
                }
            }
        }
    }

    /// Starts reading lines.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunks: body.makeAsyncIterator()) }
}

/// One decoded row with its columns.
public struct ClickHouseRow: Sendable, Hashable {
    /// The columns of the result (shared by all rows).
    public let columns: [ClickHouseColumn]
    /// The values, one per column.
    public let values: [ClickHouseValue]

    /// The value of the column called `name`, or nil.
    public subscript(name: String) -> ClickHouseValue? {
        guard let index = columns.firstIndex(where: { $0.name == name }) else { return nil }
        return values[index]
    }
}

/// Rows of a RowBinary body; see ``ClickHouseResponseBody/rows(columns:)``.
public struct ClickHouseRows: AsyncSequence, Sendable {
    /// One row.
    public typealias Element = ClickHouseRow
    let body: ClickHouseResponseBody
    let columns: [ClickHouseColumn]?

    /// The iterator.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var chunks: ClickHouseResponseBody.AsyncIterator
        var reader: RowBinaryReader
        var ended = false

        /// The next row; nil at the end.
        public mutating func next() async throws -> ClickHouseRow? {
            while true {
                if let values = try reader.nextRow(), let columns = reader.columns {
                    return ClickHouseRow(columns: columns, values: values)
                }
                if ended { return nil }
                if let chunk = try await chunks.next() {
                    reader.feed(chunk)
                } else {
                    ended = true
                    try reader.finish()
                    return nil
                }
            }
        }
    }

    /// Starts reading rows.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(chunks: body.makeAsyncIterator(), reader: RowBinaryReader(columns: columns))
    }
}
