import AuditStore
import AuditConsumer
import ClickHouseHTTP

extension FailureClass {
    /// The class of a failed write: ClickHouse's own category, an ``AuditSinkError``'s
    /// retriability, anything else transient.
    package init(_ error: any Error) {
        if let error = error as? ClickHouseError {
            switch error.category {
            case .transient: self = .transient
            case .rejectedData: self = .rejected
            default: self = .needsOperator
            }
        } else if let error = error as? AuditSinkError {
            self = error.isRetriable ? .transient : .needsOperator
        } else {
            self = .transient
        }
    }
}
