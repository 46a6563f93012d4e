// Written by hand (not generated): the one mapping between the API's event message and the
// domain's `AuditEvent`, for the server's transport, the client library and the tests.
// `Protos/generate --check` leaves this file alone.
public import AuditEvents

extension AuditEvent {
    /// The domain event of an API event message, field for field (validation is the
    /// pipeline's job, not the mapping's).
    public init(_ event: Auditpipe_V1_AuditEvent) {
        self.init(
            eventID: event.eventID,
            tenantID: event.tenantID,
            actorID: event.actorID,
            eventType: event.eventType,
            resource: event.resource,
            action: event.action,
            timestampMilliseconds: event.timestampMs,
            metadata: event.metadata
        )
    }
}

extension Auditpipe_V1_AuditEvent {
    /// The API event message of a domain event, field for field.
    public init(_ event: AuditEvent) {
        self.init()
        eventID = event.eventID
        tenantID = event.tenantID
        actorID = event.actorID
        eventType = event.eventType
        resource = event.resource
        action = event.action
        timestampMs = event.timestampMilliseconds
        metadata = event.metadata
    }
}
