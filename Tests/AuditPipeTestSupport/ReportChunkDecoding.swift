package import AuditPipeProto
package import AuditQuery
import NIOCore
import SwiftProtobuf

extension ReportChunk {
    /// The chunk as a receiver decodes it (the executor hands out encoded bytes).
    package func decoded() throws -> Auditpipe_V1_ComplianceReportChunk {
        try Auditpipe_V1_ComplianceReportChunk(serializedBytes: Array(bytes.readableBytesView))
    }
}
