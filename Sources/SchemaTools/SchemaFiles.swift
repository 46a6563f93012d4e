package import AvroCodec
import Foundation

/// One version of a subject's schema: from a registry, or a file of a directory of previous
/// versions (`v1.avsc`, `v2.avsc`, ...).
package struct SchemaVersion: Sendable, Hashable {
    /// The version number (the registry's version, or the number in `v<N>.avsc`).
    package var version: Int
    /// The parsed schema.
    package var schema: AvroSchema
    /// The schema's JSON text.
    package var text: String
    /// Where it came from, for messages (a file path, or `subject S version N`).
    package var origin: String
    /// The registry's global schema id, when it came from a registry.
    package var id: Int32?

    /// Creates a version.
    package init(version: Int, schema: AvroSchema, text: String, origin: String, id: Int32? = nil) {
        self.version = version
        self.schema = schema
        self.text = text
        self.origin = origin
        self.id = id
    }
}

/// Reading schemas from files.
package enum SchemaFiles {
    /// Reads and parses one `.avsc` file.
    /// - Throws: ``SchemaToolError`` naming the file when it cannot be read or is not a valid
    ///   Avro schema.
    package static func load(path: String) throws(SchemaToolError) -> (schema: AvroSchema, text: String) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SchemaToolError("cannot read schema file \(path): \(Self.reason(error))")
        }
        do {
            return (try AvroSchema(parsing: text), text)
        } catch {
            throw SchemaToolError("\(path) is not a valid Avro schema: \(error)")
        }
    }

    /// The version number of a previous-version file name: `v12.avsc` gives 12 (`V12.avsc`
    /// too); any other name gives nil.
    package static func versionNumber(fileName: String) -> Int? {
        guard fileName.lowercased().hasSuffix(".avsc"), let first = fileName.first, first == "v" || first == "V" else { return nil }
        let digits = fileName.dropFirst().dropLast(5)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let number = Int(digits), number >= 1 else { return nil }
        return number
    }

    /// Loads the previous versions of a subject kept in `directory` as `v1.avsc`, `v2.avsc`, ...,
    /// ordered by version number (so `v10` comes after `v9`). Gaps are allowed (deleted versions).
    /// Files that do not end in `.avsc` are ignored.
    /// - Throws: ``SchemaToolError`` when the directory cannot be read, an `.avsc` file is not
    ///   named `v<N>.avsc`, two files carry the same number, or a file is not a valid schema.
    package static func loadPreviousVersions(directory: String) throws(SchemaToolError) -> [SchemaVersion] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw SchemaToolError("previous-versions directory \(directory) does not exist")
        }
        guard isDirectory.boolValue else {
            throw SchemaToolError("\(directory) is a file; --previous-dir needs a directory of v1.avsc, v2.avsc, ...")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw SchemaToolError("cannot list previous-versions directory \(directory): \(Self.reason(error))")
        }
        var byNumber: [Int: String] = [:]
        for name in names.sorted() where name.lowercased().hasSuffix(".avsc") {
            guard let number = versionNumber(fileName: name) else {
                throw SchemaToolError("\(directory)/\(name): previous versions must be named v<N>.avsc (v1.avsc, v2.avsc, ...); rename or move this file")
            }
            if let other = byNumber[number] {
                throw SchemaToolError("\(directory): \(other) and \(name) both claim version \(number); keep one")
            }
            byNumber[number] = name
        }
        var versions: [SchemaVersion] = []
        for number in byNumber.keys.sorted() {
            let path = (directory as NSString).appendingPathComponent(byNumber[number]!)
            let (schema, text) = try load(path: path)
            versions.append(SchemaVersion(version: number, schema: schema, text: text, origin: path))
        }
        return versions
    }

    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
            let code = POSIXErrorCode(rawValue: Int32(underlying.code))
        {
            return String(describing: POSIXError(code).localizedDescription)
        }
        return nsError.localizedDescription
    }
}
