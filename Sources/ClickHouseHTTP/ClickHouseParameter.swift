/// The value of a query parameter: sent as `param_<name>` and referenced in SQL as
/// `{name:Type}`. Values never become part of the SQL text.
///
/// ClickHouse parses a parameter value in its "escaped" text form (as in TabSeparated), so
/// `\` would start an escape sequence and a raw tab or newline is rejected. ``string(_:)``
/// (also used for string literals) escapes the text so that the server receives exactly it.
public struct ClickHouseParameter: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByStringInterpolation
{
    /// The text sent on the wire.
    public let wireValue: String

    private init(wireValue: String) { self.wireValue = wireValue }

    /// A `String`-typed value, escaped so that it arrives byte for byte.
    public static func string(_ text: String) -> ClickHouseParameter {
        ClickHouseParameter(wireValue: escape(text))
    }

    /// An integer value (any integer column type).
    public static func integer<I: BinaryInteger>(_ value: I) -> ClickHouseParameter {
        ClickHouseParameter(wireValue: String(value))
    }

    /// An `Array(String)` value: `['a', 'b']` with each element quoted and escaped.
    public static func strings(_ texts: [String]) -> ClickHouseParameter {
        let elements = texts.map { "'" + escape($0, quote: true) + "'" }
        return ClickHouseParameter(wireValue: "[" + elements.joined(separator: ",") + "]")
    }

    /// A value already in ClickHouse's escaped text form, sent as is (for other types, e.g.
    /// `DateTime64` as `2026-01-01 00:00:00.000` or a `Map` literal).
    public static func raw(_ text: String) -> ClickHouseParameter {
        ClickHouseParameter(wireValue: text)
    }

    /// A string literal is a ``string(_:)`` value.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An integer literal is an ``integer(_:)`` value.
    public init(integerLiteral value: Int) { self = .integer(value) }

    static func escape(_ text: String, quote: Bool = false) -> String {
        // Every escaped character is ASCII, so the UTF-8 bytes can be rewritten one by one.
        func escaped(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "\\"): UInt8(ascii: "\\")
            case UInt8(ascii: "\t"): UInt8(ascii: "t")
            case UInt8(ascii: "\n"): UInt8(ascii: "n")
            case UInt8(ascii: "\r"): UInt8(ascii: "r")
            case 0: UInt8(ascii: "0")
            case UInt8(ascii: "'") where quote: UInt8(ascii: "'")
            default: nil
            }
        }
        guard text.utf8.contains(where: { escaped($0) != nil }) else { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 8)
        for byte in text.utf8 {
            if let letter = escaped(byte) {
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(letter)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
