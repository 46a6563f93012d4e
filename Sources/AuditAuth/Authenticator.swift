import GRPCCore
import Crypto
public import X509

/// Turns credentials into a ``Principal``: an API key (compared by hash, in constant time) or
/// a client certificate (matched on its subject CN or subject alternative names).
public struct Authenticator: Sendable {
    /// The configuration.
    public let configuration: AuthConfiguration

    /// Creates an authenticator.
    ///
    /// - Throws: ``AuthConfigurationError`` when the configuration does not validate.
    public init(configuration: AuthConfiguration) throws(AuthConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
    }

    /// Authenticates a call.
    ///
    /// An `authorization` value, when present, must be `Bearer <key>` with a configured key;
    /// a wrong key is refused even if a client certificate would be accepted. Without one, a
    /// client certificate that maps to an entry is used.
    ///
    /// - Parameters:
    ///   - authorization: the `authorization` metadata value, if any.
    ///   - peerCertificate: the client's certificate from the TLS handshake, if any.
    /// - Throws: ``AuthorizationError`` with `UNAUTHENTICATED`.
    public func authenticate(authorization: String?, peerCertificate: Certificate?) throws(AuthorizationError) -> Principal {
        if let authorization {
            return try authenticate(bearer: authorization)
        }
        if let peerCertificate {
            if let principal = principal(for: peerCertificate) { return principal }
            throw AuthorizationError(
                code: .unauthenticated,
                message: "the client certificate (\(Self.describe(peerCertificate))) is not mapped to any tenant; add it to client_certificates or send an API key"
            )
        }
        throw AuthorizationError(
            code: .unauthenticated,
            message: "missing credentials: send the metadata `authorization: Bearer <api key>` (or a client certificate when mutual TLS is on)"
        )
    }

    /// Authenticates an `authorization` metadata value.
    ///
    /// - Throws: ``AuthorizationError`` with `UNAUTHENTICATED`.
    public func authenticate(bearer authorization: String) throws(AuthorizationError) -> Principal {
        let prefix = "bearer "
        guard authorization.utf8.count > prefix.utf8.count,
              authorization.prefix(prefix.count).lowercased() == prefix
        else {
            throw AuthorizationError(code: .unauthenticated, message: "the authorization metadata must be `Bearer <api key>`")
        }
        let key = authorization.dropFirst(prefix.count).trimmingSpaces()
        guard key.utf8.count >= APIKeys.minimumLength, key.utf8.count <= 4096 else {
            throw AuthorizationError(code: .unauthenticated, message: "invalid API key")
        }
        let presented = Array(SHA256.hash(data: Array(key.utf8)))
        // Look at every entry, whatever matches, so that timing says nothing about the table.
        var match: AuthConfiguration.APIKey? = nil
        for entry in configuration.apiKeys {
            if Self.constantTimeEqual(entry.sha256, presented) { match = entry }
        }
        guard let match else {
            throw AuthorizationError(code: .unauthenticated, message: "invalid API key")
        }
        return Principal(name: match.name, tenants: match.tenants, roles: match.roles, method: .apiKey)
    }

    /// The principal a client certificate maps to, or nil.
    public func principal(for certificate: Certificate) -> Principal? {
        let identities = Self.identities(of: certificate)
        for entry in configuration.clientCertificates where identities.contains(entry.identity) {
            return Principal(name: entry.name, tenants: entry.tenants, roles: entry.roles, method: .clientCertificate)
        }
        return nil
    }

    /// The subject CNs and the DNS, URI and email subject alternative names of `certificate`.
    static func identities(of certificate: Certificate) -> Set<AuthConfiguration.CertificateIdentity> {
        var result: Set<AuthConfiguration.CertificateIdentity> = []
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                if let text = String(attribute.value) { result.insert(.commonName(text)) }
            }
        }
        if let names = try? certificate.extensions.subjectAlternativeNames {
            for name in names {
                switch name {
                case .dnsName(let value): result.insert(.dnsName(value))
                case .uniformResourceIdentifier(let value): result.insert(.uri(value))
                case .rfc822Name(let value): result.insert(.email(value))
                default: break
                }
            }
        }
        return result
    }

    static func describe(_ certificate: Certificate) -> String {
        let names = identities(of: certificate).map(\.description).sorted()
        return names.isEmpty ? "subject \(certificate.subject)" : names.joined(separator: ", ")
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var result = self
        while result.first == " " || result.first == "\t" { result.removeFirst() }
        while result.last == " " || result.last == "\t" { result.removeLast() }
        return result
    }
}
