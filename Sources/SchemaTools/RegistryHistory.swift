import Logging
package import SchemaRegistry

/// Reading a subject's history from a Confluent-compatible schema registry.
package enum RegistryHistory {
    /// A client for `url` whose logs go nowhere (the CLI prints its own messages).
    /// - Throws: ``SchemaToolError`` when the URL is not an http(s) URL.
    package static func client(url: String, user: String? = nil, password: String? = nil, timeout: Duration = .seconds(10)) throws(SchemaToolError) -> SchemaRegistryClient {
        var configuration = SchemaRegistryClientConfiguration(baseURL: url)
        configuration.requestTimeout = timeout
        if let user {
            configuration.basicAuth = .init(user: user, password: password ?? "")
        }
        do {
            return try SchemaRegistryClient(configuration: configuration, logger: Logger(label: "auditpipe.schema", factory: { _ in SwiftLogNoOpLogHandler() }))
        } catch {
            throw SchemaToolError("invalid --registry: \(error.message)")
        }
    }

    /// Every live (not soft-deleted) version of `subject`, ascending; empty when the registry
    /// does not know the subject.
    /// - Throws: ``SchemaToolError`` when the registry cannot be reached or answers an error.
    package static func versions(of subject: String, client: SchemaRegistryClient) async throws(SchemaToolError) -> [SchemaVersion] {
        let numbers: [Int32]
        do {
            numbers = try await client.versions(subject: subject)
        } catch where error.kind == .subjectNotFound {
            return []
        } catch {
            throw wrap(error)
        }
        var versions: [SchemaVersion] = []
        for number in numbers.sorted() {
            do {
                let registered = try await client.schema(subject: subject, version: .number(number))
                versions.append(
                    SchemaVersion(
                        version: Int(registered.version), schema: registered.schema, text: registered.text,
                        origin: "subject \(subject) version \(registered.version)", id: registered.id
                    )
                )
            } catch where error.kind == .versionNotFound || error.kind == .versionSoftDeleted {
                continue  // deleted between the listing and the fetch
            } catch {
                throw wrap(error)
            }
        }
        return versions
    }

    /// A registry error as a tool error (keeps the registry's message and retriability).
    package static func wrap(_ error: SchemaRegistryError) -> SchemaToolError {
        SchemaToolError(error.description, isRetriable: error.isRetriable)
    }
}
