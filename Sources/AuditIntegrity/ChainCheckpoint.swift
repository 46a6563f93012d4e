import Foundation

/// The head of one tenant's chain at one moment: "after `sequence` events, the chain's hash was
/// `headHash`". Signed, it commits the server to everything up to that event.
public struct ChainCheckpoint: Sendable, Hashable {
    /// The tenant whose chain this is.
    public var tenantID: String
    /// The sequence number of the head event (the first event of a chain is 1).
    public var sequence: UInt64
    /// The chain hash of that event.
    public var headHash: ChainHash
    /// When the checkpoint was signed, in milliseconds since the Unix epoch (UTC).
    public var signedAtMilliseconds: Int64
    /// Which key signed it (``CheckpointSigningKey/keyID``).
    public var keyID: String

    /// Creates a checkpoint.
    public init(tenantID: String, sequence: UInt64, headHash: ChainHash, signedAtMilliseconds: Int64, keyID: String) {
        self.tenantID = tenantID
        self.sequence = sequence
        self.headHash = headHash
        self.signedAtMilliseconds = signedAtMilliseconds
        self.keyID = keyID
    }

    /// The bytes that are signed, version 1 (stable; `lp` and integers as in
    /// ``ChainedEvent/canonicalBytes``):
    ///
    /// ```
    /// lp("auditpipe.checkpoint.v1") lp(tenant_id) u64(sequence) head_hash(32 bytes)
    /// i64(signed_at_ms) lp(key_id)
    /// ```
    public var signingPayload: [UInt8] {
        var encoder = CanonicalEncoder()
        encoder.append(string: "auditpipe.checkpoint.v1")
        encoder.append(string: tenantID)
        encoder.append(uint64: sequence)
        encoder.bytes.append(contentsOf: headHash.bytes)
        encoder.append(int64: signedAtMilliseconds)
        encoder.append(string: keyID)
        return encoder.bytes
    }
}

/// A checkpoint with its Ed25519 signature over ``ChainCheckpoint/signingPayload``.
///
/// Its JSON form (one object, as written to the checkpoint topic and to export files):
///
/// ```json
/// {"version":1,"tenant_id":"t1","sequence":42,"head_hash":"<64 hex>","signed_at_ms":1770000000000,
///  "key_id":"<16 hex>","signature":"<base64 of 64 bytes>"}
/// ```
public struct SignedCheckpoint: Sendable, Hashable {
    /// What was signed.
    public var checkpoint: ChainCheckpoint
    /// The 64-byte Ed25519 signature.
    public var signature: [UInt8]

    /// Pairs a checkpoint with its signature.
    public init(checkpoint: ChainCheckpoint, signature: [UInt8]) {
        self.checkpoint = checkpoint
        self.signature = signature
    }

    /// The JSON object described on the type, keys in a fixed order, no trailing newline.
    public var json: String {
        let c = checkpoint
        return "{\"version\":1,\"tenant_id\":\(Self.quoted(c.tenantID)),\"sequence\":\(c.sequence),"
            + "\"head_hash\":\"\(c.headHash.hex)\",\"signed_at_ms\":\(c.signedAtMilliseconds),"
            + "\"key_id\":\(Self.quoted(c.keyID)),\"signature\":\"\(Data(signature).base64EncodedString())\"}"
    }

    /// Parses the JSON form.
    public init(json: some Collection<UInt8>) throws(IntegrityError) {
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else {
                throw IntegrityError(message: "a checkpoint must be a JSON object")
            }
            object = parsed
        } catch let error as IntegrityError {
            throw error
        } catch {
            throw IntegrityError(message: "a checkpoint is not valid JSON: \(error)")
        }
        func field<T>(_ name: String, _ type: T.Type) throws(IntegrityError) -> T {
            guard let value = object[name] as? T else { throw IntegrityError(message: "checkpoint JSON: field \"\(name)\" is missing or has the wrong type") }
            return value
        }
        let version = try field("version", NSNumber.self).intValue
        guard version == 1 else { throw IntegrityError(message: "checkpoint JSON: version \(version) is not supported (only 1)") }
        let tenant = try field("tenant_id", String.self)
        let sequence = try field("sequence", NSNumber.self).uint64Value
        guard let head = ChainHash(hex: try field("head_hash", String.self)) else {
            throw IntegrityError(message: "checkpoint JSON: head_hash must be 64 hex digits")
        }
        let signedAt = try field("signed_at_ms", NSNumber.self).int64Value
        let keyID = try field("key_id", String.self)
        guard let signature = Data(base64Encoded: try field("signature", String.self)) else {
            throw IntegrityError(message: "checkpoint JSON: signature must be base64")
        }
        self.init(
            checkpoint: ChainCheckpoint(tenantID: tenant, sequence: sequence, headHash: head, signedAtMilliseconds: signedAt, keyID: keyID),
            signature: Array(signature)
        )
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// An error of the integrity layer (bad key material, malformed checkpoint), with a message
/// saying what to do.
public struct IntegrityError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong and what to do.
    public var message: String

    /// Creates an error.
    public init(message: String) { self.message = message }

    /// The message.
    public var description: String { "IntegrityError: \(message)" }
}
