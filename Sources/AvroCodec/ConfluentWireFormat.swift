/// Confluent's Schema Registry wire format: magic byte 0, the schema id as a 4-byte big-endian
/// integer, then the Avro binary body.
public enum ConfluentWireFormat {
    /// The first byte of every framed message.
    public static let magicByte: UInt8 = 0
    /// Magic byte plus schema id.
    public static let headerSize = 5

    /// Frames an Avro body with the schema id.
    public static func encode(schemaID: Int32, body: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(headerSize + body.count)
        appendHeader(schemaID: schemaID, to: &out)
        out.append(contentsOf: body)
        return out
    }

    /// Appends just the 5-byte header, so a body can be encoded straight after it
    /// (e.g. with `AvroBinaryWriter(appendingTo:)`).
    public static func appendHeader(schemaID: Int32, to out: inout [UInt8]) {
        let id = UInt32(bitPattern: schemaID)
        out.append(magicByte)
        out.append(UInt8(truncatingIfNeeded: id >> 24))
        out.append(UInt8(truncatingIfNeeded: id >> 16))
        out.append(UInt8(truncatingIfNeeded: id >> 8))
        out.append(UInt8(truncatingIfNeeded: id))
    }

    /// Splits a framed message into its schema id and Avro body (a slice of the input, no copy).
    /// - Throws: `ConfluentWireFormatError` for short input or a wrong magic byte.
    public static func decode(_ message: [UInt8]) throws(ConfluentWireFormatError) -> (schemaID: Int32, body: ArraySlice<UInt8>) {
        try decode(message[...])
    }

    /// Splits a framed message into its schema id and Avro body.
    public static func decode(_ message: ArraySlice<UInt8>) throws(ConfluentWireFormatError) -> (schemaID: Int32, body: ArraySlice<UInt8>) {
        guard message.count >= headerSize else {
            throw ConfluentWireFormatError(message: "message has \(message.count) bytes, fewer than the 5-byte Confluent header (magic byte + schema id); it was not produced with a schema registry serializer")
        }
        let start = message.startIndex
        guard message[start] == magicByte else {
            throw ConfluentWireFormatError(message: "first byte is \(message[start]), not the Confluent magic byte 0; the message is not in Confluent wire format")
        }
        let id = UInt32(message[start + 1]) << 24 | UInt32(message[start + 2]) << 16 | UInt32(message[start + 3]) << 8 | UInt32(message[start + 4])
        return (Int32(bitPattern: id), message[(start + headerSize)...])
    }
}

/// A message that is not in Confluent wire format.
public struct ConfluentWireFormatError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong and what it means.
    public var message: String

    /// Creates an error.
    public init(message: String) {
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
