import AuditIntegrity
import Crypto
import Foundation
import Testing

/// A chain of `count` events of one tenant, as the sink would store it.
func makeChain(tenant: String = "t1", count: Int, startingAfter head: ChainHead? = nil) -> [ChainRow] {
    var head = head ?? .genesis(tenantID: tenant)
    return (0..<count).map { i in
        let event = ChainedEvent(
            tenantID: tenant, eventID: "evt-\(head.sequence + 1)", eventType: i % 2 == 0 ? "auth" : "data",
            timestampMilliseconds: 1_770_000_000_000 + Int64(i) * 1000, actorID: "user-\(i % 3)", resource: "doc/\(i)",
            action: "read", metadata: ["i": String(i), "ip": "10.0.0.\(i % 250)"], schemaID: 1, kafkaPartition: 2, kafkaOffset: Int64(100 + i)
        )
        let (sequence, hash) = head.append(event)
        return ChainRow(sequence: sequence, storedHash: hash, event: event)
    }
}

@Suite("Canonical encoding and chain hashes")
struct CanonicalEncodingTests {
    @Test func encodingIsLengthPrefixedWithSortedMetadata() {
        let event = ChainedEvent(
            tenantID: "t", eventID: "e", eventType: "auth", timestampMilliseconds: 1, actorID: "a", resource: "r", action: "x",
            metadata: ["b": "2", "a": "1"], schemaID: 7, kafkaPartition: 3, kafkaOffset: 258
        )
        var expected: [UInt8] = []
        func lp(_ s: String) { expected += [0, 0, 0, UInt8(s.utf8.count)] + Array(s.utf8) }
        lp("auditpipe.event.v1"); lp("t"); lp("e"); lp("auth")
        expected += [0, 0, 0, 0, 0, 0, 0, 1]
        lp("a"); lp("r"); lp("x")
        expected += [0, 0, 0, 2]
        lp("a"); lp("1"); lp("b"); lp("2")
        expected += [0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 1, 2]
        #expect(event.canonicalBytes == expected)
    }

    @Test func metadataIsSortedByUTF8BytesNotByInsertionOrHashing() {
        var a = makeChain(count: 1)[0].event
        a.metadata = ["z": "1", "Z": "2", "é": "3", "e": "4"]
        var b = a
        b.metadata = ["e": "4", "é": "3", "Z": "2", "z": "1"]
        #expect(a.canonicalBytes == b.canonicalBytes)
        // Moving a character from one field to the next changes the encoding (length prefixes).
        var c = a
        c.actorID = a.actorID + "x"
        var d = a
        d.resource = "x" + a.resource
        #expect(c.canonicalBytes != d.canonicalBytes)
    }

    @Test func genesisAndLinkMatchAnIndependentSHA256Computation() {
        let genesis = ChainHash.genesis(tenantID: "acme")
        var input: [UInt8] = [0, 0, 0, 26] + Array("auditpipe.chain.v1.genesis".utf8) + [0, 0, 0, 4] + Array("acme".utf8)
        #expect(genesis.bytes == Array(SHA256.hash(data: input)))
        #expect(genesis != ChainHash.genesis(tenantID: "acme2"))
        let event = makeChain(tenant: "acme", count: 1)[0].event
        input = genesis.bytes + event.canonicalBytes
        #expect(ChainHash.link(previous: genesis, event: event).bytes == Array(SHA256.hash(data: input)))
        // Golden vector (SHA-256 of the empty string) through the hex round trip.
        let empty = ChainHash(hex: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")!
        #expect(empty.bytes == Array(SHA256.hash(data: [UInt8]())))
        #expect(ChainHash(hex: empty.hex) == empty)
        #expect(ChainHash(hex: "abc") == nil)
    }

    @Test func appendingIsDeterministic() {
        #expect(makeChain(count: 20) == makeChain(count: 20))
        let rows = makeChain(count: 3)
        #expect(rows.map(\.sequence) == [1, 2, 3])
    }
}

@Suite("Checkpoints and keys")
struct CheckpointTests {
    @Test func signsAndVerifiesAndRejectsChanges() throws {
        let key = CheckpointSigningKey.generate()
        let head = makeChain(count: 5).last!
        let signed = try key.sign(tenantID: "t1", sequence: 5, headHash: head.storedHash, signedAtMilliseconds: 1_770_000_000_000)
        let trusted = TrustedKeys([key.verificationKey])
        #expect(trusted.rejection(of: signed) == nil)
        #expect(key.verificationKey.isValidSignature(signed))
        var altered = signed
        altered.checkpoint.sequence = 6
        #expect(trusted.rejection(of: altered)?.contains("does not match") == true)
        let other = CheckpointSigningKey.generate()
        let foreign = try other.sign(signed.checkpoint.withKeyID(other.keyID))
        #expect(trusted.rejection(of: foreign)?.contains("not a trusted key") == true)
        // A checkpoint re-signed by another key but claiming the trusted key id.
        let impostor = try other.sign(signed.checkpoint)
        #expect(trusted.rejection(of: impostor)?.contains("does not match") == true)
    }

    @Test func keyLoadsFromHexOrBase64SeedAndHasAStableID() throws {
        let seed = Array(repeating: UInt8(7), count: 32)
        let hex = String(repeating: "07", count: 32)
        let fromHex = try CheckpointSigningKey(seedText: hex + "\n")
        let fromBase64 = try CheckpointSigningKey(seedText: Data(seed).base64EncodedString())
        #expect(fromHex.keyID == fromBase64.keyID)
        #expect(fromHex.keyID.count == 16)
        #expect(fromHex.seedHex == hex)
        let expectedID = SHA256.hash(data: fromHex.privateKey.publicKey.rawRepresentation).prefix(8).map { String(format: "%02x", $0) }.joined()
        #expect(fromHex.keyID == expectedID)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID().uuidString)").path
        try (hex + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try CheckpointSigningKey(contentsOfFile: file).keyID == fromHex.keyID)
        #expect(throws: IntegrityError.self) { try CheckpointSigningKey(seedText: "0102") }
        #expect(throws: IntegrityError.self) { try CheckpointSigningKey(contentsOfFile: file + ".missing") }
        let publicKey = try CheckpointVerificationKey(publicKeyText: fromHex.verificationKey.publicKeyHex)
        #expect(publicKey.keyID == fromHex.keyID)
    }

    @Test func jsonRoundTripsAndSignatureSurvivesIt() throws {
        let key = CheckpointSigningKey.generate()
        let signed = try key.sign(tenantID: "te\"nant\n", sequence: 42, headHash: .genesis(tenantID: "x"), signedAtMilliseconds: 1_770_000_000_123)
        let parsed = try SignedCheckpoint(json: Array(signed.json.utf8))
        #expect(parsed == signed)
        #expect(TrustedKeys([key.verificationKey]).rejection(of: parsed) == nil)
        #expect(throws: IntegrityError.self) { try SignedCheckpoint(json: Array("{\"version\":2}".utf8)) }
        #expect(throws: IntegrityError.self) { try SignedCheckpoint(json: Array("not json".utf8)) }
    }

    @Test func signingPayloadBindsEveryField() throws {
        let base = ChainCheckpoint(tenantID: "t", sequence: 1, headHash: .genesis(tenantID: "t"), signedAtMilliseconds: 5, keyID: "k")
        var variants = [base, base, base, base, base]
        variants[0].tenantID = "u"
        variants[1].sequence = 2
        variants[2].headHash = .genesis(tenantID: "u")
        variants[3].signedAtMilliseconds = 6
        variants[4].keyID = "l"
        for variant in variants { #expect(variant.signingPayload != base.signingPayload) }
    }
}

extension ChainCheckpoint {
    func withKeyID(_ id: String) -> ChainCheckpoint {
        var copy = self
        copy.keyID = id
        return copy
    }
}

@Suite("Chain verifier names the first problem")
struct ChainVerifierTests {
    let key = CheckpointSigningKey.generate()
    var verifier: ChainVerifier { ChainVerifier(tenantID: "t1", trustedKeys: TrustedKeys([key.verificationKey])) }

    func checkpoint(_ row: ChainRow) throws -> SignedCheckpoint {
        try key.sign(tenantID: "t1", sequence: row.sequence, headHash: row.storedHash, signedAtMilliseconds: 1_770_000_000_000)
    }

    @Test func cleanChainVerifiesFromGenesisAndFromACheckpoint() throws {
        let rows = makeChain(count: 30)
        let all = verifier.verify(rows: rows.shuffled(), start: nil, checkpoints: [try checkpoint(rows[9]), try checkpoint(rows[29])])
        #expect(all.problem == nil)
        #expect(all.verifiedRows == 30 && all.verifiedCheckpoints == 2)
        #expect(all.lastVerifiedSequence == 30 && all.lastVerifiedHash == rows[29].storedHash)
        // Rows 1...10 dropped by retention: start from the checkpoint at 10.
        let tail = verifier.verify(rows: Array(rows[10...]), start: try checkpoint(rows[9]), checkpoints: [try checkpoint(rows[29])])
        #expect(tail.problem == nil)
        #expect(tail.startSequence == 10 && tail.verifiedRows == 20 && tail.verifiedCheckpoints == 2)
        // Including the row at the start's sequence is fine too.
        #expect(verifier.verify(rows: Array(rows[9...]), start: try checkpoint(rows[9]), checkpoints: []).problem == nil)
        #expect(verifier.verify(rows: [], start: nil, checkpoints: []).problem == nil)
    }

    @Test func modifiedContentIsNamed() {
        var rows = makeChain(count: 10)
        rows[4].event.resource = "doc/secret"
        #expect(verifier.verify(rows: rows, start: nil, checkpoints: []).problem == .modifiedRow(sequence: 5, eventID: "evt-5", contentChanged: true))
        var metadata = makeChain(count: 10)
        metadata[6].event.metadata["ip"] = "1.2.3.4"
        #expect(verifier.verify(rows: metadata, start: nil, checkpoints: []).problem == .modifiedRow(sequence: 7, eventID: "evt-7", contentChanged: true))
        var last = makeChain(count: 10)
        last[9].event.actorID = "mallory"
        #expect(verifier.verify(rows: last, start: nil, checkpoints: []).problem == .modifiedRow(sequence: 10, eventID: "evt-10", contentChanged: true))
    }

    @Test func modifiedStoredHashIsNamed() {
        var rows = makeChain(count: 10)
        rows[3].storedHash = .genesis(tenantID: "forged")
        #expect(verifier.verify(rows: rows, start: nil, checkpoints: []).problem == .modifiedRow(sequence: 4, eventID: "evt-4", contentChanged: false))
    }

    @Test func gapIsAMissingRow() throws {
        var rows = makeChain(count: 10)
        rows.remove(at: 4)
        #expect(verifier.verify(rows: rows, start: nil, checkpoints: []).problem == .missingRows(from: 5, to: 5))
        var several = makeChain(count: 10)
        several.removeSubrange(2..<5)
        #expect(verifier.verify(rows: several, start: nil, checkpoints: []).problem == .missingRows(from: 3, to: 5))
        // Rows cut off at the end: only a checkpoint can tell.
        let full = makeChain(count: 10)
        let cut = Array(full.prefix(7))
        #expect(verifier.verify(rows: cut, start: nil, checkpoints: []).problem == nil)
        #expect(verifier.verify(rows: cut, start: nil, checkpoints: [try checkpoint(full[9])]).problem == .missingRows(from: 8, to: 10))
    }

    @Test func insertedRowsAreNamed() {
        let rows = makeChain(count: 10)
        // A forged row claiming an existing position (listed before or after the real one).
        var forged = rows[5]
        forged.event.eventID = "evt-forged"
        for list in [rows + [forged], [forged] + rows] {
            #expect(verifier.verify(rows: list, start: nil, checkpoints: []).problem == .insertedRow(sequence: 6, eventID: "evt-forged", reason: .duplicateSequence))
        }
        // A row without a chain position.
        var unchained = forged
        unchained.sequence = 0
        #expect(verifier.verify(rows: rows + [unchained], start: nil, checkpoints: []).problem == .insertedRow(sequence: 0, eventID: "evt-forged", reason: .unchained))
        // A forged row with the later rows renumbered, with a made-up hash...
        var shifted = rows
        var extra = rows[3]
        extra.event.eventID = "evt-extra"
        extra.storedHash = .genesis(tenantID: "made-up")
        shifted.insert(extra, at: 3)
        for i in 4..<shifted.count { shifted[i].sequence += 1 }
        #expect(verifier.verify(rows: shifted, start: nil, checkpoints: []).problem == .insertedRow(sequence: 4, eventID: "evt-extra", reason: .notOnChain))
        // ...or with a hash correctly computed from its predecessor.
        shifted[3].storedHash = ChainHash.link(previous: rows[2].storedHash, event: extra.event)
        #expect(verifier.verify(rows: shifted, start: nil, checkpoints: []).problem == .insertedRow(sequence: 4, eventID: "evt-extra", reason: .notOnChain))
    }

    @Test func swappedPairIsReordered() {
        let rows = makeChain(count: 10)
        // Sequence numbers swapped (each row keeps its content and hash).
        var bySequence = rows
        bySequence[4].sequence = 6
        bySequence[5].sequence = 5
        #expect(verifier.verify(rows: bySequence, start: nil, checkpoints: []).problem == .reorderedRows(sequence: 5, otherSequence: 6, eventID: "evt-6"))
        // Contents swapped (sequence numbers and hashes stay in place).
        var byContent = rows
        byContent[4].event = rows[5].event
        byContent[5].event = rows[4].event
        #expect(verifier.verify(rows: byContent, start: nil, checkpoints: []).problem == .reorderedRows(sequence: 5, otherSequence: 6, eventID: "evt-6"))
        // A row moved three places later.
        var moved = rows
        let row = moved.remove(at: 2)
        moved.insert(row, at: 5)
        for i in moved.indices { moved[i].sequence = UInt64(i + 1) }
        let problem = verifier.verify(rows: moved, start: nil, checkpoints: []).problem
        #expect(problem?.kind == "reordered_rows" && problem?.sequence == 3)
    }

    @Test func forgedCheckpointHasABadSignature() throws {
        let rows = makeChain(count: 10)
        var forged = try checkpoint(rows[7])
        forged.checkpoint.headHash = rows[8].storedHash
        forged.checkpoint.sequence = 9
        let report = verifier.verify(rows: rows, start: nil, checkpoints: [try checkpoint(rows[3]), forged])
        #expect(report.problem == .badCheckpointSignature(sequence: 9, keyID: key.keyID, reason: "the Ed25519 signature does not match the checkpoint's contents (key \(key.keyID))"))
        #expect(report.verifiedCheckpoints == 1)
        // By a key the verifier does not trust.
        let stranger = CheckpointSigningKey.generate()
        let foreign = try stranger.sign(tenantID: "t1", sequence: 4, headHash: rows[3].storedHash, signedAtMilliseconds: 1)
        #expect(verifier.verify(rows: rows, start: nil, checkpoints: [foreign]).problem?.kind == "bad_checkpoint_signature")
        // A start checkpoint that does not verify is reported before anything else.
        #expect(verifier.verify(rows: Array(rows[5...]), start: foreign, checkpoints: []).problem?.kind == "bad_checkpoint_signature")
        // Another tenant's checkpoint.
        let otherTenant = try key.sign(tenantID: "t2", sequence: 4, headHash: rows[3].storedHash, signedAtMilliseconds: 1)
        #expect(verifier.verify(rows: rows, start: nil, checkpoints: [otherTenant]).problem?.kind == "bad_checkpoint_signature")
    }

    @Test func consistentlyRewrittenChainDisagreesWithItsCheckpoint() throws {
        let rows = makeChain(count: 10)
        let signed = try checkpoint(rows[7])
        // The attacker edits row 3 and recomputes every hash after it.
        var rewritten = Array(rows.prefix(2))
        var head = ChainHead(tenantID: "t1", sequence: 2, hash: rows[1].storedHash)
        for var row in rows[2...] {
            if row.sequence == 3 { row.event.action = "delete" }
            let (sequence, hash) = head.append(row.event)
            rewritten.append(ChainRow(sequence: sequence, storedHash: hash, event: row.event))
        }
        let report = verifier.verify(rows: rewritten, start: nil, checkpoints: [signed])
        #expect(report.problem == .checkpointMismatch(sequence: 8, signedHash: rows[7].storedHash, recomputedHash: rewritten[7].storedHash))
        #expect(report.verifiedRows == 8)
        // Starting from a checkpoint whose row was rewritten.
        let start = verifier.verify(rows: Array(rewritten[7...]), start: signed, checkpoints: [])
        #expect(start.problem?.kind == "checkpoint_mismatch")
    }

    @Test func reportsTheFirstProblemInSequenceOrder() {
        var rows = makeChain(count: 20)
        rows[15].event.resource = "late"
        rows.remove(at: 6)
        #expect(verifier.verify(rows: rows, start: nil, checkpoints: []).problem == .missingRows(from: 7, to: 7))
    }
}
