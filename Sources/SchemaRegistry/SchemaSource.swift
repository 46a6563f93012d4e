package import AvroCodec

/// The schema an event for a topic must follow, as ingest needs it.
package struct ResolvedSchema: Sendable, Hashable {
    /// The registry subject (`<topic>-value`).
    package var subject: String
    /// The subject version.
    package var version: Int32
    /// The global schema id (written into the Confluent wire-format header).
    package var id: Int32
    /// The parsed schema.
    package var schema: AvroSchema

    /// Creates a resolved schema.
    package init(subject: String, version: Int32, id: Int32, schema: AvroSchema) {
        self.subject = subject
        self.version = version
        self.id = id
        self.schema = schema
    }
}

/// Where ingest gets the schema of a topic's values: the subject `<topic>-value` (Confluent's
/// TopicNameStrategy), at its latest version or a pinned one.
///
/// Implementations fail closed: when no schema can be obtained they throw, and ingest refuses
/// the events (a retriable error when the registry is only unreachable).
package protocol SchemaSource: Sendable {
    /// The schema for values of `topic`.
    func schema(forTopic topic: String) async throws(SchemaRegistryError) -> ResolvedSchema

    /// The schema with global id `id` (to decode a Confluent-framed record).
    func schema(id: Int32) async throws(SchemaRegistryError) -> AvroSchema
}

extension SchemaSource {
    /// Confluent's TopicNameStrategy for record values: `<topic>-value`.
    package static func subject(forTopic topic: String) -> String { "\(topic)-value" }
}

/// Which version of each topic's subject to use.
package struct SchemaVersionPolicy: Sendable, Hashable {
    /// Versions pinned per topic; topics not listed use the latest version.
    package var pinned: [String: Int32]

    /// Latest for every topic unless pinned here.
    package init(pinned: [String: Int32] = [:]) {
        self.pinned = pinned
    }

    /// The selector for `topic`.
    package func selector(forTopic topic: String) -> SchemaVersionSelector {
        pinned[topic].map { .number($0) } ?? .latest
    }
}

/// A ``SchemaSource`` backed by a registry reached over HTTP (Confluent's or another auditpipe's).
///
/// `latest` comes from the client's cache for its TTL; while the registry is unreachable a
/// previously fetched (possibly stale) `latest` is served, and with nothing cached the call
/// fails closed: "schema registry at URL unreachable: ...; no cached schema for subject X;
/// events are refused until it is back" (retriable).
package struct RegistrySchemaSource: SchemaSource {
    /// The registry client (and its cache).
    package let client: SchemaRegistryClient
    /// Latest or pinned versions.
    package var policy: SchemaVersionPolicy

    /// Creates a source.
    package init(client: SchemaRegistryClient, policy: SchemaVersionPolicy = SchemaVersionPolicy()) {
        self.client = client
        self.policy = policy
    }

    /// The schema for values of `topic`.
    package func schema(forTopic topic: String) async throws(SchemaRegistryError) -> ResolvedSchema {
        let subject = Self.subject(forTopic: topic)
        let selector = policy.selector(forTopic: topic)
        let registered: RegisteredSchema
        do {
            registered = try await client.schema(subject: subject, version: selector)
        } catch where error.isRetriable && error.kind == .unreachable && selector != .latest {
            // The client says so itself for `latest` (it serves a cached latest while it can);
            // a pinned version it has never fetched fails here.
            throw .noCachedSchema(subject: subject, cause: error)
        }
        return ResolvedSchema(subject: subject, version: registered.version, id: registered.id, schema: registered.schema)
    }

    /// The schema with global id `id`.
    package func schema(id: Int32) async throws(SchemaRegistryError) -> AvroSchema {
        try await client.schema(id: id)
    }
}

/// A ``SchemaSource`` reading the registry auditpipe serves itself, in process (no HTTP).
package struct LocalSchemaSource: SchemaSource {
    /// The served registry.
    package let registry: SchemaRegistryService
    /// Latest or pinned versions.
    package var policy: SchemaVersionPolicy

    /// Creates a source.
    package init(registry: SchemaRegistryService, policy: SchemaVersionPolicy = SchemaVersionPolicy()) {
        self.registry = registry
        self.policy = policy
    }

    /// The schema for values of `topic`.
    package func schema(forTopic topic: String) async throws(SchemaRegistryError) -> ResolvedSchema {
        let subject = Self.subject(forTopic: topic)
        let selector = policy.selector(forTopic: topic)
        let (version, stored) = try registry.read { state throws(SchemaRegistryError) in try state.version(subject: subject, selector) }
        return ResolvedSchema(subject: subject, version: version.number, id: stored.id, schema: stored.schema)
    }

    /// The schema with global id `id`.
    package func schema(id: Int32) async throws(SchemaRegistryError) -> AvroSchema {
        try registry.read { state throws(SchemaRegistryError) in try state.schema(id: id).schema }
    }
}
