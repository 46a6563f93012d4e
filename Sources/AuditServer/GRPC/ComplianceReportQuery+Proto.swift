package import AuditPipeProto
package import AuditQuery

extension ComplianceReportQuery {
    /// The query a `ComplianceReport` RPC asks for.
    ///
    /// - Parameters:
    ///   - request: the RPC request.
    ///   - tenantID: the tenant to report on, as resolved against the caller's credentials
    ///     (`Principal.resolveTenant`); defaults to the request's `tenant_id`. The request
    ///     alone never decides the tenant: the handler authorizes it first.
    /// - Throws: ``ReportQueryError`` for an unknown `group_by` value. Other rules are checked
    ///   by ``validate(limits:)`` (called by ``ComplianceReportStatement``).
    package init(_ request: Auditpipe_V1_ComplianceReportRequest, tenantID: String? = nil) throws(ReportQueryError) {
        var dimensions: [ReportDimension] = []
        var violations: [ReportQueryError.Violation] = []
        for (index, value) in request.groupBy.enumerated() {
            switch value {
            case .eventType: dimensions.append(.eventType)
            case .action: dimensions.append(.action)
            case .actor: dimensions.append(.actor)
            case .day: dimensions.append(.day)
            default:
                violations.append(.init(
                    field: "group_by[\(index)]", rule: "enum",
                    description: "group_by[\(index)] is \(value.rawValue); use REPORT_GROUP_BY_EVENT_TYPE, _ACTION, _ACTOR or _DAY"
                ))
            }
        }
        if !violations.isEmpty { throw ReportQueryError(violations: violations) }
        self.init(
            tenantID: tenantID ?? request.tenantID,
            fromMilliseconds: request.fromMs,
            toMilliseconds: request.toMs,
            eventTypes: request.eventTypes,
            actorIDs: request.actorIds,
            resources: request.resources,
            actions: request.actions,
            metadataEquals: request.metadataEquals,
            groupBy: dimensions,
            cursor: request.cursor.isEmpty ? nil : request.cursor,
            limit: request.limit == 0 ? nil : request.limit
        )
    }
}
