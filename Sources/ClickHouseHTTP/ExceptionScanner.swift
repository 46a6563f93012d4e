package import NIOCore

/// Finds an exception that ClickHouse writes into a response body after the `200 OK` was sent.
///
/// ClickHouse 25.11+ (checked on 26.9.2.1) sends a random `X-ClickHouse-Exception-Tag` header
/// with every response; when a query fails part-way it ends the body with
///
///     \r\n__exception__\r\n<TAG>\r\n<message>\n<size> <TAG>\r\n__exception__\r\n
///
/// where `<size>` is the byte length of `<message>\n`. (With
/// `http_write_exception_in_output_format=1`, some formats such as JSONEachRow write the
/// exception as a row instead, `{"exception": "..."}`; the client therefore always sends
/// `http_write_exception_in_output_format=0`.)
///
/// The scanner passes body bytes through, holding back only the last `marker.count - 1` bytes
/// so that a marker split across chunks is still found and exception text is never handed to
/// the caller as data. Without a tag (older servers), it falls back to looking for
/// `Code: NNN. DB::Exception:` at the end of the body (data already passed on cannot be
/// taken back then, but the error is still raised).
package struct ExceptionScanner {
    private enum State {
        case data(held: [UInt8])
        case exception(text: [UInt8])
    }

    private let marker: [UInt8]?
    private let tag: String?
    private var state: State = .data(held: [])
    /// For the untagged fallback: the last bytes of the body.
    private var tail: [UInt8] = []
    private static let tailLimit = 8192
    private static let exceptionTextLimit = 1 << 16

    /// A scanner for a response that carried `X-ClickHouse-Exception-Tag: tag` (nil if absent).
    package init(tag: String?) {
        if let tag, !tag.isEmpty {
            self.tag = tag
            self.marker = Array("\r\n__exception__\r\n\(tag)".utf8)
        } else {
            self.tag = nil
            self.marker = nil
        }
    }

    /// Takes the next body chunk; returns the bytes that are certainly data (maybe empty).
    package mutating func consume(_ chunk: ByteBuffer) -> ByteBuffer {
        guard let marker else {
            tail.append(contentsOf: chunk.readableBytesView)
            if tail.count > Self.tailLimit { tail.removeFirst(tail.count - Self.tailLimit) }
            return chunk
        }
        switch state {
        case .exception(var text):
            if text.count < Self.exceptionTextLimit { text.append(contentsOf: chunk.readableBytesView) }
            state = .exception(text: text)
            return ByteBuffer()
        case .data(let held):
            var bytes = held
            bytes.append(contentsOf: chunk.readableBytesView)
            if let position = Self.find(marker, in: bytes) {
                state = .exception(text: Array(bytes[(position + marker.count)...]))
                return ByteBuffer(bytes: bytes[..<position])
            }
            let keep = min(bytes.count, marker.count - 1)
            state = .data(held: Array(bytes[(bytes.count - keep)...]))
            return ByteBuffer(bytes: bytes[..<(bytes.count - keep)])
        }
    }

    /// Ends the body: returns the last data bytes, or throws the exception found in the body.
    package mutating func finish(queryID: String?) throws(ClickHouseError) -> ByteBuffer {
        switch state {
        case .data(let held):
            if marker == nil, let error = Self.untaggedException(in: tail, queryID: queryID) { throw error }
            state = .data(held: [])
            return ByteBuffer(bytes: held)
        case .exception(let text):
            throw Self.taggedException(text, tag: tag ?? "", queryID: queryID)
        }
    }

    /// Whether an exception marker has been seen (the rest of the body is its text).
    package var sawException: Bool {
        if case .exception = state { return true }
        return false
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count, let first = needle.first else { return nil }
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    /// Parses the text after the marker: `\r\n<message>\n<size> <TAG>\r\n__exception__\r\n`.
    static func taggedException(_ text: [UInt8], tag: String, queryID: String?) -> ClickHouseError {
        var body = text[...]
        if body.starts(with: [13, 10]) { body = body.dropFirst(2) }
        var message = String(decoding: body, as: UTF8.self)
        // Strip the trailer `\n<size> <TAG>\r\n__exception__\r\n` when it is complete.
        let trailerSuffix = " \(tag)\r\n__exception__"
        if let range = message.range(ofLast: trailerSuffix),
           let newline = message[..<range.lowerBound].lastIndex(of: "\n"),
           let size = Int(message[message.index(after: newline)..<range.lowerBound]) {
            let candidate = message[..<newline]
            message = String(candidate)
            if candidate.utf8.count + 1 != size {
                message += " [ClickHouse announced \(size) bytes of exception text]"
            }
        } else {
            message += " [exception trailer incomplete: the connection may have been cut]"
        }
        if let parsed = ClickHouseError.parseServerException(message) {
            return ClickHouseError(kind: .server, code: parsed.code, name: parsed.name, message: parsed.message, queryID: queryID, httpStatus: 200)
        }
        return ClickHouseError(kind: .server, message: "exception in the response body: \(message)", queryID: queryID, httpStatus: 200)
    }

    /// Older servers: `Code: NNN. DB::Exception: ...` as the last line(s) of the body.
    static func untaggedException(in tail: [UInt8], queryID: String?) -> ClickHouseError? {
        let text = String(decoding: tail, as: UTF8.self)
        guard let range = text.range(ofLast: "Code: ") else { return nil }
        let startsLine = range.lowerBound == text.startIndex || text[text.index(before: range.lowerBound)] == "\n"
        guard startsLine, text[range.lowerBound...].contains("DB::Exception:") else { return nil }
        guard let parsed = ClickHouseError.parseServerException(String(text[range.lowerBound...])) else { return nil }
        return ClickHouseError(kind: .server, code: parsed.code, name: parsed.name, message: parsed.message, queryID: queryID, httpStatus: 200)
    }
}

extension String {
    func range(ofLast needle: String) -> Range<Index>? {
        ranges(of: needle).last
    }
}
