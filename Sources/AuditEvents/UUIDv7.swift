import Foundation

/// UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Time-ordered, so
/// ids assigned by the server sort by ingestion time.
public enum UUIDv7 {
    /// A new UUIDv7 string for the current time, in the canonical lowercase 8-4-4-4-12 form.
    public static func make() -> String {
        make(milliseconds: Int64(Date().timeIntervalSince1970 * 1000))
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
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
