import Synchronization

/// Whether the server, or one of its components, can serve now.
public enum ServingState: Sendable, Hashable {
    case serving
    case notServing(reason: String)
}

/// The health of each component of the server, read by the gRPC health service and by
/// `/readyz`. Components report their own state; the server is ready when every one serves.
public final class HealthStatusRegistry: Sendable {
    private let states = Mutex<[String: ServingState]>([:])

    public init() {}

    /// Records the state of one component (`kafka`, `clickhouse`, `redis`, `registry`, ...).
    public func set(_ component: String, _ state: ServingState) {
        states.withLock { $0[component] = state }
    }

    /// Every component with its state, sorted by name.
    public var components: [(name: String, state: ServingState)] {
        states.withLock { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }

    /// True when every registered component is serving.
    public var isReady: Bool {
        states.withLock { $0.values.allSatisfy { $0 == .serving } }
    }
}
