@testable import AuditAuth
import Crypto
import Foundation
import GRPCCore
import Testing
import X509

@Suite("Auth configuration")
struct AuthConfigurationTests {
    static let acmeKey = "ap_acme-reports-key-0123456789"
    static let opsKey = "ap_ops-admin-key-abcdefghijklmnop"

    static let json = """
        {
          "api_keys": [
            { "name": "acme-reports", "sha256": "\(APIKeys.sha256Hex(of: acmeKey))", "tenants": ["acme"], "roles": ["reports", "recent-events"] },
            { "name": "ops", "sha256": "\(APIKeys.sha256Hex(of: opsKey).uppercased())", "tenants": ["*"], "roles": ["admin"] }
          ],
          "client_certificates": [
            { "name": "acme-cert", "common_name": "reports.acme.example", "tenants": ["acme", "acme-eu"], "roles": ["reports"] },
            { "name": "svc", "dns_name": "svc.globex.internal", "tenants": ["globex"], "roles": ["ingest"] }
          ]
        }
        """

    func problem(_ json: String) -> String? {
        do {
            _ = try AuthConfiguration.parse(json: Data(json.utf8))
            return nil
        } catch {
            return error.description
        }
    }

    @Test func parsesAValidFile() throws {
        let configuration = try AuthConfiguration.parse(json: Data(Self.json.utf8))
        #expect(configuration.apiKeys.map(\.name) == ["acme-reports", "ops"])
        #expect(configuration.apiKeys[0].tenants == .only(["acme"]))
        #expect(configuration.apiKeys[0].roles == [.reports, .recentEvents])
        #expect(configuration.apiKeys[1].tenants == .all)
        #expect(configuration.apiKeys[1].sha256 == Array(SHA256.hash(data: Array(Self.opsKey.utf8))))
        #expect(configuration.clientCertificates[0].identity == .commonName("reports.acme.example"))
        #expect(configuration.clientCertificates[1].identity == .dnsName("svc.globex.internal"))
        // The file holds no key in clear.
        #expect(!Self.json.contains(Self.acmeKey))
    }

    @Test func sha256HexMatchesAnIndependentValue() {
        // `printf %s abc | sha256sum`
        #expect(APIKeys.sha256Hex(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let key = APIKeys.generate()
        #expect(key.hasPrefix("ap_") && key.count == 46)
        #expect(key != APIKeys.generate())
    }

    @Test func errorsNameTheEntryAndTheRule() {
        let hash = APIKeys.sha256Hex(of: "whatever-key-123456")
        #expect(problem(#"{"api_keys": [{"name": "a", "sha256": "ap_plain_key_here", "tenants": ["t"], "roles": ["reports"]}]}"#)
            == #"auth configuration, api_keys[0] ("a"): sha256 must be 64 hexadecimal digits, the SHA-256 of the key (make it with `auditpipe auth hash-key`); never put the key itself here"#)
        #expect(problem(#"{"api_keys": [{"name": "a", "sha256": "\#(hash)", "tenants": ["t"], "roles": ["read"]}]}"#)
            == #"auth configuration, api_keys[0] ("a"): unknown role read; use ingest, recent-events, reports or admin"#)
        #expect(problem(#"{"api_keys": [{"name": "a", "sha256": "\#(hash)", "tenants": [], "roles": ["reports"]}]}"#)?
            .hasPrefix(#"auth configuration, api_keys[0] ("a"): tenants must be a non-empty list"#) == true)
        #expect(problem(#"{"api_keys": [{"name": "a", "sha256": "\#(hash)", "tenants": ["*", "t"], "roles": ["reports"]}]}"#)?
            .contains("mixes \"*\"") == true)
        #expect(problem(#"{"api_keys": [{"name": "a", "sha256": "\#(hash)", "tenants": ["t"], "roles": ["reports"], "key": "x"}]}"#)?
            .contains(#"api_keys[0] ("a"): unknown field "key""#) == true)
        #expect(problem(#"{"api_keys": [{"name": "a", "sha256": "\#(hash)", "tenants": ["t"], "roles": ["reports"]}, {"name": "b", "sha256": "\#(hash)", "tenants": ["t"], "roles": ["reports"]}]}"#)
            == #"auth configuration, api_keys[1] ("b"): the same key hash appears twice; give each key one entry"#)
        #expect(problem(#"{"api_keys": [{"name": "a", "sha256": "\#(hash)", "tenants": ["t"], "roles": ["reports"]}], "client_certificates": [{"name": "a", "common_name": "x", "tenants": ["t"], "roles": ["reports"]}]}"#)
            == #"auth configuration, client_certificates[0] ("a"): the name is used by another entry; names must be unique"#)
        #expect(problem(#"{"client_certificates": [{"name": "c", "common_name": "x", "dns_name": "y", "tenants": ["t"], "roles": ["reports"]}]}"#)
            == #"auth configuration, client_certificates[0] ("c"): give exactly one of common_name, dns_name, uri or email (found common_name, dns_name)"#)
        #expect(problem(#"{"api_keys": [{"sha256": "\#(hash)", "tenants": ["t"], "roles": ["reports"]}]}"#) == "auth configuration, api_keys[0]: name is required")
        #expect(problem(#"{"apikeys": []}"#)?.contains("apikeys: unknown setting") == true)
        #expect(problem("not json")?.hasPrefix("auth configuration, (file): not valid JSON") == true)
    }

    @Test func loadNamesAMissingFile() {
        #expect(throws: AuthConfigurationError.self) { try AuthConfiguration.load(contentsOf: URL(fileURLWithPath: "/nonexistent/auth.json")) }
    }
}

@Suite("Authentication and authorization")
struct AuthenticatorTests {
    let authenticator = try! Authenticator(configuration: AuthConfiguration.parse(json: Data(AuthConfigurationTests.json.utf8)))

    func code(_ body: () throws(AuthorizationError) -> Any) -> RPCError.Code? {
        do {
            _ = try body()
            return nil
        } catch {
            return error.code
        }
    }

    @Test func rightKeyGivesItsPrincipal() throws {
        let principal = try authenticator.authenticate(authorization: "Bearer \(AuthConfigurationTests.acmeKey)", peerCertificate: nil)
        #expect(principal.name == "acme-reports")
        #expect(principal.tenants == .only(["acme"]))
        #expect(principal.method == .apiKey)
        // Scheme is case-insensitive; surrounding blanks are ignored.
        #expect(try authenticator.authenticate(bearer: "bearer  \(AuthConfigurationTests.acmeKey) ").name == "acme-reports")
    }

    @Test(arguments: [
        "Bearer ap_acme-reports-key-012345678", // one character short
        "Bearer ap_acme-reports-key-0123456789x",
        "Bearer " + APIKeys.sha256Hex(of: AuthConfigurationTests.acmeKey), // the hash is not the key
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        "Bearer ",
        "Bearer short",
        AuthConfigurationTests.acmeKey, // no scheme
        "",
    ])
    func wrongOrMalformedKeysAreUnauthenticated(_ value: String) {
        #expect(code { () throws(AuthorizationError) in try authenticator.authenticate(authorization: value, peerCertificate: nil) } == .unauthenticated)
    }

    @Test func missingCredentialsAreUnauthenticatedWithAClearMessage() {
        do {
            _ = try authenticator.authenticate(authorization: nil, peerCertificate: nil)
            Issue.record("authenticated without credentials")
        } catch {
            #expect(error.code == .unauthenticated)
            #expect(error.message.contains("authorization: Bearer <api key>"))
        }
    }

    @Test func authorizeChecksTenantAndRole() throws {
        let acme = try authenticator.authenticate(bearer: "Bearer \(AuthConfigurationTests.acmeKey)")
        try acme.authorize(tenant: "acme", role: .reports)
        try acme.authorize(tenant: "acme", role: .recentEvents)
        #expect(code { () throws(AuthorizationError) in try acme.authorize(tenant: "globex", role: .reports) } == .permissionDenied)
        #expect(code { () throws(AuthorizationError) in try acme.authorize(tenant: "acme", role: .ingest) } == .permissionDenied)
        #expect(code { () throws(AuthorizationError) in try acme.authorize(tenant: "ACME", role: .reports) } == .permissionDenied)
        #expect(code { () throws(AuthorizationError) in try acme.authorize(tenant: "acme' OR 1=1 --", role: .reports) } == .permissionDenied)
        #expect(code { () throws(AuthorizationError) in try acme.authorize(tenant: "", role: .reports) } == .invalidArgument)
        // The only tenant is used when the request names none.
        #expect(try acme.resolveTenant("", role: .reports) == "acme")
        #expect(code { () throws(AuthorizationError) in try acme.resolveTenant("globex", role: .reports) } == .permissionDenied)

        let ops = try authenticator.authenticate(bearer: "Bearer \(AuthConfigurationTests.opsKey)")
        for role in Role.allCases { try ops.authorize(tenant: "any-tenant", role: role) }
        #expect(code { () throws(AuthorizationError) in try ops.resolveTenant("", role: .reports) } == .invalidArgument)
    }

    @Test func noPrincipalOutsideAnAuthenticatedRPCFailsClosed() {
        #expect(code { () throws(AuthorizationError) in try Principal.required() } == .unauthenticated)
    }

    @Test func clientCertificatesMapByCommonNameAndSubjectAlternativeNames() throws {
        func certificate(commonName: String, sans: [GeneralName]) throws -> Certificate {
            let key = P256.Signing.PrivateKey()
            let name = try DistinguishedName { CommonName(commonName) }
            return try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
                notValidBefore: Date() - 3600, notValidAfter: Date() + 3600, issuer: name, subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions { SubjectAlternativeNames(sans) },
                issuerPrivateKey: .init(key)
            )
        }
        let byCN = try certificate(commonName: "reports.acme.example", sans: [.dnsName("other.example")])
        #expect(authenticator.principal(for: byCN)?.name == "acme-cert")
        #expect(try authenticator.authenticate(authorization: nil, peerCertificate: byCN).tenants == .only(["acme", "acme-eu"]))
        let bySAN = try certificate(commonName: "unrelated", sans: [.dnsName("svc.globex.internal")])
        #expect(authenticator.principal(for: bySAN)?.name == "svc")
        let unknown = try certificate(commonName: "intruder.example", sans: [.dnsName("reports.acme.example")])
        #expect(authenticator.principal(for: unknown) == nil)
        #expect(code { () throws(AuthorizationError) in try authenticator.authenticate(authorization: nil, peerCertificate: unknown) } == .unauthenticated)
        // A wrong API key is refused even with a good certificate.
        #expect(code { () throws(AuthorizationError) in try authenticator.authenticate(authorization: "Bearer wrong-key-0123456789", peerCertificate: byCN) } == .unauthenticated)
    }
}
