import AuditIntegrity
import AuditQuery
import AuditSink

extension ServerAssembly {
    /// The query role: ComplianceReport, and Verify when checkpoint keys are configured. It
    /// reads the tables a sink instance creates and writes.
    mutating func addQuery() throws {
        reports = ComplianceReportExecutor(client: try sharedClickHouse(), table: AuditEventsTable(), cursors: files.reportCursors)
        if !files.trustedCheckpointKeys.isEmpty {
            chainAuditor = ChainAuditor(store: try eventStore(), trustedKeys: TrustedKeys(files.trustedCheckpointKeys))
        }
    }
}
