package import AuditEvents
import AvroCodec

/// Which intake received a legacy event.
package enum LegacyIntakeKind: String, Sendable, Hashable {
    case http
    case kafka
}

/// A record for the quarantine topic (`auditpipe.quarantine`), ready to produce with acks=all.
package struct LegacyQuarantineRecord: Sendable {
    /// The source name: a source's quarantined events stay in order in one partition.
    package var key: [UInt8]
    /// The original bytes exactly as received (the event, or the whole payload when the payload
    /// itself was refused).
    package var value: [UInt8]
    /// See `LegacyQuarantineEntry.Header`.
    package var headers: [(String, [UInt8])]
}

/// One quarantined legacy event: its original bytes and why it was refused. Converts to and
/// from the quarantine topic's record format.
///
/// Record format (version 1): key = source name; value = original bytes; headers
/// `auditpipe-quarantine-version` (`1`), `auditpipe-source`, `auditpipe-stage`
/// (`parse`/`map`/`validate`/`ingest`), `auditpipe-reasons` (JSON array of
/// `{"field","rule","description"}`), `auditpipe-intake` (`http`/`kafka`),
/// `auditpipe-quarantined-at` (RFC 3339 UTC, milliseconds), and when known
/// `auditpipe-item-index` (the event's index in its payload) and, for the Kafka bridge,
/// `auditpipe-origin-topic`, `auditpipe-origin-partition`, `auditpipe-origin-offset`.
package struct LegacyQuarantineEntry: Sendable, Hashable {
    /// Header names of the record format.
    package enum Header {
        package static let version = "auditpipe-quarantine-version"
        package static let source = "auditpipe-source"
        package static let stage = "auditpipe-stage"
        package static let reasons = "auditpipe-reasons"
        package static let intake = "auditpipe-intake"
        package static let quarantinedAt = "auditpipe-quarantined-at"
        package static let itemIndex = "auditpipe-item-index"
        package static let originTopic = "auditpipe-origin-topic"
        package static let originPartition = "auditpipe-origin-partition"
        package static let originOffset = "auditpipe-origin-offset"
    }

    package var source: String
    package var stage: LegacyStage
    package var reasons: [FieldViolation]
    package var originalBytes: [UInt8]
    package var intake: LegacyIntakeKind
    /// Where the Kafka bridge read the record; nil for HTTP.
    package var origin: LegacySourcePosition?
    /// The event's index in its payload; nil when the whole payload was refused.
    package var itemIndex: Int?
    /// When it was quarantined, ms since the epoch.
    package var quarantinedAtMilliseconds: Int64

    package init(
        source: String, stage: LegacyStage, reasons: [FieldViolation], originalBytes: [UInt8],
        intake: LegacyIntakeKind, origin: LegacySourcePosition? = nil, itemIndex: Int? = nil,
        quarantinedAtMilliseconds: Int64
    ) {
        self.source = source
        self.stage = stage
        self.reasons = reasons
        self.originalBytes = originalBytes
        self.intake = intake
        self.origin = origin
        self.itemIndex = itemIndex
        self.quarantinedAtMilliseconds = quarantinedAtMilliseconds
    }

    /// The Kafka record.
    package var record: LegacyQuarantineRecord {
        var headers: [(String, [UInt8])] = [
            (Header.version, Array("1".utf8)),
            (Header.source, Array(source.utf8)),
            (Header.stage, Array(stage.rawValue.utf8)),
            (Header.reasons, Array(Self.reasonsJSON(reasons).utf8)),
            (Header.intake, Array(intake.rawValue.utf8)),
            (Header.quarantinedAt, Array(RFC3339.text(milliseconds: quarantinedAtMilliseconds).utf8)),
        ]
        if let itemIndex { headers.append((Header.itemIndex, Array(String(itemIndex).utf8))) }
        if let origin {
            headers.append((Header.originTopic, Array(origin.topic.utf8)))
            headers.append((Header.originPartition, Array(String(origin.partition).utf8)))
            headers.append((Header.originOffset, Array(String(origin.offset).utf8)))
        }
        return LegacyQuarantineRecord(key: Array(source.utf8), value: originalBytes, headers: headers)
    }

    /// Reads a record of the quarantine topic back (for `auditpipe legacy report` and tools).
    package init(value: [UInt8], headers: [(String, [UInt8])]) throws(LegacyQuarantineFormatError) {
        func header(_ name: String) -> String? {
            headers.last { $0.0 == name }.map { String(decoding: $0.1, as: UTF8.self) }
        }
        func required(_ name: String) throws(LegacyQuarantineFormatError) -> String {
            guard let value = header(name) else { throw LegacyQuarantineFormatError(message: "header \(name) is missing") }
            return value
        }
        guard try required(Header.version) == "1" else {
            throw LegacyQuarantineFormatError(message: "unsupported \(Header.version) \(header(Header.version) ?? ""); this AuditPipe reads version 1")
        }
        source = try required(Header.source)
        guard let stage = LegacyStage(rawValue: try required(Header.stage)) else {
            throw LegacyQuarantineFormatError(message: "unknown \(Header.stage) \(header(Header.stage) ?? "")")
        }
        self.stage = stage
        guard let intake = LegacyIntakeKind(rawValue: try required(Header.intake)) else {
            throw LegacyQuarantineFormatError(message: "unknown \(Header.intake) \(header(Header.intake) ?? "")")
        }
        self.intake = intake
        reasons = try Self.parseReasons(try required(Header.reasons))
        let at = try required(Header.quarantinedAt)
        guard case .success(let ms) = LegacyTimestamp.parseISO8601(at, assumeOffsetSeconds: 0) else {
            throw LegacyQuarantineFormatError(message: "\(Header.quarantinedAt) `\(at)` is not an RFC 3339 time")
        }
        quarantinedAtMilliseconds = ms
        itemIndex = header(Header.itemIndex).flatMap { Int($0) }
        if let topic = header(Header.originTopic), let partition = header(Header.originPartition).flatMap({ Int32($0) }),
            let offset = header(Header.originOffset).flatMap({ Int64($0) })
        {
            origin = LegacySourcePosition(topic: topic, partition: partition, offset: offset)
        } else {
            origin = nil
        }
        originalBytes = value
    }

    /// `[{"field":…,"rule":…,"description":…}, …]`, compact, keys in that order.
    package static func reasonsJSON(_ reasons: [FieldViolation]) -> String {
        var out = "["
        for (i, reason) in reasons.enumerated() {
            if i > 0 { out += "," }
            out += "{\"field\":" + LegacyJSONWriter.string(reason.field)
            out += ",\"rule\":" + LegacyJSONWriter.string(reason.rule)
            out += ",\"description\":" + LegacyJSONWriter.string(reason.description) + "}"
        }
        return out + "]"
    }

    static func parseReasons(_ text: String) throws(LegacyQuarantineFormatError) -> [FieldViolation] {
        guard case .success(.array(let items)) = LegacyJSONParser.parseDocument(Array(text.utf8)[...], maxDepth: 4) else {
            throw LegacyQuarantineFormatError(message: "\(Header.reasons) is not a JSON array")
        }
        var reasons: [FieldViolation] = []
        for item in items {
            guard case .object(let object) = item, case .string(let field)? = object["field"], case .string(let rule)? = object["rule"],
                case .string(let description)? = object["description"]
            else { throw LegacyQuarantineFormatError(message: "\(Header.reasons) has an entry without field, rule and description strings") }
            reasons.append(FieldViolation(field: field, rule: rule, description: description))
        }
        return reasons
    }
}

/// A quarantine record that does not follow the format.
package struct LegacyQuarantineFormatError: Error, Sendable, Hashable, CustomStringConvertible {
    package var message: String
    package var description: String { "not an AuditPipe quarantine record: \(message)" }
}

/// Conformance per source: how many events were accepted and quarantined, and which fields and
/// rules fail most. A pure value: the intake updates one, `auditpipe legacy report` renders it.
package struct LegacyConformanceTally: Sendable, Hashable {
    /// One source's counts.
    package struct SourceTally: Sendable, Hashable {
        package var accepted = 0
        package var quarantined = 0
        /// Quarantined events per failing field (an event counts once per field).
        package var failingFields: [String: Int] = [:]
        /// Quarantined events per failing rule (an event counts once per rule).
        package var failingRules: [String: Int] = [:]

        package init() {}

        /// accepted / (accepted + quarantined), or nil before the first event.
        package var conformance: Double? {
            accepted + quarantined == 0 ? nil : Double(accepted) / Double(accepted + quarantined)
        }
    }

    package private(set) var sources: [String: SourceTally] = [:]

    package init() {}

    /// Counts accepted events.
    package mutating func recordAccepted(source: String, count: Int = 1) {
        sources[source, default: SourceTally()].accepted += count
    }

    /// Counts one quarantined event and its reasons. Metadata keys are folded into
    /// `metadata[…]` so that producers' key names cannot grow the tally without bound.
    package mutating func recordQuarantined(source: String, reasons: [FieldViolation]) {
        var tally = sources[source, default: SourceTally()]
        tally.quarantined += 1
        for field in Set(reasons.map { Self.foldedField($0.field) }) { tally.failingFields[field, default: 0] += 1 }
        for rule in Set(reasons.map(\.rule)) { tally.failingRules[rule, default: 0] += 1 }
        sources[source] = tally
    }

    /// Counts a quarantine record read back from the topic.
    package mutating func record(_ entry: LegacyQuarantineEntry) {
        recordQuarantined(source: entry.source, reasons: entry.reasons)
    }

    /// `metadata["ip"]` → `metadata[…]`; other fields unchanged.
    package static func foldedField(_ field: String) -> String {
        field.hasPrefix("metadata[") ? "metadata[…]" : field
    }

    /// A plain-text table, sources by name, top failing fields and rules by count (ties by name).
    package func render(top: Int = 5) -> String {
        guard !sources.isEmpty else { return "no legacy events recorded yet\n" }
        let names = sources.keys.sorted(by: utf8Less)
        let width = max(6, names.map(\.count).max() ?? 0)
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? fill + s : s + fill
        }
        func ranked(_ counts: [String: Int]) -> String {
            counts.sorted { $0.value != $1.value ? $0.value > $1.value : utf8Less($0.key, $1.key) }
                .prefix(top).map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
        }
        var out = "\(pad("source", width))  \(pad("accepted", 10, left: true))  \(pad("quarantined", 11, left: true))  \(pad("conformance", 11, left: true))\n"
        for name in names {
            let tally = sources[name]!
            let percent = tally.conformance.map { String(Double(Int(($0 * 1000).rounded())) / 10) + "%" } ?? "-"
            out += "\(pad(name, width))  \(pad(String(tally.accepted), 10, left: true))  \(pad(String(tally.quarantined), 11, left: true))  \(pad(percent, 11, left: true))\n"
            if tally.quarantined > 0 {
                out += "  top failing fields: \(ranked(tally.failingFields))\n"
                out += "  top failing rules:  \(ranked(tally.failingRules))\n"
            }
        }
        return out
    }
}
