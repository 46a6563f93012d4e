public import Crypto
import Foundation

/// The Ed25519 key that signs checkpoints.
///
/// Loaded from a 32-byte seed, written as 64 hex digits or as base64 (44 characters), alone in
/// a file (surrounding whitespace is ignored). Generate one with `auditpipe verify keygen`.
public struct CheckpointSigningKey: Sendable {
    /// The private key.
    public let privateKey: Curve25519.Signing.PrivateKey

    /// Wraps a private key.
    public init(privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
    }

    /// A new random key.
    public static func generate() -> CheckpointSigningKey {
        CheckpointSigningKey(privateKey: Curve25519.Signing.PrivateKey())
    }

    /// A key from its 32-byte seed in hex or base64.
    public init(seedText: String) throws(IntegrityError) {
        let seed = try KeyText.decode32(seedText, what: "the checkpoint signing key seed")
        do {
            privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        } catch {
            throw IntegrityError(message: "the checkpoint signing key seed is not a valid Ed25519 seed: \(error)")
        }
    }

    /// A key from a file holding its seed (see the type's documentation).
    public init(contentsOfFile path: String) throws(IntegrityError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw IntegrityError(message: "cannot read the checkpoint signing key file \(path): \(error.localizedDescription). Generate one with `auditpipe verify keygen`")
        }
        try self.init(seedText: text)
    }

    /// The seed as 64 hex digits (what ``init(seedText:)`` reads back).
    public var seedHex: String { HexCoding.encode(privateKey.rawRepresentation) }

    /// The public half, for verifiers.
    public var verificationKey: CheckpointVerificationKey { CheckpointVerificationKey(publicKey: privateKey.publicKey) }

    /// The key id: see ``CheckpointVerificationKey/keyID``.
    public var keyID: String { verificationKey.keyID }

    /// Signs the checkpoint of `tenantID`'s head at `sequence` with `headHash`, made at
    /// `signedAtMilliseconds`, naming this key.
    public func sign(tenantID: String, sequence: UInt64, headHash: ChainHash, signedAtMilliseconds: Int64) throws(IntegrityError) -> SignedCheckpoint {
        let checkpoint = ChainCheckpoint(tenantID: tenantID, sequence: sequence, headHash: headHash, signedAtMilliseconds: signedAtMilliseconds, keyID: keyID)
        return try sign(checkpoint)
    }

    /// Signs `checkpoint` as given (its ``ChainCheckpoint/keyID`` should be this key's).
    public func sign(_ checkpoint: ChainCheckpoint) throws(IntegrityError) -> SignedCheckpoint {
        do {
            let signature = try privateKey.signature(for: checkpoint.signingPayload)
            return SignedCheckpoint(checkpoint: checkpoint, signature: Array(signature))
        } catch {
            throw IntegrityError(message: "signing a checkpoint failed: \(error)")
        }
    }
}

/// A public key that checkpoints are verified with.
public struct CheckpointVerificationKey: Sendable {
    /// The Ed25519 public key.
    public let publicKey: Curve25519.Signing.PublicKey

    /// Wraps a public key.
    public init(publicKey: Curve25519.Signing.PublicKey) {
        self.publicKey = publicKey
    }

    /// A key from its 32 raw bytes in hex or base64.
    public init(publicKeyText: String) throws(IntegrityError) {
        let raw = try KeyText.decode32(publicKeyText, what: "the checkpoint verification (public) key")
        do { publicKey = try Curve25519.Signing.PublicKey(rawRepresentation: raw) } catch {
            throw IntegrityError(message: "not a valid Ed25519 public key: \(error)")
        }
    }

    /// The key id: the first 8 bytes of SHA-256 of the 32-byte public key, as 16 hex digits.
    public var keyID: String {
        HexCoding.encode(SHA256.hash(data: publicKey.rawRepresentation).prefix(8))
    }

    /// The public key as 64 hex digits.
    public var publicKeyHex: String { HexCoding.encode(publicKey.rawRepresentation) }

    /// Whether `signed` carries a valid signature by this key over its payload.
    public func isValidSignature(_ signed: SignedCheckpoint) -> Bool {
        signed.checkpoint.keyID == keyID && publicKey.isValidSignature(signed.signature, for: signed.checkpoint.signingPayload)
    }
}

/// The keys a verifier trusts, by key id (old keys stay here after a rotation).
public struct TrustedKeys: Sendable {
    /// The keys by ``CheckpointVerificationKey/keyID``.
    public private(set) var keys: [String: CheckpointVerificationKey] = [:]

    /// Trusts `keys`.
    public init(_ keys: [CheckpointVerificationKey]) {
        for key in keys { self.keys[key.keyID] = key }
    }

    /// Why `signed` is not trusted, or nil when a trusted key signed it.
    public func rejection(of signed: SignedCheckpoint) -> String? {
        guard let key = keys[signed.checkpoint.keyID] else {
            return "signed by key \(signed.checkpoint.keyID), which is not a trusted key"
        }
        guard key.publicKey.isValidSignature(signed.signature, for: signed.checkpoint.signingPayload) else {
            return "the Ed25519 signature does not match the checkpoint's contents (key \(key.keyID))"
        }
        return nil
    }
}

enum KeyText {
    /// 32 bytes from 64 hex digits or base64, whitespace trimmed.
    static func decode32(_ text: String, what: String) throws(IntegrityError) -> [UInt8] {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.utf8.count == 64, let bytes = HexCoding.decode(trimmed) { return bytes }
        if let data = Data(base64Encoded: trimmed), data.count == 32 { return Array(data) }
        throw IntegrityError(message: "\(what) must be 32 bytes written as 64 hex digits or as base64 (got \(trimmed.utf8.count) characters)")
    }
}
