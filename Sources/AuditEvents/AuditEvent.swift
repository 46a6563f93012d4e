/// The canonical audit event: one user action, as every part of AuditPipe sees it.
///
/// It mirrors the Avro record `com.worldtech.audit.AuditEvent` (see `AuditEventSchema.seed`);
/// the gRPC `auditpipe.v1.AuditEvent`, the legacy JSON mappings and the ClickHouse row are
/// converted to and from it.
public struct AuditEvent: Sendable, Hashable {
    /// Caller-chosen unique id; a retry carries the same id.
    public var eventID: String
    public var tenantID: String
    public var actorID: String
    public var eventType: String
    public var resource: String
    public var action: String
    /// When the action happened, in milliseconds since the Unix epoch (UTC).
    public var timestampMilliseconds: Int64
    public var metadata: [String: String]

    public init(
        eventID: String,
        tenantID: String,
        actorID: String,
        eventType: String,
        resource: String,
        action: String,
        timestampMilliseconds: Int64,
        metadata: [String: String] = [:]
    ) {
        self.eventID = eventID
        self.tenantID = tenantID
        self.actorID = actorID
        self.eventType = eventType
        self.resource = resource
        self.action = action
        self.timestampMilliseconds = timestampMilliseconds
        self.metadata = metadata
    }
}

/// One broken rule of one field of an event.
public struct FieldViolation: Sendable, Hashable, CustomStringConvertible {
    /// The field as a path: `tenant_id`, `metadata["ip"]`.
    public var field: String
    /// A short stable code: `required`, `max_length`, `control_characters`, `too_old`,
    /// `not_in_future`, `max_entries`, `max_size`, `schema`.
    public var rule: String
    /// What is wrong and what to do.
    public var description: String

    public init(field: String, rule: String, description: String) {
        self.field = field
        self.rule = rule
        self.description = description
    }
}
