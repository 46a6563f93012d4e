import AuditQuery
import ClickHouseHTTP
import GRPCCore
import RedisClient
import Testing

@testable import AuditServer

/// The one place domain errors become gRPC statuses (`RPCStatus.swift`).
@Suite("gRPC statuses of domain errors")
struct RPCStatusTests {
    private func report(_ error: ClickHouseError) -> ReportError {
        ReportError(kind: .clickHouse, message: "report failed", queryID: "q-1", clickHouseError: error)
    }

    @Test("a failed report: DEADLINE_EXCEEDED on a ClickHouse timeout, UNAVAILABLE when retriable, CANCELLED when killed, else INTERNAL")
    func reports() {
        #expect(report(ClickHouseError(kind: .server, code: 159, message: "timeout exceeded")).rpcErrorCode == .deadlineExceeded)
        #expect(report(ClickHouseError(kind: .timeout, message: "no answer")).rpcErrorCode == .deadlineExceeded)
        #expect(report(ClickHouseError(kind: .server, code: 394, message: "query was cancelled")).rpcErrorCode == .cancelled)
        #expect(report(ClickHouseError(kind: .network, message: "connection refused")).rpcErrorCode == .unavailable)
        #expect(report(ClickHouseError(kind: .server, code: 60, name: "UNKNOWN_TABLE", message: "no table")).rpcErrorCode == .internalError)
        #expect(ReportError(kind: .unexpectedResult, message: "columns differ", queryID: "q-2").rpcErrorCode == .internalError)
        #expect(report(ClickHouseError(kind: .server, code: 60, message: "no table")).rpcErrorMessage.contains("q-1"))
    }

    @Test("an invalid report request is INVALID_ARGUMENT naming each field")
    func invalidRequests() {
        let error = ReportQueryError(violations: [.init(field: "to_ms", rule: "after_from", description: "must be after from_ms")])
        #expect(error.rpcErrorCode == .invalidArgument)
        #expect(error.rpcErrorMessage.contains("to_ms: must be after from_ms"))
    }

    @Test("Redis failures of RecentEvents are never UNKNOWN")
    func redis() {
        #expect(RPCError(recentEventsStoreFailure: RedisError(kind: .timeout, message: "slow")).code == .deadlineExceeded)
        #expect(RPCError(recentEventsStoreFailure: RedisError(kind: .connection, message: "refused")).code == .unavailable)
        #expect(RPCError(verificationFailure: ClickHouseError(kind: .network, message: "refused")).code == .unavailable)
    }
}
