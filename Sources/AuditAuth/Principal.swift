import GRPCCore
/// What a caller may do. `admin` implies every other role.
public enum Role: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// Send events (`Ingest`, `IngestBatch`).
    case ingest
    /// Read a user's newest events (`RecentEvents`).
    case recentEvents = "recent-events"
    /// Run compliance reports (`ComplianceReport`).
    case reports
    /// Everything, including operations on the server.
    case admin

    /// The role's name as written in the configuration.
    public var description: String { rawValue }
}

/// The tenants a caller may act for.
public enum TenantScope: Sendable, Hashable, CustomStringConvertible {
    /// Every tenant (`"*"` in the configuration).
    case all
    /// These tenants only.
    case only(Set<String>)

    /// Whether `tenant` is in the scope.
    public func contains(_ tenant: String) -> Bool {
        switch self {
        case .all: return true
        case .only(let tenants): return tenants.contains(tenant)
        }
    }

    /// `*` or the sorted, comma-separated tenants.
    public var description: String {
        switch self {
        case .all: return "*"
        case .only(let tenants): return tenants.sorted().joined(separator: ",")
        }
    }
}

/// An authenticated caller: who it is, for which tenants, with which roles.
///
/// The ``AuthenticationInterceptor`` puts it in ``current`` for the duration of each RPC;
/// handlers call ``authorize(tenant:role:)`` (or ``resolveTenant(_:role:)``) before touching
/// a tenant's data.
public struct Principal: Sendable, Hashable, CustomStringConvertible {
    /// The configuration entry that matched (an API key's or a certificate's name).
    public var name: String
    /// The tenants it may act for.
    public var tenants: TenantScope
    /// Its roles.
    public var roles: Set<Role>
    /// How it authenticated.
    public var method: Method

    /// How a caller authenticated.
    public enum Method: String, Sendable, Hashable {
        /// `authorization: Bearer <api key>`.
        case apiKey = "api key"
        /// A client certificate (mutual TLS).
        case clientCertificate = "client certificate"
    }

    /// Creates a principal.
    public init(name: String, tenants: TenantScope, roles: Set<Role>, method: Method) {
        self.name = name
        self.tenants = tenants
        self.roles = roles
        self.method = method
    }

    /// The caller of the current RPC, set by ``AuthenticationInterceptor``; nil outside one.
    @TaskLocal public static var current: Principal?

    /// The caller of the current RPC.
    ///
    /// - Throws: ``AuthorizationError`` (`UNAUTHENTICATED`) when no interceptor authenticated
    ///   this RPC: a server wired without the interceptor fails closed.
    public static func required() throws(AuthorizationError) -> Principal {
        guard let current else {
            throw AuthorizationError(
                code: .unauthenticated,
                message: "this RPC was not authenticated: the server must install AuthenticationInterceptor"
            )
        }
        return current
    }

    /// Whether the principal has `role` (directly or through `admin`).
    public func has(_ role: Role) -> Bool { roles.contains(role) || roles.contains(.admin) }

    /// Checks that the principal may act with `role` on `tenant`.
    ///
    /// - Throws: ``AuthorizationError`` with `PERMISSION_DENIED` for a missing role or a tenant
    ///   outside the principal's scope, and `INVALID_ARGUMENT` for an empty tenant.
    public func authorize(tenant: String, role: Role) throws(AuthorizationError) {
        guard !tenant.isEmpty else {
            throw AuthorizationError(code: .invalidArgument, message: "tenant_id is required")
        }
        guard has(role) else {
            throw AuthorizationError(
                code: .permissionDenied,
                message: "credentials '\(name)' lack the role '\(role)' (they have: \(roles.map(\.rawValue).sorted().joined(separator: ", ")))"
            )
        }
        guard tenants.contains(tenant) else {
            throw AuthorizationError(
                code: .permissionDenied,
                message: "credentials '\(name)' may not act for tenant '\(tenant.prefix(128))'; ask for a key bound to that tenant"
            )
        }
    }

    /// The tenant a request acts for: the requested one when the principal may use it with
    /// `role`; when the request names none, the principal's only tenant.
    ///
    /// - Throws: ``AuthorizationError``: `PERMISSION_DENIED` as in
    ///   ``authorize(tenant:role:)``; `INVALID_ARGUMENT` when the request names no tenant and
    ///   the principal has several (or all).
    public func resolveTenant(_ requested: String, role: Role) throws(AuthorizationError) -> String {
        var tenant = requested
        if tenant.isEmpty, case .only(let tenants) = tenants, tenants.count == 1 {
            tenant = tenants.first!
        }
        guard !tenant.isEmpty else {
            throw AuthorizationError(
                code: .invalidArgument,
                message: "tenant_id is required: credentials '\(name)' are valid for several tenants"
            )
        }
        try authorize(tenant: tenant, role: role)
        return tenant
    }

    /// `name (method): tenants [..] roles [..]`, without secrets.
    public var description: String {
        "\(name) (\(method.rawValue)): tenants [\(tenants)] roles [\(roles.map(\.rawValue).sorted().joined(separator: ","))]"
    }
}
