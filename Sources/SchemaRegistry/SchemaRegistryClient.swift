package import AsyncHTTPClient
package import AvroCodec
import Foundation
package import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Settings of a ``SchemaRegistryClient``.
package struct SchemaRegistryClientConfiguration: Sendable, Hashable {
    /// The registry's base URL, e.g. `http://registry:8081` (a path prefix is allowed). Required.
    package var baseURL: String
    /// How long a fetched `latest` version is served from the cache before it is fetched again.
    /// Default 30 s. Ids and pinned versions are immutable and cached for ever.
    package var latestTTL: Duration = .seconds(30)
    /// Timeout of one HTTP request. Default 10 s.
    package var requestTimeout: Duration = .seconds(10)
    /// HTTP basic credentials (`user`, `password`), if the registry needs them.
    package var basicAuth: BasicAuth?

    /// HTTP basic credentials.
    package struct BasicAuth: Sendable, Hashable {
        /// The user name (Confluent Cloud: the API key).
        package var user: String
        /// The password (Confluent Cloud: the API secret).
        package var password: String

        /// Creates credentials.
        package init(user: String, password: String) {
            self.user = user
            self.password = password
        }
    }

    /// A configuration with the documented defaults.
    package init(baseURL: String) {
        self.baseURL = baseURL
    }

    /// Checks the fields; the error names the field and the rule.
    package func validate() throws(SchemaRegistryError) {
        guard let url = URL(string: baseURL), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil else {
            throw SchemaRegistryError(.badRequest, "SchemaRegistryClientConfiguration.baseURL must be an http(s) URL with a host (got \"\(baseURL)\")")
        }
        guard latestTTL >= .zero else {
            throw SchemaRegistryError(.badRequest, "SchemaRegistryClientConfiguration.latestTTL must not be negative")
        }
        guard requestTimeout > .zero else {
            throw SchemaRegistryError(.badRequest, "SchemaRegistryClientConfiguration.requestTimeout must be positive")
        }
    }
}

/// A registered schema as the registry describes it.
package struct RegisteredSchema: Sendable, Hashable {
    /// The subject.
    package var subject: String
    /// The version within the subject.
    package var version: Int32
    /// The global schema id (what the Confluent wire format carries).
    package var id: Int32
    /// The schema's JSON text as the registry returned it.
    package var text: String
    /// The parsed schema.
    package var schema: AvroSchema
}

/// The verdict of a compatibility check.
package struct CompatibilityResult: Sendable, Hashable {
    /// Whether the candidate may be registered.
    package var isCompatible: Bool
    /// The registry's explanations (only with `verbose`).
    package var messages: [String]
}

/// What the client's cache did for one schema lookup (for the `auditpipe_registry_cache_total`
/// metric).
package enum SchemaCacheResult: String, Sendable, Hashable, CaseIterable {
    /// Answered from the cache.
    case hit
    /// Fetched from the registry (not cached, or a `latest` older than its TTL).
    case miss
    /// The registry was unreachable and a previously fetched, possibly outdated, `latest` was
    /// served (that lookup also counted as a ``miss``: the registry was asked first).
    case stale
}

/// A client of the Confluent Schema Registry REST API (Confluent's registry, or the one auditpipe
/// serves), over AsyncHTTPClient, with a cache.
///
/// Caching: schemas by id and pinned subject versions never change, so they are cached for ever.
/// `latest` is cached for ``SchemaRegistryClientConfiguration/latestTTL``. When the registry
/// cannot be reached (connection failure or a 5xx answer) and a `latest` for the subject was
/// fetched before, that possibly stale schema is served (and a warning logged) so ingest keeps
/// working through a registry outage with the schemas it already used; with nothing cached the
/// call fails closed with a retriable ``SchemaRegistryError/Kind/unreachable`` error.
package final class SchemaRegistryClient: Sendable {
    private struct Cache {
        var byID: [Int32: AvroSchema] = [:]
        var byVersion: [SubjectVersion: RegisteredSchema] = [:]
        var latest: [String: (schema: RegisteredSchema, fetched: ContinuousClock.Instant)] = [:]
    }

    private struct SubjectVersion: Hashable {
        var subject: String
        var version: Int32
    }

    /// The configuration in use.
    package let configuration: SchemaRegistryClientConfiguration
    private let httpClient: HTTPClient
    private let logger: Logger
    private let cache = Mutex(Cache())
    private let baseURL: String
    private let cacheObserver: (@Sendable (SchemaCacheResult) -> Void)?

    /// Creates a client. It does not own `httpClient` (default: the shared client).
    /// `cacheObserver` sees the outcome of every cached lookup (`schema(id:)` and
    /// `schema(subject:version:)`), e.g. to count cache hits.
    /// - Throws: when the configuration is invalid.
    package init(
        configuration: SchemaRegistryClientConfiguration, httpClient: HTTPClient = .shared, logger: Logger,
        cacheObserver: (@Sendable (SchemaCacheResult) -> Void)? = nil
    ) throws(SchemaRegistryError) {
        try configuration.validate()
        self.configuration = configuration
        self.httpClient = httpClient
        self.logger = logger
        self.cacheObserver = cacheObserver
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
    }

    // MARK: Schemas

    /// Registers `schema` under `subject` (`POST /subjects/{subject}/versions`); registering an
    /// already registered schema returns its existing id.
    /// - Returns: the schema id.
    package func register(subject: String, schema: String) async throws(SchemaRegistryError) -> Int32 {
        struct Reply: Decodable { var id: Int32 }
        let reply: Reply = try await call(.POST, "subjects/\(escape(subject))/versions", body: ["schema": schema])
        return reply.id
    }

    /// The schema with global id `id` (`GET /schemas/ids/{id}`), cached for ever.
    package func schema(id: Int32) async throws(SchemaRegistryError) -> AvroSchema {
        if let cached = cache.withLock({ $0.byID[id] }) {
            cacheObserver?(.hit)
            return cached
        }
        cacheObserver?(.miss)
        struct Reply: Decodable {
            var schema: String
            var schemaType: String?
        }
        let reply: Reply = try await call(.GET, "schemas/ids/\(id)")
        if let type = reply.schemaType, type != "AVRO" {
            throw SchemaRegistryError(.invalidSchema, "schema \(id) is a \(type) schema; only AVRO is supported")
        }
        let schema = try parse(reply.schema, what: "schema \(id)")
        cache.withLock { $0.byID[id] = schema }
        return schema
    }

    /// A version of a subject (`GET /subjects/{subject}/versions/{version}`). Pinned versions are
    /// cached for ever; `latest` for ``SchemaRegistryClientConfiguration/latestTTL``, and a cached
    /// `latest` is served, possibly stale, while the registry is unreachable (see the type's
    /// documentation).
    package func schema(subject: String, version: SchemaVersionSelector) async throws(SchemaRegistryError) -> RegisteredSchema {
        switch version {
        case .number(let number):
            if let cached = cache.withLock({ $0.byVersion[SubjectVersion(subject: subject, version: number)] }) {
                cacheObserver?(.hit)
                return cached
            }
            cacheObserver?(.miss)
            let fetched = try await fetchVersion(subject: subject, version: version)
            cache.withLock { $0.byVersion[SubjectVersion(subject: subject, version: number)] = fetched }
            return fetched
        case .latest:
            let cached = cache.withLock { $0.latest[subject] }
            if let cached, ContinuousClock.now - cached.fetched < configuration.latestTTL {
                cacheObserver?(.hit)
                return cached.schema
            }
            cacheObserver?(.miss)
            do {
                let fetched = try await fetchVersion(subject: subject, version: .latest)
                cache.withLock { $0.latest[subject] = (fetched, .now) }
                return fetched
            } catch where error.isRetriable {
                if let cached {
                    cacheObserver?(.stale)
                    logger.warning(
                        "schema registry unavailable; serving the cached latest schema",
                        metadata: ["subject": "\(subject)", "id": "\(cached.schema.id)", "version": "\(cached.schema.version)", "error": "\(error.message)"]
                    )
                    return cached.schema
                }
                throw .noCachedSchema(subject: subject, cause: error)
            }
        }
    }

    private func fetchVersion(subject: String, version: SchemaVersionSelector) async throws(SchemaRegistryError) -> RegisteredSchema {
        struct Reply: Decodable {
            var subject: String
            var version: Int32
            var id: Int32
            var schema: String
            var schemaType: String?
        }
        let reply: Reply = try await call(.GET, "subjects/\(escape(subject))/versions/\(version)")
        if let type = reply.schemaType, type != "AVRO" {
            throw SchemaRegistryError(.invalidSchema, "subject \(subject) version \(reply.version) is a \(type) schema; only AVRO is supported")
        }
        let schema = try parse(reply.schema, what: "subject \(subject) version \(reply.version)")
        cache.withLock { $0.byID[reply.id] = schema }
        return RegisteredSchema(subject: reply.subject, version: reply.version, id: reply.id, text: reply.schema, schema: schema)
    }

    /// The version of `subject` holding `schema` (`POST /subjects/{subject}`).
    package func lookup(subject: String, schema: String) async throws(SchemaRegistryError) -> RegisteredSchema {
        struct Reply: Decodable {
            var subject: String
            var version: Int32
            var id: Int32
            var schema: String
        }
        let reply: Reply = try await call(.POST, "subjects/\(escape(subject))", body: ["schema": schema])
        return RegisteredSchema(subject: reply.subject, version: reply.version, id: reply.id, text: reply.schema, schema: try parse(reply.schema, what: "subject \(subject)"))
    }

    /// Checks `schema` against one version of the subject, or all (per its level) when `version`
    /// is nil (`POST /compatibility/subjects/{subject}/versions[/{version}]`).
    package func checkCompatibility(subject: String, schema: String, version: SchemaVersionSelector? = .latest, verbose: Bool = false) async throws(SchemaRegistryError) -> CompatibilityResult {
        struct Reply: Decodable {
            var is_compatible: Bool
            var messages: [String]?
        }
        let path = "compatibility/subjects/\(escape(subject))/versions" + (version.map { "/\($0)" } ?? "") + (verbose ? "?verbose=true" : "")
        let reply: Reply = try await call(.POST, path, body: ["schema": schema])
        return CompatibilityResult(isCompatible: reply.is_compatible, messages: reply.messages ?? [])
    }

    // MARK: Config

    /// The level of `subject` (`GET /config/{subject}?defaultToGlobal=true`), or the global
    /// level when `subject` is nil (`GET /config`).
    package func compatibilityLevel(subject: String? = nil) async throws(SchemaRegistryError) -> AvroCompatibilityLevel {
        struct Reply: Decodable { var compatibilityLevel: String }
        let reply: Reply = try await call(.GET, subject.map { "config/\(escape($0))?defaultToGlobal=true" } ?? "config")
        guard let level = AvroCompatibilityLevel(rawValue: reply.compatibilityLevel) else {
            throw SchemaRegistryError(.unexpectedResponse, "the registry answered an unknown compatibility level \(reply.compatibilityLevel)")
        }
        return level
    }

    /// Sets the level of `subject`, or the global level when nil (`PUT /config[/{subject}]`).
    package func setCompatibilityLevel(_ level: AvroCompatibilityLevel, subject: String? = nil) async throws(SchemaRegistryError) {
        struct Reply: Decodable { var compatibility: String }
        let _: Reply = try await call(.PUT, subject.map { "config/\(escape($0))" } ?? "config", body: ["compatibility": level.rawValue])
    }

    /// Removes the subject's own level (`DELETE /config/{subject}`).
    package func deleteCompatibilityLevel(subject: String) async throws(SchemaRegistryError) {
        struct Reply: Decodable { var compatibilityLevel: String }
        let _: Reply = try await call(.DELETE, "config/\(escape(subject))")
    }

    // MARK: Listing and deleting

    /// The subjects (`GET /subjects`).
    package func subjects(includeDeleted: Bool = false) async throws(SchemaRegistryError) -> [String] {
        try await call(.GET, "subjects" + (includeDeleted ? "?deleted=true" : ""))
    }

    /// A subject's versions (`GET /subjects/{subject}/versions`).
    package func versions(subject: String, includeDeleted: Bool = false) async throws(SchemaRegistryError) -> [Int32] {
        try await call(.GET, "subjects/\(escape(subject))/versions" + (includeDeleted ? "?deleted=true" : ""))
    }

    /// Deletes a subject: soft, or permanent (`?permanent=true`, after a soft delete).
    /// - Returns: the deleted versions.
    package func deleteSubject(_ subject: String, permanent: Bool = false) async throws(SchemaRegistryError) -> [Int32] {
        defer { forget(subject: subject) }
        return try await call(.DELETE, "subjects/\(escape(subject))" + (permanent ? "?permanent=true" : ""))
    }

    /// Deletes one version: soft, or permanent (after a soft delete).
    /// - Returns: the deleted version.
    package func deleteVersion(subject: String, version: SchemaVersionSelector, permanent: Bool = false) async throws(SchemaRegistryError) -> Int32 {
        defer { forget(subject: subject) }
        return try await call(.DELETE, "subjects/\(escape(subject))/versions/\(version)" + (permanent ? "?permanent=true" : ""))
    }

    private func forget(subject: String) {
        cache.withLock { cache in
            cache.latest[subject] = nil
            cache.byVersion = cache.byVersion.filter { $0.key.subject != subject }
        }
    }

    // MARK: HTTP

    private func call<Reply: Decodable>(_ method: HTTPMethod, _ path: String, body: [String: String]? = nil) async throws(SchemaRegistryError) -> Reply {
        let url = "\(baseURL)/\(path)"
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json")
        if let auth = configuration.basicAuth {
            request.headers.add(name: "Authorization", value: "Basic " + Data("\(auth.user):\(auth.password)".utf8).base64EncodedString())
        }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/vnd.schemaregistry.v1+json")
            let data = (try? JSONEncoder().encode(body)) ?? Data()
            request.body = .bytes(ByteBuffer(bytes: data))
        }
        let status: Int
        let bytes: ByteBuffer
        do {
            let response = try await httpClient.execute(request, timeout: .nanoseconds(Int64(configuration.requestTimeout / .nanoseconds(1))))
            status = Int(response.status.code)
            bytes = try await response.body.collect(upTo: 16 << 20)
        } catch {
            throw SchemaRegistryError(
                .unreachable,
                "schema registry at \(baseURL) unreachable: \(method) /\(path.split(separator: "?").first ?? "") failed: \(error)"
            )
        }
        let data = Data(bytes.readableBytesView)
        guard (200..<300).contains(status) else {
            let reply = try? JSONDecoder().decode(ErrorReply.self, from: data)
            let message = reply?.message ?? String(decoding: data.prefix(500), as: UTF8.self)
            throw SchemaRegistryError.fromResponse(
                errorCode: reply?.error_code,
                httpStatus: status,
                message: "schema registry at \(baseURL): \(method) /\(path.split(separator: "?").first ?? "") answered \(status): \(message)"
            )
        }
        do {
            return try JSONDecoder().decode(Reply.self, from: data)
        } catch {
            throw SchemaRegistryError(
                .unexpectedResponse,
                "schema registry at \(baseURL): unexpected answer to \(method) /\(path): \(String(decoding: data.prefix(300), as: UTF8.self))"
            )
        }
    }

    private func escape(_ segment: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return segment.addingPercentEncoding(withAllowedCharacters: allowed) ?? segment
    }

    private func parse(_ text: String, what: String) throws(SchemaRegistryError) -> AvroSchema {
        do {
            return try AvroSchema(parsing: text)
        } catch {
            throw SchemaRegistryError(.invalidSchema, "the registry's \(what) is not a valid Avro schema: \(error)")
        }
    }
}

/// Confluent's error body.
private struct ErrorReply: Decodable {
    var error_code: Int?
    var message: String?
}
