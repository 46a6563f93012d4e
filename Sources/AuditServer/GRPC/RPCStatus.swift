import AuditQuery
import ClickHouseHTTP
public import GRPCCore
import RedisClient

// Every domain error's gRPC status, in one place. The handler throws these errors (or answers
// per event, for Ingest); the statuses never reach the targets below the transport.

extension ReportError: RPCErrorConvertible {
    /// `DEADLINE_EXCEEDED` for a ClickHouse timeout, `UNAVAILABLE` when retriable, else `INTERNAL`.
    var rpcErrorCode: RPCError.Code {
        if let error = clickHouseError {
            if error.code == 159 || error.code == 160 || error.kind == .timeout { return .deadlineExceeded }
            if error.code == 394 { return .cancelled }
            if error.isRetriable { return .unavailable }
        }
        return .internalError
    }

    /// The message, with the query id.
    var rpcErrorMessage: String { description }
}

extension ReportQueryError: RPCErrorConvertible {
    /// Always `INVALID_ARGUMENT`.
    var rpcErrorCode: RPCError.Code { .invalidArgument }
    /// Every violation, naming its field.
    var rpcErrorMessage: String { description }
}

extension RPCError {
    /// RecentEvents' answer when Redis fails: DEADLINE_EXCEEDED when Redis did not answer in time,
    /// UNAVAILABLE when it cannot be reached or refuses for now, INTERNAL for a reply that shows a
    /// bug or a foreign value under our keys. Never UNKNOWN.
    init(recentEventsStoreFailure error: RedisError) {
        switch error.kind {
        case .timeout:
            self.init(code: .deadlineExceeded, message: "RecentEvents: Redis did not answer in time (\(error.message)); retry later")
        case .connection, .closed, .authentication, .configuration:
            self.init(code: .unavailable, message: "RecentEvents: Redis is unavailable (\(error.message)); retry later")
        default:
            if error.isRetriable {
                self.init(code: .unavailable, message: "RecentEvents: Redis is unavailable (\(error.message)); retry later")
            } else {
                self.init(code: .internalError, message: "RecentEvents: Redis answered with an error: \(error.message)")
            }
        }
    }
}

extension RPCError {
    /// Verify's answer when the chain's rows or checkpoints cannot be read.
    init(verificationFailure error: any Error) {
        self.init(code: .unavailable, message: "verification could not read ClickHouse, retry later: \(error)")
    }
}
