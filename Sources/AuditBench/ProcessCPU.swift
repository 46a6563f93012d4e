import Foundation
import Glibc

/// CPU time of a process from /proc.
package enum ProcessCPU {
    /// utime + stime of `pid` in seconds, or nil when it cannot be read.
    package static func seconds(of pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        return parseStat(text)
    }

    /// utime + stime (fields 14 and 15, in clock ticks) of a /proc/PID/stat line, in seconds.
    package static func parseStat(_ text: String) -> Double? {
        // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): utime is field 14, stime field 15.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
