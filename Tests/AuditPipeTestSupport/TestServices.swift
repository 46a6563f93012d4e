public import Foundation

/// The real services that integration tests talk to, found the way `Deploy/dev/up` publishes them.
///
/// Each address comes from the process environment or, when a variable is unset there, from the
/// `.dev/env` file that `Deploy/dev/up` writes at the repository root, so `swift test` works
/// right after `Deploy/dev/up` without sourcing anything.
///
/// Locally a missing service disables the tests that need it, with the reason shown by the test
/// runner. In CI (`CI=true`) a missing service never skips: the tests run and fail, naming the
/// variable that is not set.
public enum TestService: String, Sendable, CaseIterable {
    case kafka = "AUDITPIPE_KAFKA_BROKERS"
    case kafkaControl = "AUDITPIPE_KAFKA_CONTROL"
    case clickhouse = "AUDITPIPE_CLICKHOUSE_URL"
    case clickhouseUser = "AUDITPIPE_CLICKHOUSE_USER"
    case clickhousePassword = "AUDITPIPE_CLICKHOUSE_PASSWORD"
    case redis = "AUDITPIPE_REDIS_URL"
    /// The Python interpreter of the dev virtualenv (confluent-kafka, fastavro, avro, grpcio).
    case python = "AUDITPIPE_PYTHON"

    /// Whether tests that need these services should run: they are all configured, or this is CI
    /// (where a missing service must fail, not skip).
    public static func available(_ services: TestService...) -> Bool {
        TestEnvironment.isCI || services.allSatisfy { TestEnvironment.value(of: $0.rawValue) != nil }
    }

    /// The configured value, or an error naming the variable and how to set it.
    public var value: String {
        get throws {
            guard let value = TestEnvironment.value(of: self.rawValue) else {
                throw MissingTestService(variable: self.rawValue)
            }
            return value
        }
    }
}

/// Thrown when an integration test needs a service that is not configured.
public struct MissingTestService: Error, CustomStringConvertible {
    public var variable: String
    public var description: String {
        "\(variable) is not set and .dev/env does not define it: start the dev stack with `Deploy/dev/up` (see README.md)"
    }
}

/// Reads the test environment: process variables first, then `.dev/env`.
public enum TestEnvironment {
    /// True when running under CI (`CI=true`): missing services are failures there.
    public static let isCI: Bool = ProcessInfo.processInfo.environment["CI"] == "true"

    /// The repository root (the folder holding Package.swift), found from this source file.
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url
            }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    /// The variables `Deploy/dev/up` wrote, parsed from its `export NAME='value'` lines.
    public static let devEnvFile: [String: String] = {
        let file = repositoryRoot.appendingPathComponent(".dev/env")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [:] }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            var line = line.trimmingCharacters(in: .whitespaces)
            guard line.hasPrefix("export ") else { continue }
            line.removeFirst("export ".count)
            guard let equals = line.firstIndex(of: "=") else { continue }
            let name = String(line[..<equals])
            var value = String(line[line.index(after: equals)...])
            if value.count >= 2, value.first == "'", value.last == "'" {
                value = String(value.dropFirst().dropLast())
            }
            values[name] = value
        }
        return values
    }()

    /// A variable's value from the environment or `.dev/env`; nil when unset or empty.
    public static func value(of name: String) -> String? {
        if let value = ProcessInfo.processInfo.environment[name], !value.isEmpty { return value }
        if let value = devEnvFile[name], !value.isEmpty { return value }
        return nil
    }

    /// A name unique to this test run, for topics, databases and key prefixes.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UInt64(Date().timeIntervalSince1970 * 1000))_\(UInt32.random(in: 0 ... .max))"
    }
}

extension TestEnvironment {
    /// The folder holding the built products (`auditpipe`, `auditpipe-dev-kafka`) of this build.
    public static var productsDirectory: URL {
        // The test bundle lives in the products folder (…/debug/AuditPipePackageTests.xctest).
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/", !url.lastPathComponent.hasSuffix(".xctest") {
            url.deleteLastPathComponent()
        }
        if url.path == "/" {
            return repositoryRoot.appendingPathComponent(".build/debug")
        }
        return url.deletingLastPathComponent()
    }
}
