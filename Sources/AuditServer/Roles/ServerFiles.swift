import AuditAuth
import AuditIntegrity
import AuditQuery
import Crypto
import Foundation
import GRPCNIOTransportHTTP2
import LegacyMapping

/// Everything the server reads from files (API keys, certificates, mapping rules, checkpoint
/// keys), read before it opens any client: a bad file stops the start with an error naming its
/// setting, and nothing is left to close.
struct ServerFiles {
    /// Checks API keys and client certificates; nil in development mode.
    var authenticator: Authenticator?
    var transportSecurity = HTTP2ServerTransport.Posix.TransportSecurity.plaintext
    /// The legacy mapping rules, read when this process runs the ingest role.
    var legacyRules: LegacyRuleSet?
    /// Signs the chains' checkpoints (sink role).
    var checkpointSigningKey: CheckpointSigningKey?
    /// The keys Verify trusts: the signing key's and `integrity.public_keys` (query role).
    var trustedCheckpointKeys: [CheckpointVerificationKey] = []
    var reportCursors: ReportCursorCodec

    init(_ configuration: AuditPipeConfiguration, roles: Set<ServerRole>) throws(ConfigurationError) {
        if let path = configuration.authConfigPath {
            do {
                authenticator = try Authenticator(configuration: try AuthConfiguration.load(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw ConfigurationError(setting: "AUDITPIPE_AUTH_CONFIG", problem: "\(error)")
            }
        }
        if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsPrivateKeyPath {
            do {
                transportSecurity = try GRPCTLSConfiguration(
                    certificateChainPath: certificate, privateKeyPath: key, clientCAPath: configuration.tlsClientCAPath
                ).transportSecurity()
            } catch {
                throw ConfigurationError(setting: "AUDITPIPE_TLS_CERT", problem: "\(error)")
            }
        }
        if roles.contains(.ingest), let path = configuration.legacyRulesPath {
            let rules: LegacyRuleSet
            do { rules = try LegacyRuleSet.load(contentsOfFile: path) } catch {
                throw ConfigurationError(setting: "AUDITPIPE_LEGACY_RULES", problem: "\(error)")
            }
            for source in configuration.legacyBridges.keys.sorted() where rules[source: source] == nil {
                throw ConfigurationError(setting: "AUDITPIPE_LEGACY_BRIDGES", problem: "no mapping rules for source `\(source)` in \(path)")
            }
            legacyRules = rules
        }
        do {
            trustedCheckpointKeys = try configuration.checkpointPublicKeys.map { text throws(IntegrityError) in try CheckpointVerificationKey(publicKeyText: text) }
        } catch {
            throw ConfigurationError(setting: "AUDITPIPE_CHECKPOINT_PUBLIC_KEYS", problem: String(describing: error))
        }
        if let keyFile = configuration.checkpointKeyFile {
            let key: CheckpointSigningKey
            do { key = try CheckpointSigningKey(contentsOfFile: keyFile) } catch {
                throw ConfigurationError(setting: "AUDITPIPE_CHECKPOINT_KEY_FILE", problem: String(describing: error))
            }
            checkpointSigningKey = key
            trustedCheckpointKeys.append(key.verificationKey)
        }
        reportCursors = configuration.cursorKey.map { ReportCursorCodec(key: SymmetricKey(data: SHA256.hash(data: Array($0.utf8)))) } ?? ReportCursorCodec()
    }
}
