/// A plain-text table: a header, a rule, rows; numbers right-aligned.
package struct TextTable: Sendable {
    package var headers: [String]
    package var rows: [[String]] = []
    /// Columns aligned right (numbers).
    package var rightAligned: Set<Int> = []

    package init(headers: [String], rightAligned: Set<Int> = []) {
        self.headers = headers
        self.rightAligned = rightAligned
    }

    package mutating func add(_ row: [String]) { rows.append(row) }

    package var rendered: String {
        let count = headers.count
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.prefix(count).enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            (0..<count).map { index in
                let cell = index < cells.count ? cells[index] : ""
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return rightAligned.contains(index) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingTrailingSpaces
        }
        var out = [line(headers), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        out += rows.map(line)
        return out.joined(separator: "\n")
    }
}

/// The texts `auditpipe-tools simulate` prints.
package enum SimulationText {
    /// The live line: `[00:23/01:00] sent 4600 (199/s)  accepted 4380  refused 95  quarantined 120  unavailable→retried 0  in flight 12  lag auditpipe-sink 0.4s, auditpipe-sink-recent 0.1s`.
    /// `lagSeconds`: each consumer group's largest `auditpipe_consumer_lag_seconds`.
    package static func progress(_ totals: ServiceCounts, elapsed: Double, duration: Double, lagSeconds: [String: Double]?) -> String {
        let rate = elapsed > 0 ? Double(totals.sent) / elapsed : 0
        let inFlight = totals.sent - totals.settled
        var parts = [
            "[\(clock(elapsed))/\(clock(duration))]",
            "sent \(totals.sent) (\(Int(rate.rounded()))/s)",
            "accepted \(totals.accepted)",
            "refused \(totals.refused)",
            "quarantined \(totals.quarantined)",
            "unavailable→retried \(totals.unavailable)",
            "in flight \(max(0, inFlight))",
        ]
        if totals.gaveUp > 0 { parts.append("gave up \(totals.gaveUp)") }
        if totals.skipped > 0 { parts.append("behind, skipped \(totals.skipped)") }
        parts.append("lag " + lag(lagSeconds))
        return parts.joined(separator: "  ")
    }

    /// The line while waiting for acknowledged events to become visible.
    package static func settling(stored: Int, acknowledged: Int, elapsed: Double, timeout: Double, lagSeconds: [String: Double]?) -> String {
        "waiting for acknowledged events to be queryable: stored \(stored) of \(acknowledged)  [\(clock(elapsed))/\(clock(timeout))]  lag " + lag(lagSeconds)
    }

    /// Each group's lag, by group name: `auditpipe-sink 0.4s, auditpipe-sink-recent 0.1s`; `n/a`
    /// when the server exports none.
    static func lag(_ seconds: [String: Double]?) -> String {
        guard let seconds, !seconds.isEmpty else { return "n/a" }
        return seconds.sorted { $0.key < $1.key }.map { "\($0.key) \(formatSeconds($0.value))" }.joined(separator: ", ")
    }

    /// Per service: transport, sent, accepted, refused, quarantined, retried, given up.
    package static func services(_ tally: SimulationTally, order: [SimulatedService]) -> String {
        var table = TextTable(headers: ["service", "via", "sent", "accepted", "refused", "quarantined", "retried", "gave up", "skipped"], rightAligned: Set(2...8))
        for service in order {
            let c = tally.services[service.name] ?? ServiceCounts()
            table.add([service.name, service.transport.label, "\(c.sent)", "\(c.accepted)", "\(c.refused)", "\(c.quarantined)", "\(c.resent)", "\(c.gaveUp)", "\(c.skipped)"])
        }
        let t = tally.totals
        table.add(["total", "", "\(t.sent)", "\(t.accepted)", "\(t.refused)", "\(t.quarantined)", "\(t.resent)", "\(t.gaveUp)", "\(t.skipped)"])
        return table.rendered
    }

    /// Counts per tenant and column (e.g. auth events by action), with a total column.
    package static func countsTable(rowTitle: String, counts: [String: [String: UInt64]], preferredColumns: [String] = []) -> String {
        let seen = Set(counts.values.flatMap(\.keys))
        let columns = preferredColumns.filter(seen.contains) + seen.subtracting(preferredColumns).sorted()
        var table = TextTable(headers: [rowTitle] + columns + ["total"], rightAligned: Set(1...(columns.count + 1)))
        for row in counts.keys.sorted() {
            let values = counts[row] ?? [:]
            table.add([row] + columns.map { String(values[$0] ?? 0) } + [String(values.values.reduce(0, +))])
        }
        return table.rendered
    }

    /// One user's recent events.
    package struct RecentRow: Sendable, Hashable {
        package var timestampMilliseconds: Int64
        package var eventType: String
        package var action: String
        package var resource: String
        package var eventID: String
        package var source: String?

        package init(timestampMilliseconds: Int64, eventType: String, action: String, resource: String, eventID: String, source: String?) {
            self.timestampMilliseconds = timestampMilliseconds
            self.eventType = eventType
            self.action = action
            self.resource = resource
            self.eventID = eventID
            self.source = source
        }
    }

    package static func recent(_ rows: [RecentRow]) -> String {
        var table = TextTable(headers: ["time (UTC)", "type", "action", "resource", "source", "event id"])
        for row in rows {
            table.add([CivilTime.iso8601UTC(row.timestampMilliseconds), row.eventType, row.action, String(row.resource.prefix(40)), row.source ?? "grpc", String(row.eventID.prefix(60))])
        }
        return table.rendered
    }

    /// Per legacy source: records sent, accepted, quarantined, and the top reasons.
    package static func quarantine(_ tally: SimulationTally, sources: [SimulatedService]) -> String {
        var table = TextTable(headers: ["source", "sent", "accepted", "quarantined", "top reasons (rule field ×count)"], rightAligned: [1, 2, 3])
        for service in sources {
            let c = tally.services[service.name] ?? ServiceCounts()
            let top = tally.topReasons(service: service.name).map { "\($0.reason) ×\($0.count)" }.joined(separator: ", ")
            table.add([service.name, "\(c.sent)", "\(c.accepted)", "\(c.quarantined)", top.isEmpty ? "-" : top])
        }
        return table.rendered
    }

    /// Per gRPC service: refusals and their top rules.
    package static func refusals(_ tally: SimulationTally, services: [SimulatedService]) -> String {
        var table = TextTable(headers: ["service", "sent", "accepted", "refused", "top reasons (rule field ×count)"], rightAligned: [1, 2, 3])
        for service in services {
            let c = tally.services[service.name] ?? ServiceCounts()
            let top = tally.topReasons(service: service.name).map { "\($0.reason) ×\($0.count)" }.joined(separator: ", ")
            table.add([service.name, "\(c.sent)", "\(c.accepted)", "\(c.refused)", top.isEmpty ? "-" : top])
        }
        return table.rendered
    }

    /// Acknowledged against stored, per tenant.
    package static func verdict(_ deliveries: [TenantDelivery]) -> String {
        var table = TextTable(headers: ["tenant", "acknowledged", "stored", "missing", "duplicated", "unexpected", "in doubt", "check"], rightAligned: Set(1...6))
        for d in deliveries {
            table.add([d.tenant, "\(d.acknowledged)", "\(d.stored)", "\(d.missing)", "\(d.duplicated)", "\(d.unexpected)", "\(d.inDoubt)", (d.exact ? "by id" : "by count") + (d.isClean ? " ok" : " FAIL")])
        }
        return table.rendered
    }

    /// `01:05`
    package static func clock(_ seconds: Double) -> String {
        let s = max(0, Int(seconds.rounded(.down)))
        return s >= 3600 ? "\(s / 3600):\(CivilTime.pad(s / 60 % 60, 2)):\(CivilTime.pad(s % 60, 2))" : "\(CivilTime.pad(s / 60, 2)):\(CivilTime.pad(s % 60, 2))"
    }

    static func formatSeconds(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))s"
    }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var copy = self
        while copy.hasSuffix(" ") { copy.removeLast() }
        return copy
    }
}
