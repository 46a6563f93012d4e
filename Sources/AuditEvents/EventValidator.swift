/// The field rules every event must meet before it is encoded (the schema check follows).
///
/// Limits are in UTF-8 bytes. They keep one careless or hostile caller from storing values that
/// break reports or blow up memory: ids and names are short, nothing contains control characters
/// (they break CSV exports and terminals), ids and names are neither blank nor carry invisible
/// format characters (they let one id pass for another), timestamps are plausible.
public struct EventValidator: Sendable {
    public struct Limits: Sendable, Hashable {
        public var maxIDBytes = 128
        public var maxActorBytes = 256
        public var maxResourceBytes = 1024
        public var maxMetadataEntries = 64
        public var maxMetadataKeyBytes = 128
        public var maxMetadataValueBytes = 4096
        /// How far in the future a timestamp may be (clock skew), in milliseconds. Default 24 h.
        public var maxFutureSkewMilliseconds: Int64 = 24 * 3600 * 1000
        /// The earliest accepted timestamp, in milliseconds since the epoch. Default 2000-01-01.
        public var minTimestampMilliseconds: Int64 = 946_684_800_000
        /// The largest encoded (Avro) event, in bytes. Default 64 KiB.
        public var maxEncodedBytes = 64 * 1024
        public init() {}
    }

    public var limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Every broken rule of `event`, empty when it is valid. `nowMilliseconds` is the current time.
    public func violations(of event: AuditEvent, nowMilliseconds: Int64) -> [FieldViolation] {
        var found: [FieldViolation] = []
        func text(_ field: String, _ value: String, max: Int, required: Bool = true) {
            let bytes = value.utf8.count
            if bytes == 0 {
                if required {
                    found.append(.init(field: field, rule: "required", description: "\(field) is required and must not be empty"))
                }
                return
            }
            if bytes > max {
                found.append(.init(field: field, rule: "max_length", description: "\(field) is \(bytes) bytes long; the limit is \(max) bytes"))
            }
            if Self.containsControlCharacter(value) {
                found.append(.init(field: field, rule: "control_characters", description: "\(field) contains control characters (such as newlines or NUL); remove them"))
            }
            found += Self.identifierViolations(field: field, value)
        }
        text("event_id", event.eventID, max: limits.maxIDBytes)
        text("tenant_id", event.tenantID, max: limits.maxIDBytes)
        text("actor_id", event.actorID, max: limits.maxActorBytes)
        text("event_type", event.eventType, max: limits.maxIDBytes)
        text("resource", event.resource, max: limits.maxResourceBytes)
        text("action", event.action, max: limits.maxIDBytes)

        if event.timestampMilliseconds < limits.minTimestampMilliseconds {
            found.append(.init(field: "timestamp_ms", rule: "too_old", description: "timestamp_ms \(event.timestampMilliseconds) is before \(limits.minTimestampMilliseconds) (2000-01-01 by default); send milliseconds since the Unix epoch, not seconds"))
        } else if event.timestampMilliseconds > nowMilliseconds + limits.maxFutureSkewMilliseconds {
            found.append(.init(field: "timestamp_ms", rule: "not_in_future", description: "timestamp_ms \(event.timestampMilliseconds) is more than \(limits.maxFutureSkewMilliseconds / 3_600_000) h in the future; send milliseconds, not microseconds, and check the sender's clock"))
        }

        if event.metadata.count > limits.maxMetadataEntries {
            found.append(.init(field: "metadata", rule: "max_entries", description: "metadata has \(event.metadata.count) entries; the limit is \(limits.maxMetadataEntries)"))
        }
        // Each entry is checked once, in whatever order; the entries that break a rule are
        // reported sorted by key, so the errors come in a stable order.
        var brokenEntries: [(key: String, violations: [FieldViolation])] = []
        for (key, value) in event.metadata {
            var violations: [FieldViolation] = []
            func field() -> String { "metadata[\"\(key.prefix(64))\"]" }
            if key.isEmpty {
                violations.append(.init(field: "metadata", rule: "required", description: "metadata keys must not be empty"))
            } else if key.utf8.count > limits.maxMetadataKeyBytes {
                violations.append(.init(field: field(), rule: "max_length", description: "metadata key is \(key.utf8.count) bytes long; the limit is \(limits.maxMetadataKeyBytes) bytes"))
            }
            if value.utf8.count > limits.maxMetadataValueBytes {
                violations.append(.init(field: field(), rule: "max_length", description: "metadata value is \(value.utf8.count) bytes long; the limit is \(limits.maxMetadataValueBytes) bytes"))
            }
            if Self.containsControlCharacter(key) {
                violations.append(.init(field: field(), rule: "control_characters", description: "metadata key contains control characters; remove them"))
            }
            if !key.isEmpty { violations += Self.identifierViolations(field: field(), key) }
            if !violations.isEmpty { brokenEntries.append((key, violations)) }
        }
        for entry in brokenEntries.sorted(by: { $0.key < $1.key }) { found += entry.violations }
        return found
    }

    /// The rules for a non-empty id or name: not only whitespace (`blank`), and no character of
    /// Unicode's general category Cf (`format_characters`: bidirectional controls such as
    /// U+202E, zero-width characters such as U+200B, U+FEFF), which make one id display as
    /// another ("Trojan Source"). Every such character is outside ASCII, so an ASCII value costs
    /// one pass over its bytes.
    package static func identifierViolations(field: String, _ value: String) -> [FieldViolation] {
        var ascii = true
        var blank = true
        for byte in value.utf8 {
            if byte >= 0x80 { ascii = false; break }
            if byte != 0x20 && !(0x09...0x0D).contains(byte) { blank = false }
        }
        if ascii {
            return blank ? [blankViolation(field)] : []
        }
        var found: [FieldViolation] = []
        var formatCharacter: Unicode.Scalar? = nil
        blank = true
        for scalar in value.unicodeScalars {
            if !scalar.properties.isWhitespace { blank = false }
            if formatCharacter == nil, scalar.properties.generalCategory == .format { formatCharacter = scalar }
        }
        if blank { found.append(blankViolation(field)) }
        if let formatCharacter {
            let code = "U+" + String(formatCharacter.value, radix: 16, uppercase: true).leftPadded(to: 4)
            found.append(.init(
                field: field, rule: "format_characters",
                description: "\(field) contains the invisible format character \(code) (Unicode category Cf: bidirectional or zero-width controls); ids and names must not, so that they display as what they are"
            ))
        }
        return found
    }

    private static func blankViolation(_ field: String) -> FieldViolation {
        .init(field: field, rule: "blank", description: "\(field) is only whitespace; send a real value")
    }

    /// Whether `text` has a character of Unicode's general category Cc (control): U+0000-U+001F
    /// and U+007F-U+009F. Checked on the UTF-8 bytes: the first range and U+007F are single bytes,
    /// the second range is 0xC2 followed by 0x80-0x9F (0xC2 is never a continuation byte).
    /// The per-scalar `generalCategory` lookup it replaces was 3-4% of the server's CPU.
    package static func containsControlCharacter(_ text: String) -> Bool {
        var previous: UInt8 = 0
        for byte in text.utf8 {
            if byte < 0x20 || byte == 0x7F || (previous == 0xC2 && byte <= 0x9F && byte >= 0x80) { return true }
            previous = byte
        }
        return false
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
