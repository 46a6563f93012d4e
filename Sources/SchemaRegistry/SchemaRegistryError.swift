/// An error of the schema registry, on either side of the Confluent Schema Registry REST API.
///
/// The served registry turns these into Confluent's error bodies
/// (`{"error_code": 40401, "message": "..."}`) and HTTP statuses; the client turns those bodies
/// back into this type, so both sides share one vocabulary. ``isRetriable`` says whether trying
/// again later can help (the registry or its storage is unreachable or busy), as opposed to a
/// request that will fail the same way every time (unknown subject, invalid schema, ...).
package struct SchemaRegistryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, one case per Confluent error code this project uses.
    package enum Kind: String, Sendable, Hashable {
        /// 40401: the subject does not exist (or all its versions are deleted).
        case subjectNotFound
        /// 40402: the subject has no such version.
        case versionNotFound
        /// 40403: no schema with that id, or the schema is not registered under the subject.
        case schemaNotFound
        /// 40404: the subject was soft-deleted (a permanent delete is allowed).
        case subjectSoftDeleted
        /// 40405: a permanent delete of a subject that was not soft-deleted first.
        case subjectNotSoftDeleted
        /// 40406: the version was soft-deleted (a permanent delete is allowed).
        case versionSoftDeleted
        /// 40407: a permanent delete of a version that was not soft-deleted first.
        case versionNotSoftDeleted
        /// 40408: the subject has no subject-level compatibility configured.
        case subjectLevelNotConfigured
        /// 409: the schema breaks the subject's compatibility level.
        case incompatibleSchema
        /// 42201: the schema is not a valid Avro schema (or not an Avro schema at all).
        case invalidSchema
        /// 42202: the version is neither 1...2^31-1 nor `latest`.
        case invalidVersion
        /// 42203: not one of NONE, BACKWARD(_TRANSITIVE), FORWARD(_TRANSITIVE), FULL(_TRANSITIVE).
        case invalidCompatibilityLevel
        /// 400 / 415: the request body or content type is not what the API expects.
        case badRequest
        /// 50001: the registry's storage (its Kafka topic) failed.
        case storeError
        /// 50002: the operation did not complete in time.
        case operationTimeout
        /// 50003: the registry is not ready (still loading its state).
        case notReady
        /// The registry could not be reached at all (connection refused, timeout, DNS).
        case unreachable
        /// The registry answered something this client cannot understand.
        case unexpectedResponse
    }

    /// What went wrong.
    package var kind: Kind
    /// Confluent's `error_code` (e.g. 40401); 0 when the registry was never reached.
    package var errorCode: Int
    /// The HTTP status that carries (or carried) this error; nil when no response exists.
    package var httpStatus: Int?
    /// A message for a human that says what failed and what to do.
    package var message: String
    /// Whether the same request may succeed later without being changed.
    package var isRetriable: Bool

    /// Creates an error; the Confluent code, HTTP status and retriability default from `kind`.
    package init(_ kind: Kind, _ message: String, errorCode: Int? = nil, httpStatus: Int? = nil, isRetriable: Bool? = nil) {
        self.kind = kind
        self.message = message
        self.errorCode = errorCode ?? kind.defaultErrorCode
        self.httpStatus = httpStatus ?? kind.defaultHTTPStatus
        self.isRetriable = isRetriable ?? kind.isRetriableByDefault
    }

    /// `cause` (an unreachable registry) for a subject with nothing cached to serve instead: the
    /// caller fails closed, and says so.
    package static func noCachedSchema(subject: String, cause: SchemaRegistryError) -> SchemaRegistryError {
        SchemaRegistryError(
            cause.kind, "\(cause.message); no cached schema for subject \(subject); events are refused until it is back",
            errorCode: cause.errorCode, httpStatus: cause.httpStatus, isRetriable: true
        )
    }

    /// The message, with the Confluent error code when there is one.
    package var description: String {
        errorCode == 0 ? message : "\(message) (error_code \(errorCode))"
    }

    /// Maps a Confluent `error_code` (and the HTTP status) from a registry response to an error.
    package static func fromResponse(errorCode: Int?, httpStatus: Int, message: String) -> SchemaRegistryError {
        let kind: Kind
        switch errorCode ?? httpStatus {
        case 40401: kind = .subjectNotFound
        case 40402: kind = .versionNotFound
        case 40403: kind = .schemaNotFound
        case 40404: kind = .subjectSoftDeleted
        case 40405: kind = .subjectNotSoftDeleted
        case 40406: kind = .versionSoftDeleted
        case 40407: kind = .versionNotSoftDeleted
        case 40408: kind = .subjectLevelNotConfigured
        case 409: kind = .incompatibleSchema
        case 42201: kind = .invalidSchema
        case 42202: kind = .invalidVersion
        case 42203: kind = .invalidCompatibilityLevel
        case 50001: kind = .storeError
        case 50002: kind = .operationTimeout
        case 50003: kind = .notReady
        default: kind = httpStatus >= 500 ? .storeError : (httpStatus == 404 ? .unexpectedResponse : .badRequest)
        }
        return SchemaRegistryError(kind, message, errorCode: errorCode ?? httpStatus, httpStatus: httpStatus, isRetriable: httpStatus >= 500 || httpStatus == 429)
    }
}

extension SchemaRegistryError.Kind {
    var defaultErrorCode: Int {
        switch self {
        case .subjectNotFound: 40401
        case .versionNotFound: 40402
        case .schemaNotFound: 40403
        case .subjectSoftDeleted: 40404
        case .subjectNotSoftDeleted: 40405
        case .versionSoftDeleted: 40406
        case .versionNotSoftDeleted: 40407
        case .subjectLevelNotConfigured: 40408
        case .incompatibleSchema: 409
        case .invalidSchema: 42201
        case .invalidVersion: 42202
        case .invalidCompatibilityLevel: 42203
        case .badRequest: 400
        case .storeError: 50001
        case .operationTimeout: 50002
        case .notReady: 50003
        case .unreachable, .unexpectedResponse: 0
        }
    }

    var defaultHTTPStatus: Int? {
        switch self {
        case .subjectNotFound, .versionNotFound, .schemaNotFound, .subjectSoftDeleted, .subjectNotSoftDeleted,
             .versionSoftDeleted, .versionNotSoftDeleted, .subjectLevelNotConfigured:
            404
        case .incompatibleSchema: 409
        case .invalidSchema, .invalidVersion, .invalidCompatibilityLevel: 422
        case .badRequest: 400
        case .storeError, .operationTimeout: 500
        case .notReady: 503
        case .unreachable, .unexpectedResponse: nil
        }
    }

    var isRetriableByDefault: Bool {
        switch self {
        case .storeError, .operationTimeout, .notReady, .unreachable: true
        default: false
        }
    }
}

// MARK: The messages of Confluent's registry, shared by the server and tests

extension SchemaRegistryError {
    static func subjectNotFound(_ subject: String) -> Self {
        .init(.subjectNotFound, "Subject '\(subject)' not found.")
    }
    static func versionNotFound(_ version: Int32) -> Self {
        .init(.versionNotFound, "Version \(version) not found.")
    }
    static func schemaNotFound(_ detail: String = "Schema not found") -> Self {
        .init(.schemaNotFound, detail)
    }
    static func invalidVersion(_ text: String) -> Self {
        .init(.invalidVersion, "The specified version '\(text)' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"")
    }
    static func invalidLevel(_ text: String) -> Self {
        .init(
            .invalidCompatibilityLevel,
            "Invalid compatibility level '\(text)'. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"
        )
    }
}
