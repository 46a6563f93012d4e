public import Crypto
import Foundation

/// Where a row-mode report stopped: the sort key of the last event sent.
///
/// Reports are ordered by `(timestamp, kafka_partition, kafka_offset)`, which is unique per
/// stored event, so resuming strictly after a position returns exactly the rest.
public struct ReportPosition: Sendable, Hashable {
    /// The event's timestamp, in milliseconds since the Unix epoch.
    public var timestampMilliseconds: Int64
    /// The Kafka partition the event was read from.
    public var kafkaPartition: Int32
    /// The event's Kafka offset.
    public var kafkaOffset: Int64

    /// Creates a position.
    public init(timestampMilliseconds: Int64, kafkaPartition: Int32, kafkaOffset: Int64) {
        self.timestampMilliseconds = timestampMilliseconds
        self.kafkaPartition = kafkaPartition
        self.kafkaOffset = kafkaOffset
    }
}

/// Issues and checks the opaque `next_cursor` strings of row-mode reports.
///
/// A cursor is base64url (no padding) of
/// `version(1) ‖ timestamp(8, BE) ‖ partition(4, BE) ‖ offset(8, BE) ‖ tag(16)`, where `tag` is
/// HMAC-SHA256 (truncated to 16 bytes) under the server's key over the version, the position
/// and a digest of the query's tenant, time range and filters. A cursor therefore cannot be
/// altered, and one issued for one report (or tenant) is refused by any other. Limits and
/// grouping are not bound: a client may resume with another `limit`.
///
/// Give every server of a deployment the same key (``init(key:)``) so that a cursor survives
/// a restart or a different replica; ``init()`` makes a random per-process key.
public struct ReportCursorCodec: Sendable {
    private let key: SymmetricKey
    static let version: UInt8 = 1
    static let tagLength = 16
    static let encodedLength = 1 + 8 + 4 + 8 + tagLength

    /// A codec with a configured secret (at least 32 bytes recommended).
    public init(key: SymmetricKey) { self.key = key }

    /// A codec with a random 256-bit key: cursors are valid only within this process.
    public init() { self.key = SymmetricKey(size: .bits256) }

    /// The cursor that resumes `query` after `position`.
    public func encode(_ position: ReportPosition, for query: ComplianceReportQuery) -> String {
        var bytes: [UInt8] = [Self.version]
        bytes.appendBigEndian(UInt64(bitPattern: position.timestampMilliseconds))
        bytes.appendBigEndian(UInt32(bitPattern: position.kafkaPartition))
        bytes.appendBigEndian(UInt64(bitPattern: position.kafkaOffset))
        bytes.append(contentsOf: tag(bytes, query: query))
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Checks a cursor against `query` and returns its position.
    ///
    /// - Throws: ``ReportQueryError`` with rule `invalid_cursor` when the text is not a cursor,
    ///   was altered, or was issued for another tenant, range or filter set.
    public func decode(_ text: String, for query: ComplianceReportQuery) throws(ReportQueryError) -> ReportPosition {
        func invalid(_ reason: String) -> ReportQueryError {
            ReportQueryError(violations: [.init(
                field: "cursor", rule: "invalid_cursor",
                description: "\(reason). Pass the next_cursor of a chunk of this same report unchanged, or start again without a cursor"
            )])
        }
        guard text.utf8.count == (Self.encodedLength * 4 + 2) / 3,
              text.utf8.allSatisfy({ $0.isBase64URLByte })
        else { throw invalid("cursor is not a cursor issued by AuditPipe (wrong length or characters)") }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), data.count == Self.encodedLength else {
            throw invalid("cursor is not a cursor issued by AuditPipe (not base64url)")
        }
        let bytes = [UInt8](data)
        // Re-encoding must give the same text: rejects non-canonical trailing bits.
        guard bytes[0] == Self.version else { throw invalid("cursor has an unknown version") }
        let body = Array(bytes[0..<(Self.encodedLength - Self.tagLength)])
        let presented = Array(bytes[(Self.encodedLength - Self.tagLength)...])
        let expected = tag(body, query: query)
        guard constantTimeEqual(presented, expected) else {
            throw invalid("cursor does not belong to this report: it was issued for another tenant, time range or filters, or it was altered")
        }
        let position = ReportPosition(
            timestampMilliseconds: Int64(bitPattern: body.readBigEndian(at: 1, as: UInt64.self)),
            kafkaPartition: Int32(bitPattern: body.readBigEndian(at: 9, as: UInt32.self)),
            kafkaOffset: Int64(bitPattern: body.readBigEndian(at: 13, as: UInt64.self))
        )
        guard encode(position, for: query) == text else { throw invalid("cursor is not in canonical form") }
        guard position.timestampMilliseconds >= query.fromMilliseconds, position.timestampMilliseconds < query.toMilliseconds else {
            throw invalid("cursor lies outside the report's time range")
        }
        return position
    }

    private func tag(_ body: [UInt8], query: ComplianceReportQuery) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: key)
        hmac.update(data: Array("auditpipe.report-cursor.v1".utf8))
        hmac.update(data: body)
        hmac.update(data: Self.fingerprint(of: query))
        return Array(Data(hmac.finalize()).prefix(Self.tagLength))
    }

    /// A length-prefixed, order-independent encoding of everything that selects rows.
    static func fingerprint(of query: ComplianceReportQuery) -> [UInt8] {
        var bytes: [UInt8] = []
        func field(_ text: String) {
            bytes.appendBigEndian(UInt32(text.utf8.count))
            bytes.append(contentsOf: text.utf8)
        }
        func list(_ values: [String]) {
            let canonical = Set(values).sorted()
            bytes.appendBigEndian(UInt32(canonical.count))
            canonical.forEach(field)
        }
        field(query.tenantID)
        bytes.appendBigEndian(UInt64(bitPattern: query.fromMilliseconds))
        bytes.appendBigEndian(UInt64(bitPattern: query.toMilliseconds))
        list(query.eventTypes)
        list(query.actorIDs)
        list(query.resources)
        list(query.actions)
        let entries = query.metadataEquals.sorted { $0.key < $1.key }
        bytes.appendBigEndian(UInt32(entries.count))
        for (key, value) in entries {
            field(key)
            field(value)
        }
        return Array(SHA256.hash(data: bytes))
    }

    private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

extension UInt8 {
    var isBase64URLByte: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || self == UInt8(ascii: "-") || self == UInt8(ascii: "_")
    }
}

extension [UInt8] {
    mutating func appendBigEndian<I: FixedWidthInteger>(_ value: I) {
        var big = value.bigEndian
        Swift.withUnsafeBytes(of: &big) { self.append(contentsOf: $0) }
    }

    func readBigEndian<I: FixedWidthInteger>(at offset: Int, as: I.Type) -> I {
        var value: I = 0
        for index in offset..<(offset + MemoryLayout<I>.size) { value = value << 8 | I(self[index]) }
        return value
    }
}
