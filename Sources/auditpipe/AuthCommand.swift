import ArgumentParser
import AuditAuth
import Foundation

/// `auditpipe auth`: tools for the API keys of the authentication configuration.
struct AuthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth",
        abstract: "Make and hash API keys for the authentication configuration.",
        discussion: """
            The server stores only the SHA-256 of each API key. Give the key to the client \
            (it sends `authorization: Bearer <key>`) and put the hash into the configuration:

              { "api_keys": [ { "name": "acme-reports", "sha256": "<hash>",
                                "tenants": ["acme"], "roles": ["reports"] } ] }
            """,
        subcommands: [NewKey.self, HashKey.self]
    )

    /// `auditpipe auth new-key`.
    struct NewKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "new-key",
            abstract: "Generate a random API key and print it with its SHA-256."
        )

        func run() {
            let key = APIKeys.generate()
            print("key:    \(key)")
            print("sha256: \(APIKeys.sha256Hex(of: key))")
            FileHandle.standardError.write(Data("Keep the key secret; only the sha256 goes into the configuration.\n".utf8))
        }
    }

    /// `auditpipe auth hash-key`.
    struct HashKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hash-key",
            abstract: "Print the SHA-256 of an API key, read from stdin or an environment variable.",
            discussion: "The key is never taken as a flag (flags show in `ps` and shell history). A trailing newline on stdin is ignored."
        )

        @Option(name: .customLong("key-env"), help: "Read the key from this environment variable instead of stdin.")
        var keyEnvironmentVariable: String?

        func run() throws {
            var key: String
            if let name = keyEnvironmentVariable {
                guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                    throw ValidationError("the environment variable \(name) is not set")
                }
                key = value
            } else {
                key = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                while key.hasSuffix("\n") || key.hasSuffix("\r") { key.removeLast() }
            }
            guard key.utf8.count >= APIKeys.minimumLength else {
                throw ValidationError("the key is \(key.utf8.count) bytes; keys must have at least \(APIKeys.minimumLength) (use `auditpipe auth new-key`)")
            }
            print(APIKeys.sha256Hex(of: key))
        }
    }
}
