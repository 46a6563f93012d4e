import AuditEvents
import Foundation

/// The legacy intake's answer (`POST /v1/legacy/{source}`), turned into one outcome per record.
package enum LegacyAnswer {
    struct Body: Decodable {
        struct Item: Decodable {
            var index: Int
            var status: String
            var event_id: String?
            var reasons: [Reason]?
            var message: String?
        }
        var results: [Item]
    }

    struct Reason: Decodable {
        var field: String
        var rule: String
        var description: String
    }

    struct Refusal: Decodable {
        var error: String
        var reason: Reason?
    }

    /// One outcome per record sent, in order, from the HTTP status and body.
    package static func outcomes(status: Int, body: [UInt8], count: Int) -> [DeliveryOutcome] {
        if status == 200 || status == 503, let answer = try? JSONDecoder().decode(Body.self, from: Data(body)) {
            var outcomes = [DeliveryOutcome?](repeating: nil, count: count)
            for item in answer.results where (0..<count).contains(item.index) {
                switch item.status {
                case "durable":
                    if let id = item.event_id {
                        outcomes[item.index] = .durable(eventID: id)
                    } else {
                        outcomes[item.index] = .payloadRefused(status: status, reason: "a durable result without event_id")
                    }
                case "quarantined":
                    let reasons = (item.reasons ?? []).map { FieldViolation(field: $0.field, rule: $0.rule, description: $0.description) }
                    outcomes[item.index] = .quarantined(reasons)
                case "unavailable":
                    outcomes[item.index] = .unavailable(item.message ?? "unavailable")
                default:
                    outcomes[item.index] = .payloadRefused(status: status, reason: "unknown result status `\(item.status)`")
                }
            }
            let answered = answer.results.count
            return outcomes.map { $0 ?? .payloadRefused(status: status, reason: "the answer has \(answered) results for \(count) records") }
        }
        if status == 503 || status == 502 || status == 504 || status == 429 {
            return Array(repeating: .unavailable("HTTP \(status)"), count: count)
        }
        let text: String
        if let refusal = try? JSONDecoder().decode(Refusal.self, from: Data(body)) {
            text = refusal.error + (refusal.reason.map { " (\($0.rule) \($0.field): \($0.description))" } ?? "")
        } else {
            text = String(decoding: body.prefix(300), as: UTF8.self)
        }
        if status >= 500 {
            return Array(repeating: .unavailable("HTTP \(status): \(text)"), count: count)
        }
        return Array(repeating: .payloadRefused(status: status, reason: text), count: count)
    }
}

/// Reading samples out of Prometheus text exposition.
package enum PrometheusText {
    /// The largest value of metric `name` per value of its label `label` (samples without the
    /// label are left out).
    package static func maxima(named name: String, by label: String, in text: String) -> [String: Double] {
        var result: [String: Double] = [:]
        let prefix = name + "{"
        let key = label + "=\""
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix(prefix) {
            guard let close = line.lastIndex(of: "}") else { continue }
            let labels = line[line.index(line.startIndex, offsetBy: prefix.count)..<close]
            guard let range = labels.range(of: key) else { continue }
            let valueStart = range.upperBound
            guard let valueEnd = labels[valueStart...].firstIndex(of: "\"") else { continue }
            let group = String(labels[valueStart..<valueEnd])
            guard let value = line[line.index(after: close)...].split(separator: " ").first.flatMap({ Double($0) }) else { continue }
            result[group] = max(result[group] ?? value, value)
        }
        return result
    }

    /// The values of every sample of metric `name` (any labels).
    package static func samples(named name: String, in text: String) -> [Double] {
        var values: [Double] = []
        for line in text.split(whereSeparator: \.isNewline) {
            guard !line.hasPrefix("#"), line.hasPrefix(name) else { continue }
            let rest = line.dropFirst(name.count)
            guard let first = rest.first, first == " " || first == "{" else { continue }
            var valuePart = rest
            if first == "{" {
                guard let close = rest.lastIndex(of: "}") else { continue }
                valuePart = rest[rest.index(after: close)...]
            }
            let fields = valuePart.split(separator: " ")
            if let value = fields.first.flatMap({ Double($0) }) { values.append(value) }
        }
        return values
    }
}
