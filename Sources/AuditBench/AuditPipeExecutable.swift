import Foundation

/// The `auditpipe` executable the benchmarks start servers and report commands from:
/// `$AUDITPIPE_BIN` when set, else the one beside this tool (both are products of one build).
package enum AuditPipeExecutable {
    package static var path: String {
        if let path = ProcessInfo.processInfo.environment["AUDITPIPE_BIN"], !path.isEmpty { return path }
        let tool = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: tool).deletingLastPathComponent().appendingPathComponent("auditpipe").path
    }
}
