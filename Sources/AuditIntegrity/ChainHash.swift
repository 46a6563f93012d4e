import Crypto
import Foundation

/// A SHA-256 digest: one link of a tenant's hash chain, the genesis of a chain, or a signed head.
///
/// Stored in ClickHouse as `FixedString(32)` (the raw 32 bytes), written in JSON and logs as 64
/// lowercase hex digits.
public struct ChainHash: Sendable, Hashable, CustomStringConvertible {
    /// The 32 digest bytes, in place (no allocation per hash: the sink makes one per stored row).
    private var storage: SIMD4<UInt64>

    /// The 32 digest bytes (a new array; ``withUnsafeBytes(_:)`` reads them in place).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Wraps 32 bytes; nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        storage = .zero
        Swift.withUnsafeMutableBytes(of: &storage) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
    }

    /// Parses 64 hex digits (either case); nil otherwise.
    public init?(hex: String) {
        guard let bytes = HexCoding.decode(hex), let hash = ChainHash(bytes: bytes) else { return nil }
        self = hash
    }

    init(digest: SHA256.Digest) {
        storage = .zero
        Swift.withUnsafeMutableBytes(of: &storage) { raw in
            digest.withUnsafeBytes { raw.copyMemory(from: $0) }
        }
    }

    /// Calls `body` with the 32 digest bytes.
    public func withUnsafeBytes<Result, Failure: Error>(_ body: (UnsafeRawBufferPointer) throws(Failure) -> Result) throws(Failure) -> Result {
        try Swift.withUnsafeBytes(of: storage) { raw throws(Failure) in try body(raw) }
    }

    /// 64 lowercase hex digits.
    public var hex: String { HexCoding.encode(bytes) }

    /// Same as ``hex``.
    public var description: String { hex }

    /// The first hash of `tenantID`'s chain, before any event: `SHA-256(lp("auditpipe.chain.v1.genesis") || lp(tenant_id))`
    /// where `lp` is a 4-byte big-endian length followed by the UTF-8 bytes.
    public static func genesis(tenantID: String) -> ChainHash {
        var encoder = CanonicalEncoder()
        encoder.append(string: "auditpipe.chain.v1.genesis")
        encoder.append(string: tenantID)
        return ChainHash(digest: SHA256.hash(data: encoder.bytes))
    }

    /// The link after `previous` for an event: `SHA-256(previous || canonical)`, where
    /// `canonical` is ``ChainedEvent/canonicalBytes``.
    public static func link(previous: ChainHash, canonical: [UInt8]) -> ChainHash {
        var hasher = SHA256()
        previous.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        hasher.update(data: canonical)
        return ChainHash(digest: hasher.finalize())
    }

    /// The link after `previous` for `event`.
    public static func link(previous: ChainHash, event: ChainedEvent) -> ChainHash {
        link(previous: previous, canonical: event.canonicalBytes)
    }
}

/// Lowercase hex encoding and lenient (either case) decoding.
enum HexCoding {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}
