public import AuditEvents

/// The form recent events are stored in: the protobuf wire encoding of `auditpipe.v1.StoredEvent`
/// (Protos/auditpipe/v1/audit.proto) with only its `event` field set, written by hand.
///
/// - RecentEvents answers with these bytes as they are: `RecentEventsResponse` is
///   `repeated StoredEvent events = 1`, so the response is each member behind a tag and a length.
/// - Deterministic: fields in number order, empty proto3 fields left out, metadata entries in key
///   order. The same event always gives the same bytes, which makes a replayed write a no-op.
public enum StoredEventProtobuf {
    /// The bytes of `StoredEvent { event: <event> }`.
    public static func encode(_ event: AuditEvent) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(64 + event.eventID.utf8.count + event.resource.utf8.count + event.metadata.count * 32)
        appendString(1, event.eventID, to: &body)
        appendString(2, event.tenantID, to: &body)
        appendString(3, event.actorID, to: &body)
        appendString(4, event.eventType, to: &body)
        appendString(5, event.resource, to: &body)
        appendString(6, event.action, to: &body)
        if event.timestampMilliseconds != 0 {
            body.append(7 << 3)  // varint
            appendVarint(UInt64(bitPattern: event.timestampMilliseconds), to: &body)
        }
        for key in event.metadata.keys.sorted() {
            let value = event.metadata[key]!
            // A map entry: a message with key = 1 and value = 2, both always written.
            let length = 2 + varintSize(key.utf8.count) + key.utf8.count + varintSize(value.utf8.count) + value.utf8.count
            body.append(8 << 3 | 2)
            appendVarint(UInt64(length), to: &body)
            body.append(1 << 3 | 2)
            appendVarint(UInt64(key.utf8.count), to: &body)
            body.append(contentsOf: key.utf8)
            body.append(2 << 3 | 2)
            appendVarint(UInt64(value.utf8.count), to: &body)
            body.append(contentsOf: value.utf8)
        }
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 6)
        out.append(1 << 3 | 2)  // StoredEvent.event
        appendVarint(UInt64(body.count), to: &out)
        out.append(contentsOf: body)
        return out
    }

    /// The event in `StoredEvent` bytes; nil when they are not a valid encoding. Reads any valid
    /// encoding (fields in any order, unknown fields skipped), not only ``encode(_:)``'s.
    public static func decode(_ bytes: [UInt8]) -> AuditEvent? {
        var reader = Reader(bytes: bytes[...])
        var event = AuditEvent(eventID: "", tenantID: "", actorID: "", eventType: "", resource: "", action: "", timestampMilliseconds: 0)
        while !reader.isAtEnd {
            guard let (field, wireType) = reader.tag() else { return nil }
            if field == 1, wireType == 2 {
                guard let body = reader.lengthDelimited(), decodeEvent(body, into: &event) else { return nil }
            } else if !reader.skip(wireType) {
                return nil
            }
        }
        return event
    }

    /// Whether `bytes` are one `StoredEvent` field 1 (the event) whose length is the rest of the
    /// bytes, as ``encode(_:)`` writes them. Checks the framing only, not the event inside.
    public static func isFramedStoredEvent(_ bytes: [UInt8]) -> Bool {
        var reader = Reader(bytes: bytes[...])
        guard let (field, wireType) = reader.tag(), field == 1, wireType == 2, reader.lengthDelimited() != nil else { return false }
        return reader.isAtEnd
    }

    /// The event id's bytes inside `StoredEvent` bytes written by ``encode(_:)`` (empty when the id
    /// is empty); nil for other layouts.
    static func eventID(in bytes: [UInt8]) -> ArraySlice<UInt8>? {
        var reader = Reader(bytes: bytes[...])
        guard let (field, wireType) = reader.tag(), field == 1, wireType == 2, let body = reader.lengthDelimited() else { return nil }
        var inner = Reader(bytes: body)
        guard let (innerField, innerType) = inner.tag() else { return body[body.startIndex..<body.startIndex] }
        guard innerField == 1, innerType == 2 else { return body[body.startIndex..<body.startIndex] }
        return inner.lengthDelimited()
    }

    /// `members` (oldest first) with each event id once: an id stored twice with different
    /// content (a client that reused an id, which the API forbids) shows with its newest copy.
    /// Identical copies never reach here: they are one member.
    static func withoutRepeatedIDs(_ members: [[UInt8]]) -> [[UInt8]] {
        guard members.count > 1 else { return members }
        var seen = Set<IDBytes>(minimumCapacity: members.count)
        var repeated = false
        for member in members {
            if let id = eventID(in: member), !id.isEmpty, !seen.insert(IDBytes(bytes: id)).inserted { repeated = true; break }
        }
        guard repeated else { return members }
        seen.removeAll(keepingCapacity: true)
        var kept: [[UInt8]] = []
        for member in members.reversed() {
            if let id = eventID(in: member), !id.isEmpty, !seen.insert(IDBytes(bytes: id)).inserted { continue }
            kept.append(member)
        }
        return kept.reversed()
    }

    /// An event id's bytes, hashed in one call (`ArraySlice<UInt8>` hashes byte by byte: 5% of the
    /// server's CPU while answering RecentEvents).
    private struct IDBytes: Hashable {
        var bytes: ArraySlice<UInt8>

        func hash(into hasher: inout Hasher) {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }

        static func == (a: IDBytes, b: IDBytes) -> Bool {
            a.bytes.count == b.bytes.count && a.bytes.withUnsafeBytes { x in b.bytes.withUnsafeBytes { y in x.elementsEqual(y) } }
        }
    }

    // MARK: Wire format

    private static func decodeEvent(_ bytes: ArraySlice<UInt8>, into event: inout AuditEvent) -> Bool {
        var reader = Reader(bytes: bytes)
        while !reader.isAtEnd {
            guard let (field, wireType) = reader.tag() else { return false }
            switch (field, wireType) {
            case (1...6, 2):
                guard let value = reader.lengthDelimited(), let text = String(validating: value, as: UTF8.self) else { return false }
                switch field {
                case 1: event.eventID = text
                case 2: event.tenantID = text
                case 3: event.actorID = text
                case 4: event.eventType = text
                case 5: event.resource = text
                default: event.action = text
                }
            case (7, 0):
                guard let value = reader.varint() else { return false }
                event.timestampMilliseconds = Int64(bitPattern: value)
            case (8, 2):
                guard let entry = reader.lengthDelimited() else { return false }
                var entryReader = Reader(bytes: entry)
                var key = "", value = ""
                while !entryReader.isAtEnd {
                    guard let (entryField, entryType) = entryReader.tag() else { return false }
                    if (entryField == 1 || entryField == 2), entryType == 2 {
                        guard let bytes = entryReader.lengthDelimited(), let text = String(validating: bytes, as: UTF8.self) else { return false }
                        if entryField == 1 { key = text } else { value = text }
                    } else if !entryReader.skip(entryType) {
                        return false
                    }
                }
                event.metadata[key] = value
            default:
                guard reader.skip(wireType) else { return false }
            }
        }
        return true
    }

    private static func appendString(_ field: UInt8, _ text: String, to out: inout [UInt8]) {
        let count = text.utf8.count
        guard count > 0 else { return }
        out.append(field << 3 | 2)
        appendVarint(UInt64(count), to: &out)
        out.append(contentsOf: text.utf8)
    }

    package static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
    }

    static func varintSize(_ value: Int) -> Int {
        var value = UInt64(value)
        var size = 1
        while value >= 0x80 { value >>= 7; size += 1 }
        return size
    }

    private struct Reader {
        var bytes: ArraySlice<UInt8>

        var isAtEnd: Bool { bytes.isEmpty }

        mutating func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while let byte = bytes.first {
                bytes.removeFirst()
                guard shift < 64 else { return nil }
                result |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return result }
                shift += 7
            }
            return nil
        }

        mutating func tag() -> (field: UInt64, wireType: UInt64)? {
            guard let tag = varint(), tag >> 3 > 0 else { return nil }
            return (tag >> 3, tag & 7)
        }

        mutating func lengthDelimited() -> ArraySlice<UInt8>? {
            guard let length = varint(), length <= UInt64(bytes.count) else { return nil }
            let value = bytes.prefix(Int(length))
            bytes.removeFirst(Int(length))
            return value
        }

        mutating func skip(_ wireType: UInt64) -> Bool {
            switch wireType {
            case 0: return varint() != nil
            case 1: guard bytes.count >= 8 else { return false }; bytes.removeFirst(8); return true
            case 2: return lengthDelimited() != nil
            case 5: guard bytes.count >= 4 else { return false }; bytes.removeFirst(4); return true
            default: return false
            }
        }
    }
}
