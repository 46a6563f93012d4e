import NIOCore
import Testing
@testable import ClickHouseHTTP

@Suite("ClickHouse error parsing")
struct ClickHouseErrorParsingTests {
    @Test func parsesServerExceptionText() throws {
        let text = "Code: 60. DB::Exception: Unknown table expression identifier 'nosuch'. In scope SELECT * FROM nosuch. (UNKNOWN_TABLE) (version 26.9.2.1)\n"
        let parsed = try #require(ClickHouseError.parseServerException(text))
        #expect(parsed.code == 60)
        #expect(parsed.name == "UNKNOWN_TABLE")
        #expect(parsed.message.hasPrefix("Code: 60. DB::Exception: Unknown table"))
        #expect(!parsed.message.hasSuffix("\n"))
    }

    @Test func parsesCodeAfterALineBreakOnly() {
        #expect(ClickHouseError.parseServerException("row\nCode: 395. DB::Exception: boom. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 26.9.2.1)")?.code == 395)
        #expect(ClickHouseError.parseServerException("Zip Code: 12345 is nice") == nil)
        #expect(ClickHouseError.parseServerException("Code: abc") == nil)
        #expect(ClickHouseError.parseServerException("") == nil)
    }

    @Test func errorFromResponsePrefersTheHeaderCode() {
        let error = ClickHouseClient.errorFromResponse(
            status: 500, exceptionCode: "252",
            body: "Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS) (version 26.9.2.1)", queryID: "q")
        #expect(error.kind == .server)
        #expect(error.code == 252)
        #expect(error.name == "TOO_MANY_PARTS")
        #expect(error.isRetriable)
        #expect(error.category == .transient)
        #expect(error.queryID == "q")
        #expect(error.httpStatus == 500)
    }

    @Test func proxyErrorsWithoutCodeAreTransient() {
        let error = ClickHouseClient.errorFromResponse(status: 503, exceptionCode: nil, body: "Service Unavailable", queryID: nil)
        #expect(error.kind == .network)
        #expect(error.isRetriable)
        let other = ClickHouseClient.errorFromResponse(status: 500, exceptionCode: nil, body: "", queryID: nil)
        #expect(other.code == nil)
        #expect(!other.isRetriable)
        #expect(other.message.contains("HTTP 500"))
    }

    @Test(arguments: [
        (159, ClickHouseError.Category.transient), (202, .transient), (209, .transient), (210, .transient),
        (241, .transient), (252, .transient), (319, .transient), (999, .transient), (225, .transient),
        (60, .operatorAction), (81, .operatorAction), (516, .operatorAction), (497, .operatorAction),
        (27, .rejectedData), (53, .rejectedData), (117, .rejectedData), (6, .rejectedData),
        (62, .invalidRequest), (47, .invalidRequest), (457, .invalidRequest),
        (394, .cancelled), (12345, .unknown),
    ])
    func categories(code: Int, expected: ClickHouseError.Category) {
        let error = ClickHouseError(kind: .server, code: code, message: "x")
        #expect(error.category == expected)
        #expect(error.isRetriable == (expected == .transient))
    }

    @Test func transportKinds() {
        #expect(ClickHouseError(kind: .network, message: "reset").isRetriable)
        #expect(ClickHouseError(kind: .timeout, message: "t").isRetriable)
        #expect(!ClickHouseError(kind: .protocol, message: "p").isRetriable)
        #expect(!ClickHouseError(kind: .invalidInput, message: "i").isRetriable)
    }
}

@Suite("In-body exception scanner")
struct ExceptionScannerTests {
    static let tag = "ieqintghgshvkhjn"
    static let message = "Code: 395. DB::Exception: boom: while executing 'FUNCTION throwIf()'. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 26.9.2.1)"

    static func trailer(tag: String = tag, message: String = message) -> [UInt8] {
        Array("\r\n__exception__\r\n\(tag)\r\n\(message)\n\(message.utf8.count + 1) \(tag)\r\n__exception__\r\n".utf8)
    }

    /// Feeds `body` in chunks cut at `cuts`; returns the data passed through and the error.
    static func run(_ body: [UInt8], tag: String?, cuts: [Int]) -> (data: [UInt8], error: ClickHouseError?) {
        var scanner = ExceptionScanner(tag: tag)
        var data: [UInt8] = []
        var start = 0
        for cut in (cuts + [body.count]).sorted() where cut >= start {
            data += scanner.consume(ByteBuffer(bytes: body[start..<cut])).readableBytesView
            start = cut
        }
        do {
            data += try scanner.finish(queryID: "q").readableBytesView
            return (data, nil)
        } catch {
            return (data, error)
        }
    }

    @Test func taggedExceptionAtEveryChunkBoundary() throws {
        let payload = Array("0\t0\n1\t0\n2\t0\n\r\nnot-a-marker\r\n".utf8)
        let body = payload + Self.trailer()
        for cut in 0...body.count {
            let (data, error) = Self.run(body, tag: Self.tag, cuts: [cut])
            #expect(data == payload, "cut \(cut)")
            let thrown = try #require(error, "cut \(cut)")
            #expect(thrown.code == 395)
            #expect(thrown.name == "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO")
            #expect(thrown.message == Self.message)
            #expect(thrown.httpStatus == 200)
            #expect(thrown.queryID == "q")
        }
    }

    @Test func randomChunkingPassesDataThroughUnchanged() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let length = Int.random(in: 0...3000, using: &generator)
            // Include marker-like bytes with a different tag: they are data.
            var payload = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            payload.insert(contentsOf: Self.trailer(tag: "otherotherothero"), at: Int.random(in: 0...payload.count))
            let cuts = (0..<Int.random(in: 0...20)).map { _ in Int.random(in: 0...payload.count) }
            let (data, error) = Self.run(payload, tag: Self.tag, cuts: cuts)
            #expect(error == nil)
            #expect(data == payload)
            let (withError, thrown) = Self.run(payload + Self.trailer(), tag: Self.tag, cuts: cuts)
            #expect(withError == payload)
            #expect(thrown?.code == 395)
        }
    }

    @Test func trailerCapturedFromClickHouse26_9() throws {
        // The trailer as ClickHouse 26.9.2.1 sent it (curl capture), after some data bytes.
        let tail = "\u{88}\u{04}\0\0\0\0\0\0\r\n__exception__\r\nrpwsljwyguziwotc\r\nCode: 395. DB::Exception: boom: while executing 'FUNCTION throwIf(equals(__table1.number, 300000_UInt32) :: 0, 'boom'_String :: 2) -> throwIf(equals(__table1.number, 300000_UInt32), 'boom'_String) UInt8 : 3'. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 26.9.2.1)\n266 rpwsljwyguziwotc\r\n__exception__\r\n"
        let (data, error) = Self.run(Array(tail.utf8), tag: "rpwsljwyguziwotc", cuts: [5, 40])
        #expect(data == Array("\u{88}\u{04}\0\0\0\0\0\0".utf8))
        let thrown = try #require(error)
        #expect(thrown.code == 395)
        #expect(thrown.message.hasSuffix("(version 26.9.2.1)"))
        #expect(!thrown.message.contains("announced"))
    }

    @Test func incompleteTrailerStillFails() throws {
        let body = Array("a\n".utf8) + Self.trailer().prefix(60)
        let (data, error) = Self.run(body, tag: Self.tag, cuts: [])
        #expect(data == Array("a\n".utf8))
        let thrown = try #require(error)
        #expect(thrown.code == 395)
        #expect(thrown.message.contains("trailer incomplete"))
    }

    @Test func untaggedFallbackFindsTheLegacyException() throws {
        let body = Array("1\n2\nCode: 159. DB::Exception: Timeout exceeded: elapsed 1.0 seconds. (TIMEOUT_EXCEEDED) (version 24.3.1)\n".utf8)
        let (data, error) = Self.run(body, tag: nil, cuts: [3])
        #expect(data == body)
        let thrown = try #require(error)
        #expect(thrown.code == 159)
        #expect(thrown.isRetriable)
        #expect(Self.run(Array("Code: 1\n".utf8), tag: nil, cuts: []).error == nil)
    }
}

@Suite("ClickHouse types")
struct ClickHouseTypeTests {
    @Test(arguments: [
        "String", "LowCardinality(String)", "UInt8", "UInt16", "UInt32", "UInt64", "Int8", "Int16", "Int32", "Int64",
        "Float32", "Float64", "Bool", "DateTime", "DateTime('Europe/Zurich')", "DateTime64(3, 'UTC')", "DateTime64(6)",
        "Map(String, String)", "FixedString(16)", "Array(String)", "Nullable(String)",
        "Array(Nullable(LowCardinality(String)))", "Map(LowCardinality(String), Array(UInt64))",
    ])
    func parsesAndPrintsTheSameName(name: String) throws {
        let type = try ClickHouseType(parsing: name)
        #expect(type.description == name)
    }

    @Test func acceptsCompactSpelling() throws {
        #expect(try ClickHouseType(parsing: "Map(String,String)") == .map(.string, .string))
        #expect(try ClickHouseType(parsing: "DateTime64(3,'UTC')") == .dateTime64(precision: 3, timezone: "UTC"))
    }

    @Test(arguments: ["", "Decimal(10, 2)", "FixedString(0)", "Array(String", "String)", "DateTime64(12)", "Map(String)"])
    func rejectsUnsupportedOrMalformed(name: String) {
        #expect(throws: ClickHouseError.self) { try ClickHouseType(parsing: name) }
    }
}

@Suite("RowBinary encoding")
struct RowBinaryTests {
    static let columns: [ClickHouseColumn] = [
        .init("s", .string), .init("lc", .lowCardinality(.string)), .init("u8", .uint8), .init("u16", .uint16),
        .init("u32", .uint32), .init("u64", .uint64), .init("i32", .int32), .init("i64", .int64),
        .init("ts", .dateTime64(precision: 3, timezone: "UTC")), .init("m", .map(.string, .string)),
        .init("fs", .fixedString(16)), .init("a", .array(.string)), .init("n", .nullable(.string)),
        .init("i8", .int8), .init("i16", .int16), .init("f32", .float32), .init("f64", .float64), .init("b", .bool),
        .init("dt", .dateTime(timezone: nil)),
    ]

    /// LEB128 varints as the format defines them (7 bits per byte, low first, high bit = more),
    /// and back, at every length from 1 to 10 bytes.
    @Test func leb128() throws {
        var values: [UInt64] = [0, 1, 127, 128, 255, 300, 16_383, 16_384, .max, .max - 1]
        values += (1..<64).map { UInt64(1) << $0 }
        for value in values {
            var buffer = ByteBuffer()
            buffer.writeLEB128(value)
            var expected: [UInt8] = []
            var rest = value
            repeat {
                expected.append(UInt8(rest & 0x7f) | (rest >> 7 != 0 ? 0x80 : 0))
                rest >>= 7
            } while rest != 0
            #expect(Array(buffer.readableBytesView) == expected, "\(value)")
            #expect(try buffer.readLEB128() == value)
            #expect(buffer.readableBytes == 0)
        }
    }

    static func randomBytes<G: RandomNumberGenerator>(_ g: inout G, max: Int = 300) -> [UInt8] {
        (0..<Int.random(in: 0...max, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    static func randomRow<G: RandomNumberGenerator>(_ g: inout G) -> [ClickHouseValue] {
        [
            .bytes(randomBytes(&g)),
            .bytes(randomBytes(&g, max: 10)),
            .uint(UInt64(UInt8.random(in: 0...255, using: &g))),
            .uint(UInt64(UInt16.random(in: 0...UInt16.max, using: &g))),
            .uint(UInt64(UInt32.random(in: 0...UInt32.max, using: &g))),
            .uint(UInt64.random(in: 0...UInt64.max, using: &g)),
            .int(Int64(Int32.random(in: Int32.min...Int32.max, using: &g))),
            .int(Int64.random(in: Int64.min...Int64.max, using: &g)),
            .time(Int64.random(in: -1_000_000_000_000...4_000_000_000_000, using: &g)),
            .map((0..<Int.random(in: 0...5, using: &g)).map { _ in
                ClickHouseMapEntry(key: .bytes(randomBytes(&g, max: 8)), value: .bytes(randomBytes(&g, max: 200)))
            }),
            .bytes((0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }),
            .array((0..<Int.random(in: 0...200, using: &g)).map { _ in .bytes(randomBytes(&g, max: 5)) }),
            Bool.random(using: &g) ? .null : .bytes(randomBytes(&g, max: 20)),
            .int(Int64(Int8.random(in: Int8.min...Int8.max, using: &g))),
            .int(Int64(Int16.random(in: Int16.min...Int16.max, using: &g))),
            .float(Double(Float.random(in: -1e30...1e30, using: &g))),
            .float(Double.random(in: -1e300...1e300, using: &g)),
            .bool(Bool.random(using: &g)),
            .time(Int64(UInt32.random(in: 0...UInt32.max, using: &g))),
        ]
    }

    @Test func randomRowsRoundTripThroughRandomChunks() throws {
        var g = SystemRandomNumberGenerator()
        for _ in 0..<30 {
            var writer = RowBinaryWriter(columns: Self.columns)
            let rows = (0..<Int.random(in: 0...40, using: &g)).map { _ in Self.randomRow(&g) }
            for row in rows { try writer.append(row) }
            #expect(writer.rowCount == rows.count)
            let bytes = Array(writer.buffer.readableBytesView)

            var reader = RowBinaryReader()
            var decoded: [[ClickHouseValue]] = []
            var offset = 0
            while offset < bytes.count {
                let size = Int.random(in: 1...max(1, bytes.count / 5), using: &g)
                let end = min(bytes.count, offset + size)
                reader.feed(ByteBuffer(bytes: bytes[offset..<end]))
                offset = end
                while let row = try reader.nextRow() { decoded.append(row) }
            }
            try reader.finish()
            #expect(reader.columns == Self.columns)
            #expect(decoded == rows)
        }
    }

    @Test func headerLayout() {
        let writer = RowBinaryWriter(columns: [.init("id", .uint8), .init("name", .string)])
        // 2 columns; "id", "name"; "UInt8", "String".
        let expected: [UInt8] = [2, 2] + Array("id".utf8) + [4] + Array("name".utf8) + [5] + Array("UInt8".utf8) + [6] + Array("String".utf8)
        #expect(Array(writer.buffer.readableBytesView) == expected)
    }

    @Test func leb128LengthsAbove127() throws {
        var writer = RowBinaryWriter(columns: [.init("s", .string)], header: false)
        try writer.append([.bytes(Array(repeating: 7, count: 300))])
        #expect(Array(writer.buffer.readableBytesView.prefix(2)) == [0xAC, 0x02])
        var reader = RowBinaryReader(columns: [.init("s", .string)])
        reader.feed(writer.buffer)
        #expect(try reader.nextRow() == [.bytes(Array(repeating: 7, count: 300))])
    }

    @Test func rejectsValuesThatDoNotFitAndWritesNothing() throws {
        var writer = RowBinaryWriter(columns: [.init("id", .uint8), .init("fs", .fixedString(2)), .init("s", .string)])
        let before = writer.buffer.readableBytes
        for bad: [ClickHouseValue] in [
            [.uint(256), .bytes([1]), .string("x")],
            [.int(-1), .bytes([1]), .string("x")],
            [.uint(1), .bytes([1, 2, 3]), .string("x")],
            [.uint(1), .bytes([1]), .null],
            [.uint(1), .bytes([1])],
        ] {
            do {
                try writer.append(bad)
                Issue.record("accepted \(bad)")
            } catch {
                #expect(error.kind == .invalidInput)
                #expect(error.message.contains("row 0"))
            }
            #expect(writer.buffer.readableBytes == before)
        }
        #expect(writer.rowCount == 0)
        do {
            try writer.append([.uint(1), .bytes([1]), .string("x")])
        } catch {
            Issue.record("rejected a valid row: \(error)")
        }
        // FixedString pads with zero bytes.
        #expect(Array(writer.buffer.readableBytesView.suffix(4)) == [1, 0, 1, UInt8(ascii: "x")])
    }

    @Test func truncatedBodyIsReported() throws {
        var writer = RowBinaryWriter(columns: [.init("s", .string)])
        try writer.append([.string("hello")])
        var reader = RowBinaryReader()
        reader.feed(writer.buffer.getSlice(at: 0, length: writer.buffer.readableBytes - 1)!)
        #expect(try reader.nextRow() == nil)
        #expect(throws: ClickHouseError.self) { try reader.finish() }
    }
}

@Suite("Request building")
struct RequestBuildingTests {
    @Test func parameterEscaping() {
        #expect(ClickHouseParameter.string("x' OR 1=1 --").wireValue == "x' OR 1=1 --")
        #expect(ClickHouseParameter.string("a\\b\tc\nd").wireValue == "a\\\\b\\tc\\nd")
        #expect(ClickHouseParameter.strings(["a'b", "c"]).wireValue == "['a\\'b','c']")
        #expect(ClickHouseParameter.integer(-5).wireValue == "-5")
    }

    @Test func urlCarriesSettingsParametersAndQueryID() async throws {
        let client = try ClickHouseClient(configuration: .init(url: "http://127.0.0.1:8123", user: "u", password: "p", database: "db"))
        let url = try client.makeURL(
            parameters: ["user": "x' OR 1=1 --"], settings: ["max_execution_time": "5"], queryID: "qid", extra: [:])
        #expect(url == "http://127.0.0.1:8123/?max_execution_time=5&param_user=x%27%20OR%201%3D1%20--&query_id=qid&http_write_exception_in_output_format=0&database=db")
        #expect(client.authenticationHeaders.map { "\($0.0)=\($0.1)" } == ["X-ClickHouse-User=u", "X-ClickHouse-Key=p"])
        #expect(throws: ClickHouseError.self) { try client.makeURL(parameters: [:], settings: ["query_id": "x"], queryID: "q", extra: [:]) }
        #expect(throws: ClickHouseError.self) { try client.makeURL(parameters: [:], settings: ["param_x": "x"], queryID: "q", extra: [:]) }
        #expect(throws: ClickHouseError.self) { try client.makeURL(parameters: ["a b": "x"], settings: [:], queryID: "q", extra: [:]) }
        #expect(throws: ClickHouseError.self) { try client.makeURL(parameters: [:], settings: ["x&y": "1"], queryID: "q", extra: [:]) }
        try await client.shutdown()
    }

    @Test func tableNameQuoting() throws {
        #expect(try ClickHouseClient.quoteTableName("events") == "`events`")
        #expect(try ClickHouseClient.quoteTableName("db.ev`il") == "`db`.`ev\\`il`")
        #expect(throws: ClickHouseError.self) { try ClickHouseClient.quoteTableName("a.b.c") }
        #expect(throws: ClickHouseError.self) { try ClickHouseClient.quoteTableName(".t") }
    }

    @Test func configurationValidation() {
        #expect(throws: ClickHouseError.self) { try ClickHouseConfiguration(url: "127.0.0.1:8123").validate() }
        #expect(throws: ClickHouseError.self) { try ClickHouseConfiguration(url: "http://h:1/?x=1").validate() }
        #expect(throws: ClickHouseError.self) { try ClickHouseConfiguration(url: "http://h:1", requestTimeout: .zero).validate() }
        #expect(throws: Never.self) { try ClickHouseConfiguration(url: "http://h:1").validate() }
    }
}
