import Foundation
public import GRPCNIOTransportHTTP2

/// TLS for the gRPC port: the server's certificate chain and key (PEM files), and optionally a
/// client CA bundle, which turns on mutual TLS (clients must present a certificate signed by
/// it; the ``Authenticator`` maps it to a principal through `client_certificates`).
public struct GRPCTLSConfiguration: Sendable, Hashable {
    /// PEM file with the server certificate, then any intermediates.
    public var certificateChainPath: String
    /// PEM file with the server's private key.
    public var privateKeyPath: String
    /// PEM file with the CA certificates that sign client certificates; nil for server TLS only.
    public var clientCAPath: String?

    /// Creates a configuration.
    public init(certificateChainPath: String, privateKeyPath: String, clientCAPath: String? = nil) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.clientCAPath = clientCAPath
    }

    /// Checks the files exist and are readable.
    ///
    /// - Throws: ``AuthConfigurationError`` naming the setting.
    public func validate() throws(AuthConfigurationError) {
        for (name, path) in [("tls certificate chain", certificateChainPath), ("tls private key", privateKeyPath), ("tls client CA", clientCAPath)] {
            guard let path else { continue }
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw AuthConfigurationError(entry: name, problem: "cannot read '\(path)'; give the path of a PEM file")
            }
        }
    }

    /// The transport security for `HTTP2ServerTransport.Posix(address:transportSecurity:)`.
    ///
    /// - Throws: ``AuthConfigurationError`` when a file is missing.
    public func transportSecurity() throws(AuthConfigurationError) -> HTTP2ServerTransport.Posix.TransportSecurity {
        try validate()
        let chain: [TLSConfig.CertificateSource] = [.file(path: certificateChainPath, format: .pem)]
        let key: TLSConfig.PrivateKeySource = .file(path: privateKeyPath, format: .pem)
        guard let clientCAPath else {
            return .tls(certificateChain: chain, privateKey: key)
        }
        return .mTLS(certificateChain: chain, privateKey: key) { config in
            config.trustRoots = .certificates([.file(path: clientCAPath, format: .pem)])
            config.clientCertificateVerification = .noHostnameVerification
        }
    }
}
