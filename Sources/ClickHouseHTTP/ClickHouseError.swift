/// An error from ClickHouse or from talking to it.
///
/// Server errors carry ClickHouse's numeric ``code`` and its name (e.g. `TOO_MANY_PARTS`).
/// ``category`` says what to do about it; ``isRetriable`` is true only for
/// ``Category/transient``.
public struct ClickHouseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What a caller should do about an error.
    public enum Category: String, Sendable, Hashable {
        /// Retry the same request after a backoff: overload, timeouts, network, Keeper, and
        /// "unknown status of insert" (safe with an `insert_deduplication_token`).
        case transient
        /// The server or its schema is not as the program expects (missing table or database,
        /// wrong credentials or grants, read-only). Retrying will not help until an operator
        /// acts, but the *data* is fine: do not dead-letter it; pause, alert, retry later.
        case operatorAction
        /// The server rejected the data itself (cannot parse, type mismatch, incorrect data).
        /// Retrying the same bytes fails again: this is what a dead-letter queue is for.
        case rejectedData
        /// The request is wrong: SQL syntax, unknown function or identifier, bad parameter.
        /// A bug in the caller; neither retry nor dead-letter.
        case invalidRequest
        /// The query was cancelled (by `KILL QUERY` or because the caller cancelled).
        case cancelled
        /// Anything else; treat as not retriable.
        case unknown
    }

    /// Where the error came from. Extensible: switch with a `default` case.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        let name: String
        /// ClickHouse answered with an exception (non-2xx, or one written into a 200 body).
        public static let server = Kind(name: "server")
        /// The connection failed or was cut (refused, reset, closed before the body ended).
        public static let network = Kind(name: "network")
        /// The client-side deadline of the HTTP request passed.
        public static let timeout = Kind(name: "timeout")
        /// The response could not be understood (e.g. a malformed RowBinary stream).
        public static let `protocol` = Kind(name: "protocol")
        /// The client was given invalid input (configuration, parameter name, value of the
        /// wrong type for a column).
        public static let invalidInput = Kind(name: "invalid input")
        /// A human-readable name of the kind.
        public var description: String { name }
    }

    /// Where the error came from.
    public var kind: Kind
    /// ClickHouse's error code (e.g. 252), when the server sent one.
    public var code: Int?
    /// ClickHouse's error name (e.g. `TOO_MANY_PARTS`), when the server sent one.
    public var name: String?
    /// The message: the server's exception text, or what the client saw.
    public var message: String
    /// The `query_id` of the failed query, when known.
    public var queryID: String?
    /// The HTTP status of the answer, when there was one.
    public var httpStatus: Int?

    /// Creates an error.
    public init(kind: Kind, code: Int? = nil, name: String? = nil, message: String, queryID: String? = nil, httpStatus: Int? = nil) {
        self.kind = kind
        self.code = code
        self.name = name
        self.message = message
        self.queryID = queryID
        self.httpStatus = httpStatus
    }

    /// What to do about this error; see ``Category``.
    public var category: Category {
        switch kind {
        case .network, .timeout: return .transient
        case .server:
            guard let code else { return .unknown }
            return Self.category(ofCode: code)
        case .invalidInput: return .invalidRequest
        default: return .unknown
        }
    }

    /// Whether sending the same request again after a backoff may succeed.
    ///
    /// True for network errors, client timeouts, and the server codes in
    /// ``retriableCodes``. False otherwise — including `UNKNOWN_TABLE` (60), which needs an
    /// operator (see ``Category/operatorAction``), not a retry loop that hides it.
    public var isRetriable: Bool { category == .transient }

    /// Server codes that are worth retrying after a backoff:
    ///
    /// - 159 TIMEOUT_EXCEEDED, 160 TOO_SLOW (`max_execution_time` hit)
    /// - 201 QUOTA_EXCEEDED, 202 TOO_MANY_SIMULTANEOUS_QUERIES, 203 NO_FREE_CONNECTION
    /// - 209 SOCKET_TIMEOUT, 210 NETWORK_ERROR, 1000 POCO_EXCEPTION (network inside the cluster)
    /// - 241 MEMORY_LIMIT_EXCEEDED, 439 CANNOT_SCHEDULE_TASK (the server is overloaded)
    /// - 242 TABLE_IS_READ_ONLY (a replica lost Keeper), 285 TOO_FEW_LIVE_REPLICAS
    /// - 252 TOO_MANY_PARTS (merges are behind)
    /// - 319 UNKNOWN_STATUS_OF_INSERT (retry with the same deduplication token)
    /// - 373 SESSION_IS_LOCKED
    /// - Keeper: 225 NO_ZOOKEEPER, 244 UNEXPECTED_ZOOKEEPER_ERROR, 999 KEEPER_EXCEPTION
    public static let retriableCodes: Set<Int> = [
        159, 160, 201, 202, 203, 209, 210, 225, 241, 242, 244, 252, 285, 319, 373, 439, 999, 1000,
    ]

    /// Codes that mean the schema, credentials or server mode need an operator:
    /// 60 UNKNOWN_TABLE, 81 UNKNOWN_DATABASE, 16 NO_SUCH_COLUMN_IN_TABLE, 164 READONLY,
    /// 192 UNKNOWN_USER, 193 WRONG_PASSWORD, 194 REQUIRED_PASSWORD, 497 ACCESS_DENIED,
    /// 516 AUTHENTICATION_FAILED.
    public static let operatorActionCodes: Set<Int> = [16, 60, 81, 164, 192, 193, 194, 497, 516]

    /// Codes that mean the data was rejected: 6 CANNOT_PARSE_TEXT, 26/27 CANNOT_PARSE_*,
    /// 38 CANNOT_PARSE_DATE, 41 CANNOT_PARSE_DATETIME, 53 TYPE_MISMATCH,
    /// 69 ARGUMENT_OUT_OF_BOUND, 70 CANNOT_CONVERT_TYPE, 72 CANNOT_PARSE_NUMBER,
    /// 117 INCORRECT_DATA, 131 TOO_LARGE_STRING_SIZE, 395 FUNCTION_THROW_IF_VALUE_IS_NON_ZERO
    /// (a `throwIf` on a value), 33 CANNOT_READ_ALL_DATA (truncated RowBinary).
    public static let rejectedDataCodes: Set<Int> = [6, 26, 27, 33, 38, 41, 53, 69, 70, 72, 117, 131, 395]

    /// Codes that mean the request (SQL or parameters) is wrong: 36 BAD_ARGUMENTS,
    /// 43 ILLEGAL_TYPE_OF_ARGUMENT, 46 UNKNOWN_FUNCTION, 47 UNKNOWN_IDENTIFIER,
    /// 62 SYNTAX_ERROR, 73 UNKNOWN_FORMAT, 115 UNKNOWN_SETTING, 456/457 query parameters.
    public static let invalidRequestCodes: Set<Int> = [36, 43, 46, 47, 62, 73, 115, 456, 457]

    /// The category of a server error code.
    public static func category(ofCode code: Int) -> Category {
        if retriableCodes.contains(code) { return .transient }
        if operatorActionCodes.contains(code) { return .operatorAction }
        if rejectedDataCodes.contains(code) { return .rejectedData }
        if invalidRequestCodes.contains(code) { return .invalidRequest }
        if code == 394 { return .cancelled }
        return .unknown
    }

    /// `ClickHouse <kind> error [code NAME]: message (query_id ...)`.
    public var description: String {
        var text = "ClickHouse \(kind) error"
        if let code { text += " \(code)" }
        if let name { text += " \(name)" }
        text += ": \(message)"
        if let queryID { text += " (query_id \(queryID))" }
        return text
    }

    /// Parses ClickHouse's exception text: `Code: 60. DB::Exception: <message>. (UNKNOWN_TABLE)
    /// (version 26.9.2.1)`. Returns the code, the name and the whole text trimmed; nil when
    /// the text does not start with (or, after a line break, contain) `Code: <digits>.`.
    public static func parseServerException(_ text: String) -> (code: Int, name: String?, message: String)? {
        let trimmed = text.trimmingWhitespace()
        guard let codeRange = trimmed.codePrefixRange() else { return nil }
        let digits = trimmed[codeRange.upperBound...].prefix { $0.isASCII && $0.isNumber }
        guard let code = Int(digits) else { return nil }
        let message = String(trimmed[codeRange.lowerBound...])
        return (code, exceptionName(in: message), message)
    }

    /// The `(NAME)` before `(version ...)`, or the last parenthesised upper-case word.
    static func exceptionName(in text: String) -> String? {
        var candidate: String? = nil
        var index = text.startIndex
        while let open = text[index...].firstIndex(of: "(") {
            guard let close = text[open...].firstIndex(of: ")") else { break }
            let inside = text[text.index(after: open)..<close]
            if !inside.isEmpty, inside.allSatisfy({ ($0.isASCII && $0.isUppercase) || $0 == "_" || ($0.isASCII && $0.isNumber) }) {
                candidate = String(inside)
            }
            index = text.index(after: close)
        }
        return candidate
    }
}

extension String {
    func trimmingWhitespace() -> Substring {
        let scalars = self.drop { $0.isWhitespace }
        var end = scalars.endIndex
        while end > scalars.startIndex, scalars[scalars.index(before: end)].isWhitespace {
            end = scalars.index(before: end)
        }
        return scalars[scalars.startIndex..<end]
    }
}

extension Substring {
    /// The range of `Code: <digit>` at the start or right after a newline.
    func codePrefixRange() -> Range<Index>? {
        var searchStart = startIndex
        while let range = self[searchStart...].firstRange(of: "Code: ") {
            let atLineStart = range.lowerBound == startIndex || self[index(before: range.lowerBound)] == "\n"
            if atLineStart, range.upperBound < endIndex, self[range.upperBound].isASCII, self[range.upperBound].isNumber {
                return range.lowerBound..<range.upperBound
            }
            searchStart = range.upperBound
        }
        return nil
    }
}
