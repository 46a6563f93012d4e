import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// GETs from the server's HTTP port (metrics, reports) for the commands that print them.
enum ServerHTTP {
    /// The server's HTTP address from a flag, else `AUDITPIPE_HTTP_ADDR`, else the default.
    static func address(_ flag: String?) -> String {
        flag ?? ProcessInfo.processInfo.environment["AUDITPIPE_HTTP_ADDR"] ?? "127.0.0.1:8080"
    }

    /// The body of `GET http://<address><path>`, sending the API key from `apiKeyVariable` as a
    /// bearer token when it is set. Throws ``CommandFailure`` with what to check when the server
    /// cannot be reached or does not answer 200.
    static func get(_ path: String, address: String, apiKeyVariable: String = "AUDITPIPE_API_KEY") async throws -> String {
        var request = HTTPClientRequest(url: "http://\(address)\(path)")
        if let key = ProcessInfo.processInfo.environment[apiKeyVariable], !key.isEmpty {
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
        }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let body = String(buffer: try await response.body.collect(upTo: 16 << 20))
            guard response.status == .ok else {
                throw CommandFailure(message: "GET http://\(address)\(path) answered \(response.status.code): \(body.prefix(500))")
            }
            return body
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure(message: "cannot reach the AuditPipe server at http://\(address)\(path): \(error) (is `auditpipe serve` running? pass --http host:port)")
        }
    }
}
