import AvroCodec

/// JSON written exactly as a legacy producer writes it: keys in the given order, numbers as the
/// producer formats them (integers, fractions, numbers beyond 2^53), compact.
package indirect enum JSONText: Sendable, Hashable {
    case string(String)
    /// A number, written verbatim (`1795046400.25`, `9007199254740993`).
    case number(String)
    case bool(Bool)
    case null
    case array([JSONText])
    /// Members in the order given.
    case object([(String, JSONText)])
    /// Text written as is, for deliberately broken JSON.
    case raw(String)

    package static func int<I: BinaryInteger>(_ value: I) -> JSONText { .number(String(value)) }

    /// The compact text.
    package var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    /// The compact text as UTF-8 bytes.
    package var bytes: [UInt8] { Array(text.utf8) }

    private func write(to out: inout String) {
        switch self {
        case .string(let value): JSONText.writeString(value, to: &out)
        case .number(let value), .raw(let value): out += value
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        case .array(let values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out += "," }
                JSONText.writeString(key, to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, everything
    /// else (non-ASCII included) kept as UTF-8.
    package static func writeString(_ value: String, to out: inout String) {
        JSONWriter.appendString(value, to: &out)
    }

    package static func == (a: JSONText, b: JSONText) -> Bool { a.text == b.text }
    package func hash(into hasher: inout Hasher) { hasher.combine(text) }
}
