public import Foundation
import Crypto

/// Who may call AuditPipe: API keys (stored only as SHA-256 hashes) and, with mutual TLS,
/// client certificates, each bound to tenants and roles.
///
/// Loaded from a JSON file (``load(contentsOf:)``):
///
/// ```json
/// {
///   "api_keys": [
///     { "name": "acme-ingest", "sha256": "<64 hex digits: auditpipe auth hash-key>",
///       "tenants": ["acme"], "roles": ["ingest"] },
///     { "name": "ops", "sha256": "…", "tenants": ["*"], "roles": ["admin"] }
///   ],
///   "client_certificates": [
///     { "name": "acme-reports", "common_name": "reports.acme.example",
///       "tenants": ["acme"], "roles": ["reports"] },
///     { "name": "svc", "dns_name": "svc.acme.internal", "tenants": ["acme"], "roles": ["recent-events"] }
///   ]
/// }
/// ```
///
/// A client certificate entry names exactly one of `common_name` (the subject CN),
/// `dns_name`, `uri` or `email` (subject alternative names).
public struct AuthConfiguration: Sendable, Hashable {
    /// An API key entry.
    public struct APIKey: Sendable, Hashable {
        /// A name for logs and messages (never the key).
        public var name: String
        /// SHA-256 of the key's UTF-8 bytes (32 bytes).
        public var sha256: [UInt8]
        /// The tenants it may act for.
        public var tenants: TenantScope
        /// Its roles.
        public var roles: Set<Role>

        /// Creates an entry.
        public init(name: String, sha256: [UInt8], tenants: TenantScope, roles: Set<Role>) {
            self.name = name
            self.sha256 = sha256
            self.tenants = tenants
            self.roles = roles
        }
    }

    /// What identifies a client certificate.
    public enum CertificateIdentity: Sendable, Hashable, CustomStringConvertible {
        /// A `CN` of the subject.
        case commonName(String)
        /// A DNS name in the subject alternative names.
        case dnsName(String)
        /// A URI in the subject alternative names (e.g. a SPIFFE id).
        case uri(String)
        /// An email address (rfc822Name) in the subject alternative names.
        case email(String)

        /// `kind=value`.
        public var description: String {
            switch self {
            case .commonName(let v): return "common_name=\(v)"
            case .dnsName(let v): return "dns_name=\(v)"
            case .uri(let v): return "uri=\(v)"
            case .email(let v): return "email=\(v)"
            }
        }
    }

    /// A client certificate entry.
    public struct ClientCertificate: Sendable, Hashable {
        /// A name for logs and messages.
        public var name: String
        /// What the certificate must carry.
        public var identity: CertificateIdentity
        /// The tenants it may act for.
        public var tenants: TenantScope
        /// Its roles.
        public var roles: Set<Role>

        /// Creates an entry.
        public init(name: String, identity: CertificateIdentity, tenants: TenantScope, roles: Set<Role>) {
            self.name = name
            self.identity = identity
            self.tenants = tenants
            self.roles = roles
        }
    }

    /// The API keys.
    public var apiKeys: [APIKey]
    /// The client certificate mappings.
    public var clientCertificates: [ClientCertificate]

    /// Creates a configuration.
    public init(apiKeys: [APIKey] = [], clientCertificates: [ClientCertificate] = []) {
        self.apiKeys = apiKeys
        self.clientCertificates = clientCertificates
    }

    /// Reads and validates a JSON configuration file.
    ///
    /// - Throws: ``AuthConfigurationError`` naming the file or the entry and the rule.
    public static func load(contentsOf url: URL) throws(AuthConfigurationError) -> AuthConfiguration {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw AuthConfigurationError(entry: url.path, problem: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(json: data)
    }

    /// Parses and validates a JSON configuration.
    ///
    /// - Throws: ``AuthConfigurationError`` naming the entry and the rule.
    public static func parse(json data: Data) throws(AuthConfigurationError) -> AuthConfiguration {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw AuthConfigurationError(entry: "(file)", problem: "not valid JSON: \(error.localizedDescription)")
        }
        guard let object = root as? [String: Any] else {
            throw AuthConfigurationError(entry: "(file)", problem: "the top level must be an object with \"api_keys\" and/or \"client_certificates\"")
        }
        for key in object.keys where !["api_keys", "client_certificates"].contains(key) {
            throw AuthConfigurationError(entry: key, problem: "unknown setting; use \"api_keys\" or \"client_certificates\"")
        }
        var configuration = AuthConfiguration()
        for (index, entry) in try list(object["api_keys"], name: "api_keys").enumerated() {
            let (path, fields) = try entryFields(entry, list: "api_keys", index: index, allowed: ["name", "sha256", "tenants", "roles"])
            let hex = try string(fields["sha256"], entry: path, field: "sha256")
            guard let hash = hexBytes(hex), hash.count == 32 else {
                throw AuthConfigurationError(
                    entry: path,
                    problem: "sha256 must be 64 hexadecimal digits, the SHA-256 of the key (make it with `auditpipe auth hash-key`); never put the key itself here"
                )
            }
            configuration.apiKeys.append(APIKey(
                name: try string(fields["name"], entry: path, field: "name"),
                sha256: hash,
                tenants: try tenants(fields["tenants"], entry: path),
                roles: try roles(fields["roles"], entry: path)
            ))
        }
        for (index, entry) in try list(object["client_certificates"], name: "client_certificates").enumerated() {
            let identityFields = ["common_name", "dns_name", "uri", "email"]
            let (path, fields) = try entryFields(entry, list: "client_certificates", index: index, allowed: ["name", "tenants", "roles"] + identityFields)
            let given = identityFields.filter { fields[$0] != nil }
            guard given.count == 1, let field = given.first else {
                throw AuthConfigurationError(entry: path, problem: "give exactly one of common_name, dns_name, uri or email (found \(given.isEmpty ? "none" : given.joined(separator: ", ")))")
            }
            let value = try string(fields[field], entry: path, field: field)
            let identity: CertificateIdentity
            switch field {
            case "common_name": identity = .commonName(value)
            case "dns_name": identity = .dnsName(value)
            case "uri": identity = .uri(value)
            default: identity = .email(value)
            }
            configuration.clientCertificates.append(ClientCertificate(
                name: try string(fields["name"], entry: path, field: "name"),
                identity: identity,
                tenants: try tenants(fields["tenants"], entry: path),
                roles: try roles(fields["roles"], entry: path)
            ))
        }
        try configuration.validate()
        return configuration
    }

    /// Checks names and hashes are unique and every entry has tenants and roles.
    ///
    /// - Throws: ``AuthConfigurationError`` naming the entry.
    public func validate() throws(AuthConfigurationError) {
        var names: Set<String> = []
        var hashes: Set<[UInt8]> = []
        var identities: Set<CertificateIdentity> = []
        for (index, key) in apiKeys.enumerated() {
            let path = "api_keys[\(index)] (\"\(key.name)\")"
            guard !key.name.isEmpty else { throw AuthConfigurationError(entry: "api_keys[\(index)]", problem: "name is required") }
            guard names.insert(key.name).inserted else { throw AuthConfigurationError(entry: path, problem: "the name is used by another entry; names must be unique") }
            guard key.sha256.count == 32 else { throw AuthConfigurationError(entry: path, problem: "sha256 must be 32 bytes") }
            guard hashes.insert(key.sha256).inserted else { throw AuthConfigurationError(entry: path, problem: "the same key hash appears twice; give each key one entry") }
            try Self.checkScope(key.tenants, key.roles, path: path)
        }
        for (index, certificate) in clientCertificates.enumerated() {
            let path = "client_certificates[\(index)] (\"\(certificate.name)\")"
            guard !certificate.name.isEmpty else { throw AuthConfigurationError(entry: "client_certificates[\(index)]", problem: "name is required") }
            guard names.insert(certificate.name).inserted else { throw AuthConfigurationError(entry: path, problem: "the name is used by another entry; names must be unique") }
            guard identities.insert(certificate.identity).inserted else {
                throw AuthConfigurationError(entry: path, problem: "\(certificate.identity) is mapped twice; a certificate must map to one entry")
            }
            try Self.checkScope(certificate.tenants, certificate.roles, path: path)
        }
    }

    private static func checkScope(_ tenants: TenantScope, _ roles: Set<Role>, path: String) throws(AuthConfigurationError) {
        if case .only(let set) = tenants, set.isEmpty {
            throw AuthConfigurationError(entry: path, problem: "tenants is empty; list the tenants, or \"*\" for all")
        }
        if roles.isEmpty {
            throw AuthConfigurationError(entry: path, problem: "roles is empty; use ingest, recent-events, reports or admin")
        }
    }

    // MARK: JSON helpers

    private static func list(_ value: Any?, name: String) throws(AuthConfigurationError) -> [Any] {
        guard let value else { return [] }
        guard let array = value as? [Any] else { throw AuthConfigurationError(entry: name, problem: "must be a list of objects") }
        return array
    }

    private static func entryFields(_ entry: Any, list: String, index: Int, allowed: [String]) throws(AuthConfigurationError) -> (String, [String: Any]) {
        guard let fields = entry as? [String: Any] else {
            throw AuthConfigurationError(entry: "\(list)[\(index)]", problem: "must be an object")
        }
        let name = fields["name"] as? String
        let path = name.map { "\(list)[\(index)] (\"\($0)\")" } ?? "\(list)[\(index)]"
        for key in fields.keys.sorted() where !allowed.contains(key) {
            throw AuthConfigurationError(entry: path, problem: "unknown field \"\(key)\"; allowed: \(allowed.joined(separator: ", "))")
        }
        return (path, fields)
    }

    private static func string(_ value: Any?, entry: String, field: String) throws(AuthConfigurationError) -> String {
        guard let value else { throw AuthConfigurationError(entry: entry, problem: "\(field) is required") }
        guard let text = value as? String, !text.isEmpty else {
            throw AuthConfigurationError(entry: entry, problem: "\(field) must be a non-empty string")
        }
        return text
    }

    private static func tenants(_ value: Any?, entry: String) throws(AuthConfigurationError) -> TenantScope {
        guard let array = value as? [Any], !array.isEmpty else {
            throw AuthConfigurationError(entry: entry, problem: "tenants must be a non-empty list of tenant ids, or [\"*\"] for all tenants")
        }
        var tenants: Set<String> = []
        for item in array {
            guard let tenant = item as? String, !tenant.isEmpty else {
                throw AuthConfigurationError(entry: entry, problem: "tenants must hold non-empty strings")
            }
            tenants.insert(tenant)
        }
        if tenants.contains("*") {
            guard tenants.count == 1 else {
                throw AuthConfigurationError(entry: entry, problem: "tenants mixes \"*\" with named tenants; use [\"*\"] alone for all tenants")
            }
            return .all
        }
        return .only(tenants)
    }

    private static func roles(_ value: Any?, entry: String) throws(AuthConfigurationError) -> Set<Role> {
        guard let array = value as? [Any], !array.isEmpty else {
            throw AuthConfigurationError(entry: entry, problem: "roles must be a non-empty list of: ingest, recent-events, reports, admin")
        }
        var roles: Set<Role> = []
        for item in array {
            guard let name = item as? String, let role = Role(rawValue: name) else {
                throw AuthConfigurationError(entry: entry, problem: "unknown role \(item); use ingest, recent-events, reports or admin")
            }
            roles.insert(role)
        }
        return roles
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.lowercased().utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}

/// Making and hashing API keys.
public enum APIKeys {
    /// The SHA-256 of `key`'s UTF-8 bytes as 64 lowercase hex digits: what goes into the
    /// configuration's `sha256` field.
    public static func sha256Hex(of key: String) -> String {
        SHA256.hash(data: Array(key.utf8)).map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
    }

    /// A new random key: `ap_` and 43 base64url characters (256 bits of entropy).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return "ap_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The shortest key ``Authenticator`` accepts, in bytes.
    public static let minimumLength = 16
}
