// JSON as legacy producers send it: a strict RFC 8259 reader over raw bytes that keeps number
// literals exactly (ids like 12345678901234567890 must not pass through Double), remembers key
// order, rejects duplicate keys, and reports invalid UTF-8 inside a string as an error of that
// one value rather than of the whole payload (invalid bytes inside a string can never be `"` or
// `\`, so the structure around them is still readable).

import AvroCodec

/// A parsed JSON value from a legacy producer.
package enum LegacyJSON: Sendable, Hashable {
    case null
    case bool(Bool)
    /// The number exactly as written (`42`, `-1.5`, `1e3`).
    case number(String)
    case string(String)
    case array([LegacyJSON])
    case object(LegacyJSONObject)

    /// A short name of the JSON kind for error messages: `a string`, `an object`.
    package var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number(let text): LegacyJSON.isIntegerLiteral(text) ? "an integer" : "a non-integer number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Whether a JSON number literal is an integer (no fraction, no exponent).
    package static func isIntegerLiteral(_ text: String) -> Bool {
        !text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
    }

    /// Compact, deterministic JSON text: object keys sorted by their UTF-8 bytes, numbers as sent,
    /// strings escaped minimally (`"`, `\` and control characters), everything else as UTF-8.
    package var canonicalText: String {
        var out = ""
        appendCanonical(to: &out)
        return out
    }

    private func appendCanonical(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let text): out += text
        case .string(let s): LegacyJSONWriter.appendString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.appendCanonical(to: &out)
            }
            out += "]"
        case .object(let object):
            out += "{"
            for (i, key) in object.keys.sorted(by: utf8Less).enumerated() {
                if i > 0 { out += "," }
                LegacyJSONWriter.appendString(key, to: &out)
                out += ":"
                object.values[key]!.appendCanonical(to: &out)
            }
            out += "}"
        }
    }
}

/// A JSON object that remembers the order of its keys.
package struct LegacyJSONObject: Sendable, Hashable {
    /// The keys in the order they were written.
    package private(set) var keys: [String] = []
    /// The values by key.
    package private(set) var values: [String: LegacyJSON] = [:]

    /// An empty object.
    package init() {}

    /// The value of `key`, if present.
    package subscript(key: String) -> LegacyJSON? { values[key] }

    /// Sets `key`; a new key goes after the existing ones.
    package mutating func set(_ key: String, _ value: LegacyJSON) {
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
    }
}

/// Why a JSON text could not be read.
package struct LegacyJSONError: Error, Sendable, Hashable {
    /// What kind of problem it is; also the `rule` of the rejection reason.
    package enum Kind: String, Sendable, Hashable {
        /// Not JSON (RFC 8259).
        case syntax
        /// A string is not valid UTF-8.
        case utf8
        /// Nested deeper than the limit.
        case maxDepth = "max_depth"
    }

    package var kind: Kind
    /// Byte offset of the problem from the start of the text that was parsed.
    package var offset: Int
    package var message: String
}

/// The strict reader. One instance reads one text.
struct LegacyJSONParser {
    private let bytes: ArraySlice<UInt8>
    private var pos: Int
    private let maxDepth: Int
    /// The first invalid UTF-8 string seen since the last reset (offset in the text).
    private(set) var utf8ErrorOffset: Int?

    init(bytes: ArraySlice<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.pos = bytes.startIndex
        self.maxDepth = maxDepth
    }

    /// Byte offset from the start of the text.
    var offset: Int { pos - bytes.startIndex }

    /// Parses one JSON document that spans the whole text.
    static func parseDocument(_ bytes: ArraySlice<UInt8>, maxDepth: Int) -> Result<LegacyJSON, LegacyJSONError> {
        var parser = LegacyJSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.skipByteOrderMark()
        do throws(LegacyJSONError) {
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.pos == bytes.endIndex else { throw parser.fail("unexpected characters after the JSON value") }
            if let bad = parser.utf8ErrorOffset {
                return .failure(LegacyJSONError(kind: .utf8, offset: bad, message: "a string is not valid UTF-8"))
            }
            return .success(value)
        } catch {
            return .failure(error)
        }
    }

    /// Parses one value from the current position (used to find where a first value ends).
    mutating func parseLeadingValue() throws(LegacyJSONError) -> LegacyJSON {
        skipByteOrderMark()
        return try parseValue(depth: 0)
    }

    /// Parses a top-level array element by element, so a bad string in one element does not
    /// reject its neighbours. The callback receives each element's byte range (relative to the
    /// text's start indices) and its value or UTF-8 error. Structural errors stop the whole array.
    static func parseTopLevelArray(
        _ bytes: ArraySlice<UInt8>,
        maxDepth: Int,
        element: (Range<Int>, Result<LegacyJSON, LegacyJSONError>) throws(LegacyJSONError) -> Void
    ) throws(LegacyJSONError) {
        var parser = LegacyJSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.skipByteOrderMark()
        parser.skipWhitespace()
        guard parser.pos < bytes.endIndex, bytes[parser.pos] == UInt8(ascii: "[") else { throw parser.fail("expected '['") }
        parser.pos += 1
        parser.skipWhitespace()
        if parser.pos < bytes.endIndex, bytes[parser.pos] == UInt8(ascii: "]") {
            parser.pos += 1
        } else {
            while true {
                parser.skipWhitespace()
                let start = parser.pos
                parser.utf8ErrorOffset = nil
                let value = try parser.parseValue(depth: 1)
                let range = start..<parser.pos
                if let bad = parser.utf8ErrorOffset {
                    try element(range, .failure(LegacyJSONError(kind: .utf8, offset: bad - (start - bytes.startIndex), message: "a string is not valid UTF-8")))
                } else {
                    try element(range, .success(value))
                }
                parser.skipWhitespace()
                guard parser.pos < bytes.endIndex else { throw parser.fail("unterminated array") }
                if bytes[parser.pos] == UInt8(ascii: ",") { parser.pos += 1; continue }
                if bytes[parser.pos] == UInt8(ascii: "]") { parser.pos += 1; break }
                throw parser.fail("expected ',' or ']'")
            }
        }
        parser.skipWhitespace()
        guard parser.pos == bytes.endIndex else { throw parser.fail("unexpected characters after the JSON array") }
    }

    private func fail(_ message: String, kind: LegacyJSONError.Kind = .syntax) -> LegacyJSONError {
        LegacyJSONError(kind: kind, offset: offset, message: message)
    }

    private mutating func skipByteOrderMark() {
        if bytes.count >= 3, bytes[pos] == 0xEF, bytes[pos + 1] == 0xBB, bytes[pos + 2] == 0xBF { pos += 3 }
    }

    mutating func skipWhitespace() {
        while pos < bytes.endIndex {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws(LegacyJSONError) -> LegacyJSON {
        guard depth <= maxDepth else { throw fail("JSON is nested deeper than \(maxDepth) levels", kind: .maxDepth) }
        skipWhitespace()
        guard pos < bytes.endIndex else { throw fail("unexpected end of JSON text") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case let b where b >= 0x20 && b < 0x7F: throw fail("unexpected character '\(Character(Unicode.Scalar(b)))'")
        case let b: throw fail("unexpected byte 0x\(String(b, radix: 16, uppercase: true))")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(LegacyJSONError) {
        let count = literal.utf8CodeUnitCount
        guard pos + count <= bytes.endIndex else { throw fail("invalid literal") }
        let ok = literal.withUTF8Buffer { lit in (0..<count).allSatisfy { bytes[pos + $0] == lit[$0] } }
        guard ok else { throw fail("invalid literal") }
        pos += count
    }

    private mutating func parseObject(depth: Int) throws(LegacyJSONError) -> LegacyJSON {
        pos += 1
        var object = LegacyJSONObject()
        skipWhitespace()
        if pos < bytes.endIndex, bytes[pos] == UInt8(ascii: "}") {
            pos += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard pos < bytes.endIndex, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyOffset = offset
            let key = try parseString()
            skipWhitespace()
            guard pos < bytes.endIndex, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            pos += 1
            let value = try parseValue(depth: depth + 1)
            guard object[key] == nil else {
                throw LegacyJSONError(kind: .syntax, offset: keyOffset, message: "duplicate key \"\(key.prefix(64))\" (ambiguous: which one is meant?)")
            }
            object.set(key, value)
            skipWhitespace()
            guard pos < bytes.endIndex else { throw fail("unterminated object") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(object) }
            throw fail("expected ',' or '}'")
        }
    }

    private mutating func parseArray(depth: Int) throws(LegacyJSONError) -> LegacyJSON {
        pos += 1
        var items: [LegacyJSON] = []
        skipWhitespace()
        if pos < bytes.endIndex, bytes[pos] == UInt8(ascii: "]") {
            pos += 1
            return .array(items)
        }
        while true {
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard pos < bytes.endIndex else { throw fail("unterminated array") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            throw fail("expected ',' or ']'")
        }
    }

    private mutating func parseNumber() throws(LegacyJSONError) -> LegacyJSON {
        let start = pos
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.endIndex, isDigit(bytes[pos]) else { throw fail("invalid number") }
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
        } else {
            while pos < bytes.endIndex, isDigit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.endIndex, bytes[pos] == UInt8(ascii: ".") {
            pos += 1
            guard pos < bytes.endIndex, isDigit(bytes[pos]) else { throw fail("invalid number") }
            while pos < bytes.endIndex, isDigit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.endIndex, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            pos += 1
            if pos < bytes.endIndex, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.endIndex, isDigit(bytes[pos]) else { throw fail("invalid number") }
            while pos < bytes.endIndex, isDigit(bytes[pos]) { pos += 1 }
        }
        return .number(String(decoding: bytes[start..<pos], as: UTF8.self))
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    private mutating func parseString() throws(LegacyJSONError) -> String {
        pos += 1  // opening quote
        var out: [UInt8] = []
        var runStart = pos
        var sawHighByte = false
        let stringStart = offset
        while true {
            guard pos < bytes.endIndex else { throw fail("unterminated string") }
            let b = bytes[pos]
            switch b {
            case UInt8(ascii: "\""):
                out.append(contentsOf: bytes[runStart..<pos])
                pos += 1
                if sawHighByte, let s = String(validating: out, as: UTF8.self) {
                    return s
                } else if sawHighByte {
                    if utf8ErrorOffset == nil { utf8ErrorOffset = stringStart - 1 }
                    return String(decoding: out, as: UTF8.self)
                }
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                out.append(contentsOf: bytes[runStart..<pos])
                pos += 1
                guard pos < bytes.endIndex else { throw fail("unterminated escape") }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard pos + 1 < bytes.endIndex, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate in \\u escape")
                        }
                        pos += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate in \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    guard let s = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                    out.append(contentsOf: String(Character(s)).utf8)
                default:
                    pos -= 1
                    throw fail("invalid escape sequence")
                }
                runStart = pos
            case 0x00..<0x20:
                throw fail("unescaped control character in a string")
            default:
                if b >= 0x80 { sawHighByte = true }
                pos += 1
            }
        }
    }

    private mutating func parseHex4() throws(LegacyJSONError) -> UInt32 {
        guard pos + 4 <= bytes.endIndex else { throw fail("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let digit: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape")
            }
            pos += 1
            value = value << 4 | digit
        }
        return value
    }
}

/// JSON text output shared by the canonical form, the event printer and the quarantine reasons.
package enum LegacyJSONWriter {
    /// Appends `s` as a JSON string literal: `"`, `\`, control characters and DEL are escaped,
    /// everything else is written as UTF-8 (the package's one JSON string writer).
    package static func appendString(_ s: String, to out: inout String) {
        JSONWriter.appendString(s, to: &out, escapingDelete: true)
    }

    /// A JSON string literal of `s`.
    package static func string(_ s: String) -> String {
        var out = ""
        appendString(s, to: &out)
        return out
    }
}
