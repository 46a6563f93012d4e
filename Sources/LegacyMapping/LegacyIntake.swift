package import AuditEvents

/// Size limits of the JSON intake (HTTP bodies and Kafka records alike). Exceeding one refuses
/// the payload or the event with a reason; nothing is read beyond them.
package struct LegacyIntakeLimits: Sendable, Hashable {
    /// The largest payload (one HTTP body or Kafka record) read at all. Default 16 MiB.
    package var maxPayloadBytes = 16 << 20
    /// The largest single event (object, array element or NDJSON line). Default 1 MiB, Kafka's
    /// default record limit; the largest valid canonical event is about 280 KB.
    package var maxEventBytes = 1 << 20
    /// The most events in one payload. Default 10,000.
    package var maxEvents = 10_000
    /// The deepest JSON nesting accepted. Default 64.
    package var maxNestingDepth = 64

    package init() {}
}

/// How a payload holds its events.
package enum LegacyPayloadFormat: String, Sendable, Hashable, CaseIterable {
    /// Detect: `[` starts an array; otherwise one object, unless a complete first value is
    /// followed by more text, which makes it NDJSON.
    case auto
    /// Exactly one JSON object.
    case object
    /// A JSON array of objects.
    case array
    /// One JSON object per line (blank lines are skipped; `\r\n` is accepted).
    case ndjson
}

/// One event read from a payload, before mapping.
package struct LegacyItem: Sendable {
    /// 0-based position in the payload.
    package var index: Int
    /// 1-based line number for NDJSON, nil otherwise.
    package var line: Int?
    /// The event's own bytes, without surrounding whitespace: these go to quarantine, and
    /// `derive: content_hash` hashes them.
    package var bytes: [UInt8]
    /// The parsed JSON, or why it could not be read (stage `parse`).
    package var value: Result<LegacyJSON, LegacyRejection>
}

/// The events of a payload.
package struct LegacyPayload: Sendable {
    /// The format that was used (detected when `.auto` was asked for).
    package var format: LegacyPayloadFormat
    package var items: [LegacyItem]
}

/// A payload refused as a whole (too large, too many events, not JSON at all, a broken array).
package struct LegacyPayloadError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The reason, with field `payload`.
    package var reason: FieldViolation
    /// The payload is over a limit (HTTP 413), rather than malformed (HTTP 400).
    package var isTooLarge: Bool

    package var description: String { "\(reason.rule): \(reason.description)" }
}

extension LegacyPayload {
    /// Splits a payload into events. Per-event problems (a bad NDJSON line, invalid UTF-8 in one
    /// array element, an oversized line) reject only that event; other events are unaffected.
    package static func split(_ bytes: [UInt8], format: LegacyPayloadFormat = .auto, limits: LegacyIntakeLimits = LegacyIntakeLimits()) -> Result<LegacyPayload, LegacyPayloadError> {
        guard bytes.count <= limits.maxPayloadBytes else {
            return .failure(.init(reason: FieldViolation(field: "payload", rule: "max_size", description: "the payload is \(bytes.count) bytes; the limit is \(limits.maxPayloadBytes) bytes; send fewer events per request"), isTooLarge: true))
        }
        let body = trimmed(bytes[...])
        guard !body.isEmpty else {
            return .failure(.init(reason: FieldViolation(field: "payload", rule: "empty", description: "the payload is empty; send a JSON object, an array of objects or NDJSON"), isTooLarge: false))
        }
        var chosen = format
        if chosen == .auto {
            chosen = detect(body, limits: limits)
        }
        switch chosen {
        case .array: return splitArray(body, limits: limits)
        case .ndjson: return splitLines(body, limits: limits)
        case .object, .auto:
            return .success(LegacyPayload(format: .object, items: [item(index: 0, line: nil, body, limits: limits)]))
        }
    }

    private static func detect(_ body: ArraySlice<UInt8>, limits: LegacyIntakeLimits) -> LegacyPayloadFormat {
        var start = body.startIndex
        if body.count >= 3, body[start] == 0xEF, body[start + 1] == 0xBB, body[start + 2] == 0xBF { start += 3 }
        while start < body.endIndex, isSpace(body[start]) { start += 1 }
        if start < body.endIndex, body[start] == UInt8(ascii: "[") { return .array }
        guard let newline = body.firstIndex(of: 0x0A) else { return .object }
        // Several lines: one pretty-printed object, or NDJSON? Read the first value.
        var parser = LegacyJSONParser(bytes: body, maxDepth: limits.maxNestingDepth)
        do throws(LegacyJSONError) {
            _ = try parser.parseLeadingValue()
            parser.skipWhitespace()
            return parser.offset < body.count ? .ndjson : .object
        } catch {
            // Broken first value: NDJSON if the first line alone is a complete value.
            let firstLine = trimmed(body[body.startIndex..<newline])
            if case .success = LegacyJSONParser.parseDocument(firstLine, maxDepth: limits.maxNestingDepth) { return .ndjson }
            return .object
        }
    }

    private static func splitArray(_ body: ArraySlice<UInt8>, limits: LegacyIntakeLimits) -> Result<LegacyPayload, LegacyPayloadError> {
        var items: [LegacyItem] = []
        var tooMany = false
        do throws(LegacyJSONError) {
            try LegacyJSONParser.parseTopLevelArray(body, maxDepth: limits.maxNestingDepth) { (range, result) throws(LegacyJSONError) in
                guard items.count < limits.maxEvents else {
                    tooMany = true
                    throw LegacyJSONError(kind: .syntax, offset: range.lowerBound - body.startIndex, message: "too many events")
                }
                let raw = Array(body[range])
                let value: Result<LegacyJSON, LegacyRejection>
                if raw.count > limits.maxEventBytes {
                    value = .failure(tooLarge(raw.count, limits))
                } else {
                    value = result.mapError { rejection($0) }
                }
                items.append(LegacyItem(index: items.count, line: nil, bytes: raw, value: value))
            }
        } catch {
            if tooMany {
                return .failure(.init(reason: FieldViolation(field: "payload", rule: "max_events", description: "the array has more than \(limits.maxEvents) events; send fewer per request"), isTooLarge: true))
            }
            let rule = error.kind == .maxDepth ? "max_depth" : "syntax"
            return .failure(.init(reason: FieldViolation(field: "payload", rule: rule, description: "the payload is not a valid JSON array (byte \(error.offset)): \(error.message); no event of it was read"), isTooLarge: false))
        }
        return .success(LegacyPayload(format: .array, items: items))
    }

    private static func splitLines(_ body: ArraySlice<UInt8>, limits: LegacyIntakeLimits) -> Result<LegacyPayload, LegacyPayloadError> {
        var items: [LegacyItem] = []
        var lineNumber = 0
        var start = body.startIndex
        while start < body.endIndex {
            let end = body[start...].firstIndex(of: 0x0A) ?? body.endIndex
            lineNumber += 1
            let line = trimmed(body[start..<end])
            start = end < body.endIndex ? end + 1 : end
            if line.isEmpty { continue }
            guard items.count < limits.maxEvents else {
                return .failure(.init(reason: FieldViolation(field: "payload", rule: "max_events", description: "the payload has more than \(limits.maxEvents) lines; send fewer per request"), isTooLarge: true))
            }
            items.append(item(index: items.count, line: lineNumber, line, limits: limits))
        }
        return .success(LegacyPayload(format: .ndjson, items: items))
    }

    private static func item(index: Int, line: Int?, _ bytes: ArraySlice<UInt8>, limits: LegacyIntakeLimits) -> LegacyItem {
        let raw = Array(bytes)
        guard raw.count <= limits.maxEventBytes else {
            return LegacyItem(index: index, line: line, bytes: raw, value: .failure(tooLarge(raw.count, limits)))
        }
        let value = LegacyJSONParser.parseDocument(bytes, maxDepth: limits.maxNestingDepth).mapError { rejection($0) }
        return LegacyItem(index: index, line: line, bytes: raw, value: value)
    }

    private static func tooLarge(_ size: Int, _ limits: LegacyIntakeLimits) -> LegacyRejection {
        LegacyRejection(stage: .parse, reasons: [FieldViolation(field: "event", rule: "max_size", description: "the event is \(size) bytes; the limit is \(limits.maxEventBytes) bytes; the producer must send less (large attachments do not belong in audit events)")])
    }

    private static func rejection(_ error: LegacyJSONError) -> LegacyRejection {
        let description: String
        switch error.kind {
        case .utf8: description = "the string at byte \(error.offset) is not valid UTF-8; JSON must be UTF-8 (check the producer's encoding, e.g. Latin-1)"
        case .maxDepth: description = "\(error.message) (at byte \(error.offset))"
        case .syntax: description = "not valid JSON at byte \(error.offset): \(error.message)"
        }
        return LegacyRejection(stage: .parse, reasons: [FieldViolation(field: "event", rule: error.kind.rawValue, description: description)])
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes.startIndex
        var e = bytes.endIndex
        while s < e, isSpace(bytes[s]) { s += 1 }
        while e > s, isSpace(bytes[e - 1]) { e -= 1 }
        return bytes[s..<e]
    }
}

/// One event of a payload after mapping.
package struct LegacyItemOutcome: Sendable {
    package var index: Int
    /// 1-based NDJSON line, nil otherwise.
    package var line: Int?
    /// The event's original bytes (for the quarantine record).
    package var bytes: [UInt8]
    /// The canonical event, ready for `IngestPipeline.ingest`, or why it was refused.
    package var result: Result<AuditEvent, LegacyRejection>
}

extension LegacyMapper {
    /// Splits `payload` and maps every event: what the HTTP intake does with a request body and
    /// the Kafka bridge with a record value. A payload refused as a whole is the failure case.
    package func mapPayload(
        _ payload: [UInt8],
        format: LegacyPayloadFormat = .auto,
        limits: LegacyIntakeLimits = LegacyIntakeLimits(),
        position: LegacySourcePosition? = nil,
        receivedAtMilliseconds: Int64,
        nowMilliseconds: Int64
    ) -> Result<[LegacyItemOutcome], LegacyPayloadError> {
        LegacyPayload.split(payload, format: format, limits: limits).map { split in
            split.items.map { item in
                let result = item.value.flatMap { value in
                    map(value, context: LegacyRecordContext(
                        rawBytes: item.bytes, position: position, itemIndex: item.index,
                        receivedAtMilliseconds: receivedAtMilliseconds, nowMilliseconds: nowMilliseconds
                    ))
                }
                return LegacyItemOutcome(index: item.index, line: item.line, bytes: item.bytes, result: result)
            }
        }
    }
}
