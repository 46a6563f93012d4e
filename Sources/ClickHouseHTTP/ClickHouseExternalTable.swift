import Foundation
import NIOCore

/// A small table sent along with a query (ClickHouse's "external data"): the query reads it by
/// name, e.g. `WHERE (a, b) IN keys`, and its rows travel in the request body, not the URL, so
/// a set of thousands of values costs neither URL length nor SQL parsing.
public struct ClickHouseExternalTable: Sendable {
    /// The name the query uses (letters, digits and `_`).
    public var name: String
    /// The columns, as ClickHouse expects them: `tenant_id String, event_id String`.
    public var structure: String
    /// The rows in TabSeparated form.
    var rows = ByteBuffer()

    /// An empty table; add rows with ``appendRow(_:)``.
    public init(name: String, structure: String) {
        self.name = name
        self.structure = structure
    }

    /// Appends one row of string values, escaped for TabSeparated (so any text arrives byte
    /// for byte).
    public mutating func appendRow(_ values: [String]) {
        for (index, value) in values.enumerated() {
            if index > 0 { rows.writeStaticString("\t") }
            rows.writeString(ClickHouseParameter.escape(value))
        }
        rows.writeStaticString("\n")
    }

    /// The URL items that describe the table to ClickHouse.
    var urlItems: [String: String] {
        ["\(name)_structure": structure, "\(name)_format": "TabSeparated"]
    }

    /// The `multipart/form-data` body carrying the rows, and its content type.
    func multipartBody() -> (body: ByteBuffer, contentType: String) {
        let boundary = "auditpipe-" + UUID().uuidString
        var body = ByteBuffer()
        body.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(name)\"\r\n")
        body.writeString("Content-Type: application/octet-stream\r\n\r\n")
        var rows = self.rows
        body.writeBuffer(&rows)
        body.writeString("\r\n--\(boundary)--\r\n")
        return (body, "multipart/form-data; boundary=\(boundary)")
    }
}
