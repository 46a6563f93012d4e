import AvroCodec

/// One benchmark figure: our value, the peer (or ceiling) it is compared with, and the target.
///
/// Every `auditpipe-tools bench` subcommand prints one JSON line per figure on stdout (`jsonLine`) and a
/// human table on stderr (`BenchResult.table`):
///
/// ```json
/// {"benchmark":"ingest","figure":"ack_latency_p99","value":3.1,"unit":"ms","peer":"confluent-python",
///  "peer_value":7.9,"ratio":0.39,"target":"< 10 ms","met":true,"notes":"..."}
/// ```
package struct BenchResult: Sendable, Equatable {
    /// The benchmark, e.g. `ingest`, `legacy`, `sink`.
    package var benchmark: String
    /// The figure within it, e.g. `throughput`, `ack_latency_p99`.
    package var figure: String
    /// Our measured value.
    package var value: Double
    /// Its unit, e.g. `events/s`, `ms`.
    package var unit: String
    /// What the value is compared with (`confluent-python`, `librdkafka-raw`, ...); `nil` for none.
    package var peer: String?
    /// The peer's value for the same figure in the same run.
    package var peerValue: Double?
    /// `value / peerValue` (`nil` without a peer or when the peer's value is 0).
    package var ratio: Double?
    /// The target in words, e.g. `< 10 ms` or `>= 2x peer`; `nil` when the figure is informative.
    package var target: String?
    /// Whether the target is met; `nil` when there is no target or it could not be judged.
    package var met: Bool?
    /// Anything a reader needs to interpret the value (rate, duration, errors seen).
    package var notes: String

    /// A figure; `ratio` is computed from `value` and `peerValue`.
    package init(
        benchmark: String, figure: String, value: Double, unit: String,
        peer: String? = nil, peerValue: Double? = nil,
        target: String? = nil, met: Bool? = nil, notes: String = ""
    ) {
        self.benchmark = benchmark
        self.figure = figure
        self.value = value
        self.unit = unit
        self.peer = peer
        self.peerValue = peerValue
        self.ratio = peerValue.flatMap { $0 == 0 || !$0.isFinite || !value.isFinite ? nil : value / $0 }
        self.target = target
        self.met = met
        self.notes = notes
    }

    /// The figure as one JSON object on one line, keys in the documented order; absent values are `null`.
    package var jsonLine: String {
        var fields: [String] = []
        fields.append("\"benchmark\":\(JSONText.string(benchmark))")
        fields.append("\"figure\":\(JSONText.string(figure))")
        fields.append("\"value\":\(JSONText.number(value))")
        fields.append("\"unit\":\(JSONText.string(unit))")
        fields.append("\"peer\":\(peer.map(JSONText.string) ?? "null")")
        fields.append("\"peer_value\":\(peerValue.map(JSONText.number) ?? "null")")
        fields.append("\"ratio\":\(ratio.map(JSONText.number) ?? "null")")
        fields.append("\"target\":\(target.map(JSONText.string) ?? "null")")
        fields.append("\"met\":\(met.map { $0 ? "true" : "false" } ?? "null")")
        fields.append("\"notes\":\(JSONText.string(notes))")
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// A fixed-width table of `results` for a terminal (stderr).
    package static func table(_ results: [BenchResult]) -> String {
        let header = ["benchmark", "figure", "value", "unit", "peer", "peer value", "ratio", "target", "met"]
        let rows = results.map { result in
            [
                result.benchmark, result.figure, BenchFormat.value(result.value), result.unit,
                result.peer ?? "-", result.peerValue.map(BenchFormat.value) ?? "-",
                result.ratio.map { BenchFormat.value($0) + "x" } ?? "-", result.target ?? "-",
                result.met.map { $0 ? "yes" : "NO" } ?? "-",
            ]
        }
        var widths = header.map(\.count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
        var lines = [line(header), line(widths.map { String(repeating: "-", count: $0) })]
        lines += rows.map(line)
        let notes = results.filter { !$0.notes.isEmpty }.map { "  \($0.benchmark)/\($0.figure): \($0.notes)" }
        if !notes.isEmpty { lines += ["notes:"] + notes }
        return lines.joined(separator: "\n")
    }

    /// A GitHub-flavoured markdown table of `results` (for the benchmark page in the repository).
    package static func markdownTable(_ results: [BenchResult]) -> String {
        func cell(_ text: String) -> String { text.replacingPipes() }
        var lines = [
            "| benchmark | figure | value | unit | peer | peer value | ratio | target | met | notes |",
            "|---|---|---:|---|---|---:|---:|---|---|---|",
        ]
        for result in results {
            let cells = [
                result.benchmark, result.figure, BenchFormat.value(result.value), result.unit,
                result.peer ?? "", result.peerValue.map(BenchFormat.value) ?? "",
                result.ratio.map { BenchFormat.value($0) + "x" } ?? "", result.target ?? "",
                result.met.map { $0 ? "yes" : "**no**" } ?? "", result.notes,
            ]
            lines.append("| " + cells.map(cell).joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }
}

/// A benchmark that cannot run, with what to do about it.
package struct BenchError: Error, Sendable, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// Number formatting shared by the tables and the JSON lines.
package enum BenchFormat {
    /// `value` rounded for humans: 3 significant decimals below 10, 2 below 1000, none above.
    package static func value(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        let magnitude = abs(value)
        let decimals = magnitude >= 1000 ? 0 : magnitude >= 10 ? 2 : 3
        return fixed(value, decimals: decimals)
    }

    /// `value` with exactly `decimals` digits after the point (no Foundation).
    package static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return self.value(value) }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard scaled < 9.0e18 else { return sign + String(abs(value)) }
        let integer = UInt64(scaled)
        let whole = integer / UInt64(scale)
        guard decimals > 0 else { return sign + String(whole) }
        let fraction = String(integer % UInt64(scale))
        return sign + String(whole) + "." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }
}

/// Minimal JSON text for the result lines (keys in a fixed order, which an encoder does not promise).
package enum JSONText {
    /// `text` as a JSON string literal.
    package static func string(_ text: String) -> String {
        var out = ""
        JSONWriter.appendString(text, to: &out)
        return out
    }

    /// `value` as a JSON number rounded to 3 decimals (`null` when not finite: JSON has no NaN).
    package static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        let rounded = (value * 1000).rounded() / 1000
        if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(Int64(rounded)) }
        return BenchFormat.fixed(rounded, decimals: 3).trimmingTrailingZeros()
    }
}

extension String {
    fileprivate func replacingPipes() -> String {
        var out = ""
        for character in self { out += character == "|" ? "\\|" : character == "\n" ? " " : String(character) }
        return out
    }

    fileprivate func trimmingTrailingZeros() -> String {
        guard contains(".") else { return self }
        var text = self
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
