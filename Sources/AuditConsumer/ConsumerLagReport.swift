import Foundation

/// The consumer lag of every group and partition a server exports, read back from its
/// `/metrics` text (what `auditpipe lag` prints).
package struct ConsumerLagReport: Sendable, Hashable, Codable {
    /// One partition of one consumer group.
    package struct Row: Sendable, Hashable, Codable {
        /// The consumer group.
        package var group: String
        /// The topic.
        package var topic: String
        /// The partition.
        package var partition: Int32
        /// Records between the committed offset and the high watermark (nil: not measured yet).
        package var lagRecords: Int64?
        /// Lag in seconds (see ``PartitionLagTracker``).
        package var lagSeconds: Double?
        /// The Kafka timestamp of the last committed record, Unix seconds (nil: nothing committed
        /// by this server yet).
        package var lastCommittedTimestamp: Double?

        package init(group: String, topic: String, partition: Int32, lagRecords: Int64? = nil, lagSeconds: Double? = nil, lastCommittedTimestamp: Double? = nil) {
            self.group = group
            self.topic = topic
            self.partition = partition
            self.lagRecords = lagRecords
            self.lagSeconds = lagSeconds
            self.lastCommittedTimestamp = lastCommittedTimestamp
        }
    }

    /// The rows, ordered by group, topic and partition.
    package var rows: [Row]

    package init(rows: [Row]) {
        self.rows = rows.sorted { ($0.group, $0.topic, $0.partition) < ($1.group, $1.topic, $1.partition) }
    }

    /// Reads the lag series out of Prometheus text exposition format. Other series are ignored;
    /// samples of the lag metrics without `group`, `topic` and a numeric `partition` label are
    /// skipped.
    package init(prometheusText text: String) {
        struct Key: Hashable {
            var group: String
            var topic: String
            var partition: Int32
        }
        var rows: [Key: Row] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard !line.hasPrefix("#"), let sample = PrometheusSample(line: Substring(line)) else { continue }
            let field: WritableKeyPath<Row, Double?>?
            switch sample.name {
            case ConsumerLagGauges.secondsLabel: field = \.lagSeconds
            case ConsumerLagGauges.lastCommittedLabel: field = \.lastCommittedTimestamp
            case ConsumerLagGauges.recordsLabel: field = nil
            default: continue
            }
            guard let group = sample.labels["group"], let topic = sample.labels["topic"],
                let partition = sample.labels["partition"].flatMap({ Int32($0) })
            else { continue }
            let key = Key(group: group, topic: topic, partition: partition)
            var row = rows[key] ?? Row(group: group, topic: topic, partition: partition)
            if let field { row[keyPath: field] = sample.value } else if sample.value.isFinite { row.lagRecords = Int64(sample.value) }
            rows[key] = row
        }
        self.init(rows: Array(rows.values))
    }

    /// An aligned table, one line per group and partition; `now` (Unix seconds) dates the
    /// "last committed" column.
    package func renderTable(now: Double) -> String {
        let header = ["GROUP", "TOPIC", "PARTITION", "LAG RECORDS", "LAG SECONDS", "LAST COMMITTED"]
        let lines = rows.map { row -> [String] in
            [
                row.group, row.topic, String(row.partition),
                row.lagRecords.map(String.init) ?? "-",
                row.lagSeconds.map { String(format: "%.1f", $0) } ?? "-",
                row.lastCommittedTimestamp.map { Self.age(now - $0) + " ago" } ?? "-",
            ]
        }
        var widths = header.map(\.count)
        for line in lines { for (i, cell) in line.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func format(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                // Text columns left-aligned, numbers right-aligned.
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i < 2 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        return ([format(header)] + lines.map(format)).joined(separator: "\n")
    }

    /// The report as JSON (sorted keys).
    package func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return (try? encoder.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    /// `0.4s`, `12s`, `3m05s`, `2h10m`.
    package static func age(_ seconds: Double) -> String {
        let seconds = max(0, seconds)
        if seconds < 10 { return String(format: "%.1fs", seconds) }
        let whole = Int(seconds.rounded())
        if whole < 60 { return "\(whole)s" }
        if whole < 3600 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
        return String(format: "%dh%02dm", whole / 3600, (whole % 3600) / 60)
    }
}

/// One sample line of the Prometheus text format: `name{label="value",...} value [timestamp]`.
package struct PrometheusSample {
    package var name: String
    package var labels: [String: String]
    package var value: Double

    init?(line: Substring) {
        var rest = line.drop { $0 == " " }
        let nameEnd = rest.firstIndex { $0 == "{" || $0 == " " } ?? rest.endIndex
        name = String(rest[..<nameEnd])
        guard !name.isEmpty else { return nil }
        rest = rest[nameEnd...]
        labels = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while true {
                rest = rest.drop { $0 == " " || $0 == "," }
                if rest.first == "}" { rest = rest.dropFirst(); break }
                guard let equals = rest.firstIndex(of: "=") else { return nil }
                let label = String(rest[..<equals]).trimmingCharacters(in: .whitespaces)
                rest = rest[rest.index(after: equals)...]
                guard rest.first == "\"" else { return nil }
                rest = rest.dropFirst()
                var value = ""
                var escaped = false
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if escaped {
                        value.append(character == "n" ? "\n" : character)
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { return nil }
                labels[label] = value
            }
        }
        let fields = rest.split(separator: " ", omittingEmptySubsequences: true)
        guard let first = fields.first else { return nil }
        switch first {
        case "NaN": value = .nan
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        default:
            guard let number = Double(first) else { return nil }
            value = number
        }
    }
}
