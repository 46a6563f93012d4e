/// An error of the event store (AuditPipe's ClickHouse tables), with a message saying what to do.
public struct EventStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong and what to do.
    public var message: String

    /// Creates an error.
    public init(message: String) {
        self.message = message
    }

    public var description: String { "EventStoreError: \(message)" }

    static func configuration(_ field: String, _ rule: String) -> EventStoreError {
        EventStoreError(message: "invalid configuration: \(field) \(rule)")
    }
}
