import AvroCodec
import Foundation
package import Hummingbird
import NIOCore

/// The Confluent Schema Registry REST API over a ``SchemaRegistryService``, as Hummingbird
/// routes: the paths, JSON bodies, status codes and `error_code`s of Confluent's registry, so
/// Confluent's own clients (serializers, `SchemaRegistryClient`) work against auditpipe.
///
/// Served: `GET /subjects`, `GET|POST /subjects/{s}/versions`, `GET /subjects/{s}/versions/{v}`
/// (+ `/schema`, `/referencedby`), `POST /subjects/{s}`, `DELETE /subjects/{s}` and
/// `DELETE /subjects/{s}/versions/{v}` (`?permanent=true` after a soft delete),
/// `GET /schemas/ids/{id}` (+ `/schema`, `/subjects`, `/versions`), `GET /schemas/types`,
/// `GET|PUT|DELETE /config` and `/config/{s}`, `POST /compatibility/subjects/{s}/versions[/{v}]`
/// (`?verbose=true`). Only the AVRO schema type; schema references are refused (42201).
///
/// Request bodies may be `application/vnd.schemaregistry.v1+json`,
/// `application/vnd.schemaregistry+json`, `application/json` or `application/octet-stream`
/// (what Confluent accepts); responses are `application/vnd.schemaregistry.v1+json`.
package struct SchemaRegistryHTTPAPI: Sendable {
    /// The registry the routes serve.
    package let registry: SchemaRegistryService
    /// Largest request body accepted. Default 16 MiB.
    package var maxBodySize: Int = 16 << 20

    /// Routes for `registry`.
    package init(registry: SchemaRegistryService) {
        self.registry = registry
    }

    /// The content type of every JSON response.
    package static let contentType = "application/vnd.schemaregistry.v1+json"
    static let acceptedContentTypes: Set<String> = [
        "application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json", "application/json", "application/octet-stream",
    ]

    /// Adds the API's routes to `router`, under `prefix` (e.g. `"registry"`; empty: at the root,
    /// where Confluent serves them).
    package func addRoutes<Context: RequestContext>(to router: Router<Context>, prefix: String = "") {
        let group = router.group(RouterPath(prefix))
        let api = self
        let registry = self.registry

        group.get("schemas/types") { _, _ in api.json(["AVRO"]) }

        // MARK: subjects
        group.get("subjects") { request, _ in
            await api.handle {
                let deletedOnly = request.flag("deleted_only")
                let includeDeleted = request.flag("deleted") || deletedOnly
                let prefix = request.uri.queryParameters.get("subjectPrefix") ?? ""
                var names = try registry.read { $0.subjectNames(includeDeleted: includeDeleted) }
                if deletedOnly {
                    let live = Set(try registry.read { $0.subjectNames(includeDeleted: false) })
                    names = names.filter { !live.contains($0) }
                }
                return api.json(names.filter { $0.hasPrefix(prefix) })
            }
        }
        group.get("subjects/:subject/versions") { request, context in
            await api.handle {
                let subject = try context.subject()
                let deleted = request.flag("deleted")
                return api.json(try registry.read { state throws(SchemaRegistryError) in try state.versionNumbers(subject: subject, includeDeleted: deleted) })
            }
        }
        group.post("subjects/:subject/versions") { request, context in
            await api.handle {
                let subject = try context.subject()
                let body = try await api.schemaBody(request, context: context)
                let (id, _) = try await registry.register(subject: subject, schema: body.schema)
                return api.json(["id": id])
            }
        }
        group.get("subjects/:subject/versions/:version") { request, context in
            await api.handle {
                let (subject, selector) = try (context.subject(), context.version())
                let deleted = request.flag("deleted")
                let (version, schema) = try registry.read { state throws(SchemaRegistryError) in
                    try state.version(subject: subject, selector, includeDeleted: deleted)
                }
                return api.json(SubjectVersionBody(subject: subject, version: version.number, id: schema.id, schema: schema.text))
            }
        }
        group.get("subjects/:subject/versions/:version/schema") { request, context in
            await api.handle {
                let (subject, selector) = try (context.subject(), context.version())
                let deleted = request.flag("deleted")
                let (_, schema) = try registry.read { state throws(SchemaRegistryError) in try state.version(subject: subject, selector, includeDeleted: deleted) }
                return api.raw(schema.text)
            }
        }
        group.get("subjects/:subject/versions/:version/referencedby") { _, context in
            await api.handle {
                let (subject, selector) = try (context.subject(), context.version())
                _ = try registry.read { state throws(SchemaRegistryError) in try state.version(subject: subject, selector) }
                return api.json([Int32]())  // references are not supported, so nothing refers to a schema
            }
        }
        group.post("subjects/:subject") { request, context in
            await api.handle {
                let subject = try context.subject()
                let deleted = request.flag("deleted")
                let body = try await api.schemaBody(request, context: context)
                let schema = try parse(body.schema)
                let (version, stored) = try registry.read { state throws(SchemaRegistryError) in
                    try state.lookup(subject: subject, schema: schema, includeDeleted: deleted)
                }
                return api.json(SubjectVersionBody(subject: subject, version: version.number, id: stored.id, schema: stored.text))
            }
        }
        group.delete("subjects/:subject") { request, context in
            await api.handle {
                let subject = try context.subject()
                let permanent = request.flag("permanent")
                return api.json(try await registry.deleteSubject(subject: subject, permanent: permanent))
            }
        }
        group.delete("subjects/:subject/versions/:version") { request, context in
            await api.handle {
                let (subject, selector) = try (context.subject(), context.version())
                let permanent = request.flag("permanent")
                return api.json(try await registry.deleteVersion(subject: subject, version: selector, permanent: permanent))
            }
        }

        // MARK: schemas by id
        group.get("schemas/ids/:id") { _, context in
            await api.handle {
                let id = try context.schemaID()
                let stored = try registry.read { state throws(SchemaRegistryError) in try state.schema(id: id) }
                return api.json(["schema": stored.text])
            }
        }
        group.get("schemas/ids/:id/schema") { _, context in
            await api.handle {
                let id = try context.schemaID()
                return api.raw(try registry.read { state throws(SchemaRegistryError) in try state.schema(id: id).text })
            }
        }
        group.get("schemas/ids/:id/subjects") { request, context in
            await api.handle {
                let id = try context.schemaID()
                let deleted = request.flag("deleted")
                let usages = try registry.read { state throws(SchemaRegistryError) in
                    _ = try state.schema(id: id)
                    return state.usages(id: id, includeDeleted: deleted)
                }
                var seen = Set<String>()
                return api.json(usages.map(\.subject).filter { seen.insert($0).inserted })
            }
        }
        group.get("schemas/ids/:id/versions") { request, context in
            await api.handle {
                let id = try context.schemaID()
                let deleted = request.flag("deleted")
                let usages = try registry.read { state throws(SchemaRegistryError) in
                    _ = try state.schema(id: id)
                    return state.usages(id: id, includeDeleted: deleted)
                }
                return api.json(usages.map { SubjectVersionPair(subject: $0.subject, version: $0.version) })
            }
        }

        // MARK: config
        group.get("config") { _, _ in
            await api.handle { api.json(["compatibilityLevel": try registry.read { $0.effectiveLevel(subject: nil).rawValue }]) }
        }
        group.put("config") { request, context in
            await api.handle {
                let level = try await api.levelBody(request, context: context)
                try await registry.setLevel(level, subject: nil)
                return api.json(["compatibility": level.rawValue])
            }
        }
        group.delete("config") { _, _ in
            await api.handle {
                let previous = try await registry.clearLevel(subject: nil)
                return api.json(["compatibilityLevel": (previous ?? registry.state.defaultLevel).rawValue])
            }
        }
        group.get("config/:subject") { request, context in
            await api.handle {
                let subject = try context.subject()
                let defaultToGlobal = request.flag("defaultToGlobal")
                let level = try registry.read { state throws(SchemaRegistryError) -> AvroCompatibilityLevel in
                    if let level = state.subjectLevels[subject] { return level }
                    if defaultToGlobal { return state.effectiveLevel(subject: nil) }
                    throw SchemaRegistryError(.subjectLevelNotConfigured, "Subject '\(subject)' does not have subject-level compatibility configured")
                }
                return api.json(["compatibilityLevel": level.rawValue])
            }
        }
        group.put("config/:subject") { request, context in
            await api.handle {
                let subject = try context.subject()
                let level = try await api.levelBody(request, context: context)
                try await registry.setLevel(level, subject: subject)
                return api.json(["compatibility": level.rawValue])
            }
        }
        group.delete("config/:subject") { _, context in
            await api.handle {
                let subject = try context.subject()
                let previous = try await registry.clearLevel(subject: subject)
                return api.json(["compatibilityLevel": (previous ?? registry.state.defaultLevel).rawValue])
            }
        }

        // MARK: compatibility
        group.post("compatibility/subjects/:subject/versions/:version") { request, context in
            await api.handle {
                let (subject, selector) = try (context.subject(), context.version())
                return try await api.compatibility(request, context: context, subject: subject, version: selector)
            }
        }
        group.post("compatibility/subjects/:subject/versions") { request, context in
            await api.handle {
                try await api.compatibility(request, context: context, subject: context.subject(), version: nil)
            }
        }
    }

    // MARK: Helpers

    private func compatibility(
        _ request: Request, context: some RequestContext, subject: String, version: SchemaVersionSelector?
    ) async throws(SchemaRegistryError) -> Response {
        let verbose = request.flag("verbose")
        let body = try await schemaBody(request, context: context)
        let candidate = try parse(body.schema)
        let (level, issues) = try registry.read { state throws(SchemaRegistryError) in
            try state.checkCompatibility(subject: subject, candidate: candidate, version: version)
        }
        var messages = issues.map(\.description)
        if !issues.isEmpty { messages.append("{compatibility: '\(level.rawValue)'}") }
        return json(CompatibilityBody(is_compatible: issues.isEmpty, messages: verbose ? messages : nil))
    }

    struct SchemaBody: Decodable {
        struct Reference: Decodable {
            var name: String?
            var subject: String?
            var version: Int?
        }

        var schema: String
        var schemaType: String?
        var references: [Reference]?
    }

    struct LevelBody: Decodable {
        var compatibility: String?
        var compatibilityLevel: String?
    }

    struct SubjectVersionBody: Encodable {
        var subject: String
        var version: Int32
        var id: Int32
        var schema: String
    }

    struct SubjectVersionPair: Encodable {
        var subject: String
        var version: Int32
    }

    struct CompatibilityBody: Encodable {
        var is_compatible: Bool
        var messages: [String]?
    }

    private func body<T: Decodable>(_ type: T.Type, _ request: Request, context: some RequestContext) async throws(SchemaRegistryError) -> T {
        if let contentType = request.headers[.contentType] {
            let media = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard Self.acceptedContentTypes.contains(media) else {
                throw SchemaRegistryError(
                    .badRequest,
                    "Unsupported content type '\(contentType)'; send application/vnd.schemaregistry.v1+json or application/json",
                    errorCode: 415, httpStatus: 415
                )
            }
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodySize)
        } catch {
            throw SchemaRegistryError(.badRequest, "the request body could not be read or is larger than \(maxBodySize) bytes", errorCode: 413, httpStatus: 413)
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw SchemaRegistryError(.badRequest, "Unrecognized request body: \(error)", errorCode: 422, httpStatus: 422)
        }
    }

    private func schemaBody(_ request: Request, context: some RequestContext) async throws(SchemaRegistryError) -> SchemaBody {
        let body = try await body(SchemaBody.self, request, context: context)
        if let type = body.schemaType, type.uppercased() != "AVRO" {
            throw SchemaRegistryError(.invalidSchema, "Invalid schema: schemaType \(type) is not supported; this registry serves AVRO schemas only")
        }
        if let references = body.references, !references.isEmpty {
            throw SchemaRegistryError(.invalidSchema, "Invalid schema: schema references are not supported by this registry; inline the referenced types")
        }
        return body
    }

    private func levelBody(_ request: Request, context: some RequestContext) async throws(SchemaRegistryError) -> AvroCompatibilityLevel {
        let body = try await body(LevelBody.self, request, context: context)
        guard let text = body.compatibility ?? body.compatibilityLevel else {
            throw .invalidLevel("")
        }
        guard let level = AvroCompatibilityLevel(rawValue: text.uppercased()) else {
            throw .invalidLevel(text)
        }
        return level
    }

    private func handle(_ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let error as SchemaRegistryError {
            return errorResponse(error)
        } catch {
            return errorResponse(SchemaRegistryError(.storeError, "internal error: \(error)"))
        }
    }

    /// Confluent's error body for `error`.
    package func errorResponse(_ error: SchemaRegistryError) -> Response {
        struct ErrorBody: Encodable {
            var error_code: Int
            var message: String
        }
        return json(ErrorBody(error_code: error.errorCode, message: error.message), status: .init(code: error.httpStatus ?? 500))
    }

    private func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status,
            headers: [.contentType: Self.contentType],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    private func raw(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: Self.contentType], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

private func parse(_ text: String) throws(SchemaRegistryError) -> AvroSchema {
    do {
        return try AvroSchema(parsing: text)
    } catch {
        throw SchemaRegistryError(.invalidSchema, "Invalid schema: \(error)")
    }
}

extension RequestContext {
    fileprivate func subject() throws(SchemaRegistryError) -> String {
        guard let raw = parameters.get("subject") else { throw SchemaRegistryError(.badRequest, "missing subject") }
        let subject = raw.removingPercentEncoding ?? raw
        guard !subject.isEmpty else { throw SchemaRegistryError(.badRequest, "the subject name must not be empty") }
        return subject
    }

    fileprivate func version() throws(SchemaRegistryError) -> SchemaVersionSelector {
        try SchemaVersionSelector(parsing: parameters.get("version") ?? "")
    }

    fileprivate func schemaID() throws(SchemaRegistryError) -> Int32 {
        let text = parameters.get("id") ?? ""
        guard let id = Int32(text), id > 0 else { throw .schemaNotFound("Schema \(text) not found") }
        return id
    }
}

extension Request {
    /// A boolean query flag: `true`/`True`/`1` (Python clients send `True`).
    fileprivate func flag(_ name: String) -> Bool {
        guard let value = uri.queryParameters.get(name) else { return false }
        return value.lowercased() == "true" || value == "1"
    }
}
