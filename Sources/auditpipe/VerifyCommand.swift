import ArgumentParser
import AuditIntegrity
import AuditQuery
import AuditSink
import AuditStore
import ClickHouseHTTP
import Foundation

/// `auditpipe verify`: checks a tenant's hash chain in ClickHouse against its signed checkpoints;
/// `verify keygen` makes a checkpoint signing key; `verify export` writes checkpoints to files.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Prove that a tenant's stored audit events were not altered, removed, inserted or reordered.",
        discussion: """
            Reads the tenant's rows and signed checkpoints straight from ClickHouse (not through \
            the server), recomputes the hash chain from the latest checkpoint before the range \
            (or from the start of the chain) and checks every checkpoint with the public keys \
            given. Checkpoints kept by a witness (--witness DIR, files from `verify export` or \
            the server's export directory) are checked too.

            Examples:
              auditpipe verify --tenant acme --public-key 3b6a27bc...
              auditpipe verify --tenant acme --from 2026-03-01 --to 2026-04-01 --public-key-file key.pub
              auditpipe verify --tenant acme --from-seq 1000 --to-seq 2000 --witness /mnt/witness
              auditpipe verify keygen --out checkpoint.key
              auditpipe verify export --tenant acme --out /mnt/witness

            Exit status: 0 when the range verifies, 2 when a problem was found (it is printed), \
            1 on any other error.
            """,
        subcommands: [Chain.self, Keygen.self, Export.self],
        defaultSubcommand: Chain.self
    )

    /// Where the events and checkpoints are.
    struct ClickHouseOptions: ParsableArguments {
        @Option(name: .customLong("clickhouse-url"), help: "ClickHouse HTTP interface URL. [env: AUDITPIPE_CLICKHOUSE_URL]")
        var url: String?

        @Option(name: .customLong("clickhouse-user"), help: "ClickHouse user. [env: AUDITPIPE_CLICKHOUSE_USER, default default]")
        var user: String?

        @Option(name: .customLong("clickhouse-password"), help: "ClickHouse password; prefer the variable. [env: AUDITPIPE_CLICKHOUSE_PASSWORD]")
        var password: String?

        @Option(name: .customLong("clickhouse-database"), help: "The database of AuditPipe's tables. [env: AUDITPIPE_CLICKHOUSE_DATABASE, default auditpipe]")
        var database: String?

        func store() throws -> ClickHouseEventStore {
            let environment = ProcessInfo.processInfo.environment
            guard let url = url ?? environment["AUDITPIPE_CLICKHOUSE_URL"], !url.isEmpty else {
                throw ValidationError("--clickhouse-url (or AUDITPIPE_CLICKHOUSE_URL) is required")
            }
            let client = try ClickHouseClient(
                configuration: ClickHouseConfiguration(
                    url: url, user: user ?? environment["AUDITPIPE_CLICKHOUSE_USER"] ?? "default",
                    password: password ?? environment["AUDITPIPE_CLICKHOUSE_PASSWORD"] ?? "",
                    database: database ?? environment["AUDITPIPE_CLICKHOUSE_DATABASE"] ?? "auditpipe"
                )
            )
            return try ClickHouseEventStore(client: client, tables: ClickHouseTables())
        }
    }

    /// `auditpipe verify [chain]`.
    struct Chain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "chain", abstract: "Verify a tenant's hash chain (the default).")

        @Option(help: "The tenant whose chain to verify.")
        var tenant: String

        @Option(name: .customLong("from-seq"), help: "First chain sequence number to verify (inclusive).")
        var fromSequence: UInt64?

        @Option(name: .customLong("to-seq"), help: "Last chain sequence number to verify (inclusive).")
        var toSequence: UInt64?

        @Option(help: "Verify the events from this time, inclusive: YYYY-MM-DD (midnight UTC) or RFC 3339.")
        var from: String?

        @Option(help: "... to this time, exclusive.")
        var to: String?

        @Option(name: .customLong("public-key"), help: "A trusted checkpoint public key, 64 hex digits or base64 (repeatable, for rotated keys). [env: AUDITPIPE_CHECKPOINT_PUBLIC_KEYS, comma-separated]")
        var publicKeys: [String] = []

        @Option(name: .customLong("public-key-file"), help: "A file holding a trusted public key (repeatable).")
        var publicKeyFiles: [String] = []

        @Option(help: "A directory of checkpoint files kept by a witness (from `verify export` or the server's export directory).")
        var witness: String?

        @Flag(help: "Print the result as one JSON object.")
        var json = false

        @OptionGroup var clickhouse: ClickHouseOptions

        func validate() throws {
            if (fromSequence != nil || toSequence != nil), (from != nil || to != nil) {
                throw ValidationError("give a sequence range (--from-seq/--to-seq) or a time range (--from/--to), not both")
            }
            if let fromSequence, let toSequence, fromSequence > toSequence {
                throw ValidationError("--from-seq (\(fromSequence)) must not be after --to-seq (\(toSequence))")
            }
            if (from == nil) != (to == nil) { throw ValidationError("--from and --to go together") }
        }

        func run() async throws {
            var texts = publicKeys
            if let variable = ProcessInfo.processInfo.environment["AUDITPIPE_CHECKPOINT_PUBLIC_KEYS"], publicKeys.isEmpty {
                texts += variable.split(separator: ",").map(String.init)
            }
            for file in publicKeyFiles { texts.append(try String(contentsOfFile: file, encoding: .utf8)) }
            guard !texts.isEmpty else { throw ValidationError("give at least one --public-key or --public-key-file: without one no checkpoint can be trusted") }
            let keys = try texts.map { text throws(IntegrityError) in try CheckpointVerificationKey(publicKeyText: text) }
            let range: ChainRange
            if let from, let to {
                let start = try ReportDate.milliseconds(from, option: "--from")
                let end = try ReportDate.milliseconds(to, option: "--to")
                guard start < end else { throw ValidationError("--to must be after --from") }
                range = .times(start...(end - 1))
            } else if fromSequence != nil || toSequence != nil {
                range = .sequences(max(fromSequence ?? 1, 1)...(toSequence ?? UInt64(Int64.max)))
            } else {
                range = .all
            }
            let witnesses = try witness.map { try ChainCheckpointExport.read(from: $0, tenantID: tenant) } ?? []
            let store = try clickhouse.store()
            let report: ChainVerificationReport
            do {
                report = try await ChainAuditor(store: store, trustedKeys: TrustedKeys(keys)).verify(tenantID: tenant, range: range, witnessCheckpoints: witnesses)
            } catch {
                try? await store.client.shutdown()
                throw error
            }
            try? await store.client.shutdown()
            print(json ? VerifyOutput.json(report) : VerifyOutput.text(report))
            if !report.isIntact { throw ExitCode(2) }
        }
    }

    /// `auditpipe verify keygen`.
    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keygen",
            abstract: "Create an Ed25519 checkpoint signing key.",
            discussion: """
                Writes the 32-byte seed (64 hex digits) to --out with mode 0600 and prints the key \
                id and the public key. Give the seed file to the server only \
                (AUDITPIPE_CHECKPOINT_KEY_FILE); give the public key to auditors and witnesses.
                """
        )

        @Option(help: "Where to write the private seed (must not exist).")
        var out: String

        func run() async throws {
            guard !FileManager.default.fileExists(atPath: out) else { throw ValidationError("\(out) exists: refusing to overwrite a signing key") }
            let key = CheckpointSigningKey.generate()
            guard FileManager.default.createFile(atPath: out, contents: Data((key.seedHex + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot write \(out)")
            }
            print("key id:     \(key.keyID)")
            print("public key: \(key.verificationKey.publicKeyHex)")
            print("seed written to \(out) (mode 0600); keep it apart from the database and the checkpoint copies")
        }
    }

    /// `auditpipe verify export`.
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write a tenant's stored checkpoints to a directory, one JSON file each, for an external witness."
        )

        @Option(help: "The tenant.")
        var tenant: String

        @Option(name: .customLong("from-seq"), help: "Only checkpoints at or after this sequence number.")
        var fromSequence: UInt64 = 1

        @Option(help: "The directory to write to (created when missing; existing files are kept).")
        var out: String

        @OptionGroup var clickhouse: ClickHouseOptions

        func run() async throws {
            let store = try clickhouse.store()
            let checkpoints: [SignedCheckpoint]
            do {
                checkpoints = try await store.checkpoints(tenantID: tenant, sequences: fromSequence...UInt64(Int64.max))
            } catch {
                try? await store.client.shutdown()
                throw error
            }
            try? await store.client.shutdown()
            let written = try ChainCheckpointExport.write(checkpoints, to: out)
            print("\(checkpoints.count) checkpoints of \(tenant); \(written.count) new files in \(out)")
        }
    }
}

/// How `auditpipe verify` prints a report.
enum VerifyOutput {
    static func text(_ report: ChainVerificationReport) -> String {
        let start = report.startSequence == 0 ? "the start of the chain" : "the signed checkpoint at \(report.startSequence)"
        var lines = [
            "tenant \(report.tenantID): \(report.verifiedRows) rows verified from \(start) through sequence \(report.lastVerifiedSequence), \(report.verifiedCheckpoints) checkpoints verified",
        ]
        if let problem = report.problem {
            lines.append("TAMPERING DETECTED (\(problem.kind)) at sequence \(problem.sequence): \(problem.description)")
        } else {
            lines.append("OK: head \(report.lastVerifiedHash.hex)")
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ report: ChainVerificationReport) -> String {
        var object: [String: Any] = [
            "tenant_id": report.tenantID, "intact": report.isIntact, "start_sequence": report.startSequence,
            "last_verified_sequence": report.lastVerifiedSequence, "last_verified_hash": report.lastVerifiedHash.hex,
            "verified_rows": report.verifiedRows, "verified_checkpoints": report.verifiedCheckpoints,
        ]
        if let problem = report.problem {
            object["problem"] = ["kind": problem.kind, "sequence": problem.sequence, "description": problem.description]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
