import Foundation

/// UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Time-ordered, so
/// ids assigned by the server sort by ingestion time.
public enum UUIDv7 {
    /// A new UUIDv7 string for the current time, in the canonical lowercase 8-4-4-4-12 form.
    public static func make() -> String {
        make(milliseconds: UnixTime.nowMilliseconds())
    }

    /// A new UUIDv7 string for the given Unix time in milliseconds.
    public static func make(milliseconds: Int64) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for index in 6 ..< 16 { bytes[index] = UInt8.random(in: 0 ... 255, using: &generator) }
        let ms = UInt64(max(0, milliseconds))
        for index in 0 ..< 6 { bytes[index] = UInt8(truncatingIfNeeded: ms >> (8 * (5 - UInt64(index)))) }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // RFC 4122 variant
        let hex = bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        let characters = Array(hex)
        return [0 ..< 8, 8 ..< 12, 12 ..< 16, 16 ..< 20, 20 ..< 32].map { String(characters[$0]) }.joined(separator: "-")
    }

    /// The Unix milliseconds of a UUIDv7 in the canonical lowercase form ``make()`` writes; nil
    /// for any other string.
    package static func milliseconds(of id: String) -> UInt64? {
        let utf8 = Array(id.utf8)
        let dashes = [8, 13, 18, 23]
        func isHex(_ byte: UInt8) -> Bool { (0x30 ... 0x39).contains(byte) || (0x61 ... 0x66).contains(byte) }
        guard utf8.count == 36, utf8[14] == UInt8(ascii: "7"),
              utf8.indices.allSatisfy({ dashes.contains($0) ? utf8[$0] == UInt8(ascii: "-") : isHex(utf8[$0]) })
        else { return nil }
        return (utf8[0 ..< 8] + utf8[9 ..< 13]).reduce(0) { $0 << 4 | UInt64($1 <= 0x39 ? $1 - 0x30 : $1 - 0x61 + 10) }
    }

    /// The greatest string of the canonical layout whose timestamp is `milliseconds` (capped at
    /// 48 bits): every canonical lowercase UUIDv7 of that millisecond or before sorts at or below
    /// it, as bytes.
    package static func greatest(milliseconds: UInt64) -> String {
        let hex = String(min(milliseconds, (1 << 48) - 1), radix: 16).leftPadded(to: 12)
        return "\(hex.prefix(8))-\(hex.suffix(4))-ffff-ffff-ffffffffffff"
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
