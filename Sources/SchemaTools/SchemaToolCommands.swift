package import AvroCodec
import Foundation
import SchemaRegistry

/// What a schema command prints and how it exits.
package struct SchemaToolOutput: Sendable, Hashable {
    /// The process exit status (``SchemaToolExitCode``).
    package var exitCode: Int32
    /// Text for standard output.
    package var standardOutput: String
    /// Text for standard error.
    package var standardError: String

    /// Creates an output.
    package init(exitCode: Int32, standardOutput: String = "", standardError: String = "") {
        self.exitCode = exitCode
        self.standardOutput = standardOutput
        self.standardError = standardError
    }
}

/// `text` for people and CI logs, `json` for tools.
package enum SchemaOutputFormat: String, Sendable, Hashable, CaseIterable {
    /// Plain words.
    case text
    /// One JSON document on standard output.
    case json
}

/// How to reach a registry.
package struct RegistryConnection: Sendable, Hashable {
    /// The registry's base URL, e.g. `http://registry:8081`.
    package var url: String
    /// HTTP basic user (Confluent Cloud: the API key), if the registry needs one.
    package var user: String?
    /// HTTP basic password (Confluent Cloud: the API secret).
    package var password: String?
    /// Timeout of one request.
    package var timeout: Duration

    /// Creates a connection description.
    package init(url: String, user: String? = nil, password: String? = nil, timeout: Duration = .seconds(10)) {
        self.url = url
        self.user = user
        self.password = password
        self.timeout = timeout
    }

    func client() throws(SchemaToolError) -> SchemaRegistryClient {
        try RegistryHistory.client(url: url, user: user, password: password, timeout: timeout)
    }
}

/// Where `schema check` finds the previous versions.
package enum SchemaHistorySource: Sendable, Hashable {
    /// A subject of a Confluent-compatible registry.
    case registry(RegistryConnection, subject: String)
    /// A directory of `v1.avsc`, `v2.avsc`, ... (offline).
    case directory(String)
}

/// The logic of `auditpipe schema check|register|list|diff`, returning what to print and the
/// exit status (so that it is testable without a process).
package enum SchemaToolCommands {
    /// Checks the candidate schema file against the previous versions under `level`.
    /// Exit 0 compatible, 1 incompatible (problems explained), 2 when the check could not run.
    package static func check(schemaPath: String, against source: SchemaHistorySource, level: AvroCompatibilityLevel, format: SchemaOutputFormat) async -> SchemaToolOutput {
        let candidate: AvroSchema
        let previous: [SchemaVersion]
        let subjectName: String
        var registryLevel: AvroCompatibilityLevel?
        do {
            candidate = try SchemaFiles.load(path: schemaPath).schema
            switch source {
            case .directory(let directory):
                previous = try SchemaFiles.loadPreviousVersions(directory: directory)
                subjectName = "the previous versions in \(directory)"
            case .registry(let connection, let subject):
                let client = try connection.client()
                previous = try await RegistryHistory.versions(of: subject, client: client)
                subjectName = "subject \(subject) at \(connection.url)"
                // Informational only: the level the registry itself enforces on registration.
                registryLevel = try? await client.compatibilityLevel(subject: subject)
            }
        } catch {
            return failure(error, format: format)
        }
        let report = CompatibilityReport(candidate: candidate, previous: previous, level: level)
        let name = (schemaPath as NSString).lastPathComponent
        var out: String
        switch format {
        case .text:
            out = report.text(candidate: name, subject: subjectName)
            if let registryLevel, registryLevel != level {
                out += "Note: the registry enforces \(registryLevel.rawValue) for this subject on registration; this check used \(level.rawValue).\n"
            }
        case .json:
            out = report.json(candidate: name, subject: subjectName)
        }
        return SchemaToolOutput(exitCode: report.isCompatible ? SchemaToolExitCode.success : SchemaToolExitCode.incompatible, standardOutput: out)
    }

    /// Registers the schema file under `subject`; prints the version and the schema id.
    /// Exit 0 registered (or already registered), 1 refused as incompatible (explained against
    /// the subject's level), 2 on any other error.
    package static func register(schemaPath: String, registry connection: RegistryConnection, subject: String, format: SchemaOutputFormat) async -> SchemaToolOutput {
        struct Registered: Encodable {
            var subject: String
            var version: Int32
            var id: Int32
            var alreadyRegistered: Bool
        }
        do {
            let (_, text) = try SchemaFiles.load(path: schemaPath)
            let client = try connection.client()
            if let existing = try? await client.lookup(subject: subject, schema: text) {
                return registered(Registered(subject: subject, version: existing.version, id: existing.id, alreadyRegistered: true), format)
            }
            let id: Int32
            do {
                id = try await client.register(subject: subject, schema: text)
            } catch where error.kind == .incompatibleSchema {
                return try await explainRefusal(schemaPath: schemaPath, client: client, connection: connection, subject: subject, registryMessage: error.message, format: format)
            } catch {
                throw RegistryHistory.wrap(error)
            }
            let version: Int32
            do {
                version = try await client.lookup(subject: subject, schema: text).version
            } catch {
                throw RegistryHistory.wrap(error)
            }
            return registered(Registered(subject: subject, version: version, id: id, alreadyRegistered: false), format)
        } catch {
            return failure(error, format: format)
        }

        func registered(_ result: Registered, _ format: SchemaOutputFormat) -> SchemaToolOutput {
            switch format {
            case .json:
                return SchemaToolOutput(exitCode: SchemaToolExitCode.success, standardOutput: JSONOutput.encode(result))
            case .text:
                let verb = result.alreadyRegistered ? "already registered" : "registered"
                return SchemaToolOutput(exitCode: SchemaToolExitCode.success, standardOutput: "\(verb): subject \(result.subject) version \(result.version), schema id \(result.id)\n")
            }
        }
    }

    private static func explainRefusal(
        schemaPath: String, client: SchemaRegistryClient, connection: RegistryConnection, subject: String, registryMessage: String, format: SchemaOutputFormat
    ) async throws(SchemaToolError) -> SchemaToolOutput {
        let level: AvroCompatibilityLevel
        do {
            level = try await client.compatibilityLevel(subject: subject)
        } catch {
            throw RegistryHistory.wrap(error)
        }
        let candidate = try SchemaFiles.load(path: schemaPath).schema
        let previous = try await RegistryHistory.versions(of: subject, client: client)
        let report = CompatibilityReport(candidate: candidate, previous: previous, level: level)
        let name = (schemaPath as NSString).lastPathComponent
        let subjectName = "subject \(subject) at \(connection.url)"
        switch format {
        case .json:
            return SchemaToolOutput(exitCode: SchemaToolExitCode.incompatible, standardOutput: report.json(candidate: name, subject: subjectName), standardError: "the registry refused the schema: \(registryMessage)\n")
        case .text:
            var out = "The registry refused \(name) for subject \(subject) (level \(level.rawValue)): \(registryMessage)\n"
            if !report.isCompatible { out += "\n" + report.text(candidate: name, subject: subjectName) }
            return SchemaToolOutput(exitCode: SchemaToolExitCode.incompatible, standardOutput: out)
        }
    }

    /// Lists the registry's subjects with their versions, or one subject's versions with ids.
    package static func list(registry connection: RegistryConnection, subject: String?, format: SchemaOutputFormat) async -> SchemaToolOutput {
        struct Entry: Encodable {
            var subject: String
            var versions: [Version]
        }
        struct Version: Encodable {
            var version: Int
            var id: Int32?
        }
        do {
            let client = try connection.client()
            let subjects: [String]
            if let subject {
                subjects = [subject]
            } else {
                do { subjects = try await client.subjects().sorted() } catch { throw RegistryHistory.wrap(error) }
            }
            var entries: [Entry] = []
            for name in subjects {
                let versions = try await RegistryHistory.versions(of: name, client: client)
                if subject != nil && versions.isEmpty {
                    throw SchemaToolError("subject \(name) not found at \(connection.url) (no versions)")
                }
                entries.append(Entry(subject: name, versions: versions.map { Version(version: $0.version, id: $0.id) }))
            }
            switch format {
            case .json:
                return SchemaToolOutput(exitCode: SchemaToolExitCode.success, standardOutput: JSONOutput.encode(entries))
            case .text:
                if entries.isEmpty { return SchemaToolOutput(exitCode: SchemaToolExitCode.success, standardOutput: "no subjects at \(connection.url)\n") }
                var out = ""
                for entry in entries {
                    let versions = entry.versions.map { "v\($0.version) (id \($0.id.map(String.init) ?? "?"))" }.joined(separator: ", ")
                    out += "\(entry.subject): \(versions)\n"
                }
                return SchemaToolOutput(exitCode: SchemaToolExitCode.success, standardOutput: out)
            }
        } catch {
            return failure(error, format: format)
        }
    }

    /// Compares two schema files: fields added, removed, renamed, type and default changes,
    /// enum symbols, plus whether each can read the other's data. Exit 0 when it ran (whatever
    /// the differences), 2 when a file cannot be read or parsed.
    package static func diff(oldPath: String, newPath: String, format: SchemaOutputFormat) -> SchemaToolOutput {
        let old: AvroSchema
        let new: AvroSchema
        do {
            old = try SchemaFiles.load(path: oldPath).schema
            new = try SchemaFiles.load(path: newPath).schema
        } catch {
            return failure(error, format: format)
        }
        let oldName = (oldPath as NSString).lastPathComponent
        let newName = (newPath as NSString).lastPathComponent
        let changes = SchemaDiff.changes(from: old, to: new)
        let report = CompatibilityReport(
            candidate: new, previous: [SchemaVersion(version: 1, schema: old, text: "", origin: oldPath)], level: .full,
            describeVersions: { _ in "`\(oldName)`" }
        )
        let backward = report.problems.filter { $0.direction == .backward }
        let forward = report.problems.filter { $0.direction == .forward }
        switch format {
        case .json:
            struct Document: Encodable {
                var old: String
                var new: String
                var changes: [SchemaChange]
                var backwardCompatible: Bool
                var forwardCompatible: Bool
                var problems: [CompatibilityProblem]
            }
            let document = Document(
                old: oldName, new: newName, changes: changes, backwardCompatible: backward.isEmpty, forwardCompatible: forward.isEmpty, problems: report.problems
            )
            return SchemaToolOutput(exitCode: SchemaToolExitCode.success, standardOutput: JSONOutput.encode(document))
        case .text:
            var out = "\(oldName) → \(newName): "
            out += changes.isEmpty ? "no differences\n" : (changes.count == 1 ? "1 change\n" : "\(changes.count) changes\n")
            for change in changes { out += "  \(change.summary)\n" }
            out += "BACKWARD (\(newName) reads data written with \(oldName)): " + (backward.isEmpty ? "compatible\n" : "NOT compatible\n")
            for problem in backward { out += "  - \(problem.explanation)\n" }
            out += "FORWARD (\(oldName) reads data written with \(newName)): " + (forward.isEmpty ? "compatible\n" : "NOT compatible\n")
            for problem in forward { out += "  - \(problem.explanation)\n" }
            return SchemaToolOutput(exitCode: SchemaToolExitCode.success, standardOutput: out)
        }
    }

    /// Exit 2 with the message (on stderr; also as `{"error": ...}` on stdout for JSON).
    package static func failure(_ error: any Error, format: SchemaOutputFormat) -> SchemaToolOutput {
        let message = (error as? SchemaToolError)?.message ?? "\(error)"
        let retriable = (error as? SchemaToolError)?.isRetriable ?? false
        let stderr = "error: \(message)\n" + (retriable ? "(the registry may be temporarily unavailable; the check did not run, retry)\n" : "")
        switch format {
        case .text:
            return SchemaToolOutput(exitCode: SchemaToolExitCode.couldNotRun, standardError: stderr)
        case .json:
            struct Failure: Encodable {
                var error: String
                var retriable: Bool
            }
            return SchemaToolOutput(exitCode: SchemaToolExitCode.couldNotRun, standardOutput: JSONOutput.encode(Failure(error: message, retriable: retriable)), standardError: stderr)
        }
    }
}
