import ServiceLifecycle

/// Checks each dependency (Kafka, ClickHouse, Redis, the registry) every few seconds and records
/// the result in the `HealthStatusRegistry`, so `/readyz` and the gRPC health service say which
/// dependency is not reachable and why.
struct ReadinessProbes: Service {
    struct Probe: Sendable {
        var name: String
        var check: @Sendable () async throws -> Void
    }

    let probes: [Probe]
    let health: HealthStatusRegistry
    /// How often the probes run while every component serves.
    var interval: Duration = .seconds(5)
    /// How often they run while some component does not serve (at start-up, during an
    /// outage), so that readiness comes back as soon as the dependency does.
    var notReadyInterval: Duration = .milliseconds(250)
    var timeout: Duration = .seconds(5)

    /// Marks every probed component not serving, before any service runs: until its first
    /// check passes, the server is not ready (an empty registry would read as ready).
    init(probes: [Probe], health: HealthStatusRegistry) {
        self.probes = probes
        self.health = health
        for probe in probes {
            health.set(probe.name, .notServing(reason: "not checked yet"))
        }
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await withTaskGroup(of: Void.self) { group in
                    for probe in probes {
                        group.addTask { await self.run(probe) }
                    }
                }
                try await Task.sleep(for: health.isReady ? interval : notReadyInterval)
            }
        }
    }

    private func run(_ probe: Probe) async {
        let outcome: ServingState = await withTaskGroup(of: ServingState?.self) { group in
            group.addTask {
                do {
                    try await probe.check()
                    return .serving
                } catch {
                    return .notServing(reason: "\(error)")
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .notServing(reason: "no answer within \(timeout)")
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .notServing(reason: "probe cancelled")
        }
        health.set(probe.name, outcome)
    }
}
