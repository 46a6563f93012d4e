package import AuditEvents
import AvroCodec

/// The text `auditpipe legacy test` prints, which is also the format of the corpus golden files:
/// one JSON line per event, deterministic (fixed key order, metadata keys sorted by UTF-8 bytes).
///
/// - accepted: `{"index":0,"event":{"event_id":…,"tenant_id":…,"actor_id":…,"event_type":…,"resource":…,"action":…,"timestamp_ms":…,"timestamp":"…Z","metadata":{…}}}`
/// - refused:  `{"index":1,"line":2,"rejected":{"stage":"map","reasons":[{"field":…,"rule":…,"description":…}]}}`
/// - payload refused as a whole: `{"payload_rejected":[{"field":"payload",…}]}`
package enum LegacyOutput {
    /// The canonical event as JSON (`timestamp` is the RFC 3339 rendering of `timestamp_ms`,
    /// for people reading it).
    package static func eventJSON(_ event: AuditEvent) -> String {
        var out = "{"
        out += "\"event_id\":" + LegacyJSONWriter.string(event.eventID)
        out += ",\"tenant_id\":" + LegacyJSONWriter.string(event.tenantID)
        out += ",\"actor_id\":" + LegacyJSONWriter.string(event.actorID)
        out += ",\"event_type\":" + LegacyJSONWriter.string(event.eventType)
        out += ",\"resource\":" + LegacyJSONWriter.string(event.resource)
        out += ",\"action\":" + LegacyJSONWriter.string(event.action)
        out += ",\"timestamp_ms\":\(event.timestampMilliseconds)"
        out += ",\"timestamp\":" + LegacyJSONWriter.string(RFC3339.text(milliseconds: event.timestampMilliseconds))
        out += ",\"metadata\":{"
        for (i, key) in event.metadata.keys.sorted(by: utf8Less).enumerated() {
            if i > 0 { out += "," }
            out += LegacyJSONWriter.string(key) + ":" + LegacyJSONWriter.string(event.metadata[key]!)
        }
        return out + "}}"
    }

    /// One line for one mapped event.
    package static func line(for outcome: LegacyItemOutcome) -> String {
        var out = "{\"index\":\(outcome.index)"
        if let line = outcome.line { out += ",\"line\":\(line)" }
        switch outcome.result {
        case .success(let event):
            out += ",\"event\":" + eventJSON(event)
        case .failure(let rejection):
            out += ",\"rejected\":{\"stage\":" + LegacyJSONWriter.string(rejection.stage.rawValue)
            out += ",\"reasons\":" + LegacyQuarantineEntry.reasonsJSON(rejection.reasons) + "}"
        }
        return out + "}"
    }

    /// Every line for a mapped payload, and whether every event was accepted.
    package static func render(_ result: Result<[LegacyItemOutcome], LegacyPayloadError>) -> (text: String, allAccepted: Bool) {
        switch result {
        case .failure(let error):
            return ("{\"payload_rejected\":" + LegacyQuarantineEntry.reasonsJSON([error.reason]) + "}\n", false)
        case .success(let outcomes):
            let text = outcomes.map { line(for: $0) + "\n" }.joined()
            let allAccepted = outcomes.allSatisfy { if case .success = $0.result { true } else { false } }
            return (text, allAccepted)
        }
    }
}
