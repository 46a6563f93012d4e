/// How a simulated service talks to AuditPipe.
package enum ServiceTransport: Sendable, Hashable {
    /// `Ingest` through the Swift client's stream (`AuditPipeClient.withIngestStream`).
    case grpcStream
    /// `IngestBatch` through the Swift client.
    case grpcBatch
    /// Legacy JSON to `POST /v1/legacy/{source}`, in that source's own shape.
    case legacyHTTP(LegacySource)

    /// A short label for tables: `grpc stream`, `grpc batch`, `legacy http`.
    package var label: String {
        switch self {
        case .grpcStream: "grpc stream"
        case .grpcBatch: "grpc batch"
        case .legacyHTTP: "legacy http"
        }
    }
}

/// What a gRPC service's events are about.
package enum GRPCProfile: String, Sendable, Hashable {
    /// Logins, logouts, failed logins, MFA challenges (`event_type` `auth`).
    case auth
    /// Document creates, updates, deletes (`data_change`).
    case dataChange
    /// Role grants and revocations (`permission_change`).
    case permissionChange
    /// API calls of a careless client; its bad events break the field rules.
    case apiCalls
}

/// The legacy sources the simulator can speak (names as in `Deploy/legacy-rules.yaml`).
///
/// Eight of the twelve sources of the rules file. Not here: `vpn-concentrator` (its rule derives
/// the event id from the Kafka position, so its events can only arrive through the Kafka bridge,
/// never over HTTP), and `inventory`, `mail-relay`, `ci-runner` (no generator yet).
package enum LegacySource: String, Sendable, Hashable, CaseIterable {
    case authGateway = "auth-gateway"
    case billingSvc = "billing-svc"
    case fileStore = "file-store"
    case hrPortal = "hr-portal"
    case crmLegacy = "crm-legacy"
    case paymentsAPI = "payments-api"
    case adminConsole = "admin-console"
    case doorAccess = "door-access"
}

/// One of the simulated services.
package struct SimulatedService: Sendable, Hashable {
    /// The service's name (the legacy source name for legacy services).
    package var name: String
    package var transport: ServiceTransport
    /// For gRPC services: what its events are about.
    package var profile: GRPCProfile?
    /// Its share of the total rate, relative to the other services' weights.
    package var weight: Int
    /// The most events in one request (1 for streams and single-object legacy sources).
    package var maxEventsPerRequest: Int
    /// The least time between two requests, in seconds (0: send each event when it is due).
    package var requestInterval: Double
    /// How many requests (or stream sends) may be in flight at once.
    package var maxInFlight: Int
    /// The fraction of its events that are broken on purpose.
    package var badFraction: Double

    package init(
        name: String, transport: ServiceTransport, profile: GRPCProfile? = nil, weight: Int,
        maxEventsPerRequest: Int, requestInterval: Double, maxInFlight: Int, badFraction: Double
    ) {
        self.name = name
        self.transport = transport
        self.profile = profile
        self.weight = weight
        self.maxEventsPerRequest = maxEventsPerRequest
        self.requestInterval = requestInterval
        self.maxInFlight = maxInFlight
        self.badFraction = badFraction
    }

    /// The legacy source, for legacy services.
    package var legacySource: LegacySource? {
        if case .legacyHTTP(let source) = transport { return source }
        return nil
    }

    /// The twelve services of the default run: four gRPC services (one of them careless) and
    /// eight legacy producers, each sending a few malformed records among its good ones.
    package static let defaultCatalog: [SimulatedService] = [
        .init(name: "portal-web", transport: .grpcStream, profile: .auth, weight: 20, maxEventsPerRequest: 1, requestInterval: 0, maxInFlight: 64, badFraction: 0),
        .init(name: "docs-api", transport: .grpcBatch, profile: .dataChange, weight: 15, maxEventsPerRequest: 100, requestInterval: 0.25, maxInFlight: 4, badFraction: 0),
        .init(name: "iam-service", transport: .grpcStream, profile: .permissionChange, weight: 8, maxEventsPerRequest: 1, requestInterval: 0, maxInFlight: 32, badFraction: 0),
        .init(name: "buggy-client", transport: .grpcBatch, profile: .apiCalls, weight: 4, maxEventsPerRequest: 20, requestInterval: 0.5, maxInFlight: 2, badFraction: 0.5),
        .init(name: "auth-gateway", transport: .legacyHTTP(.authGateway), weight: 12, maxEventsPerRequest: 50, requestInterval: 0.25, maxInFlight: 4, badFraction: 0.03),
        .init(name: "billing-svc", transport: .legacyHTTP(.billingSvc), weight: 6, maxEventsPerRequest: 25, requestInterval: 0.5, maxInFlight: 2, badFraction: 0.05),
        .init(name: "file-store", transport: .legacyHTTP(.fileStore), weight: 5, maxEventsPerRequest: 1, requestInterval: 0, maxInFlight: 8, badFraction: 0.03),
        .init(name: "hr-portal", transport: .legacyHTTP(.hrPortal), weight: 3, maxEventsPerRequest: 10, requestInterval: 1, maxInFlight: 2, badFraction: 0.05),
        .init(name: "crm-legacy", transport: .legacyHTTP(.crmLegacy), weight: 4, maxEventsPerRequest: 50, requestInterval: 1, maxInFlight: 2, badFraction: 0.05),
        .init(name: "payments-api", transport: .legacyHTTP(.paymentsAPI), weight: 6, maxEventsPerRequest: 1, requestInterval: 0, maxInFlight: 8, badFraction: 0.03),
        .init(name: "admin-console", transport: .legacyHTTP(.adminConsole), weight: 3, maxEventsPerRequest: 10, requestInterval: 1, maxInFlight: 2, badFraction: 0.05),
        .init(name: "door-access", transport: .legacyHTTP(.doorAccess), weight: 8, maxEventsPerRequest: 40, requestInterval: 0.5, maxInFlight: 2, badFraction: 0.04),
    ]
}
