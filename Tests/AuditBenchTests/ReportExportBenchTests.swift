import AuditBench
import AuditPipeProto
import Foundation
import GRPCCore
import SwiftProtobuf
import Testing

@Suite("bench report: export figures' helpers")
struct ReportExportBenchTests {
    @Test func cpuTimeFromProcStat() throws {
        // A command name with spaces and parentheses; utime 250 and stime 50 ticks.
        let line = "4242 (auditpipe (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 123 456 789"
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        #expect(ProcessCPU.parseStat(line) == 300 / ticks)
        #expect(ProcessCPU.parseStat("garbage") == nil)
        // This process has used some CPU.
        #expect((ProcessCPU.seconds(of: getpid()) ?? 0) > 0)
    }

    @Test func chunkEventsAreCountedFromTheBytes() throws {
        var chunk = Auditpipe_V1_ComplianceReportChunk()
        for index in 0..<37 {
            var stored = Auditpipe_V1_StoredEvent()
            stored.event.eventID = "e\(index)"
            stored.event.metadata = ["ip": "10.0.0.\(index)"]
            stored.kafkaOffset = Int64(index) << 40
            chunk.events.append(stored)
        }
        chunk.nextCursor = "cursor"
        let bytes: [UInt8] = try chunk.serializedBytes()
        #expect(try ChunkEventCount().deserialize(bytes) == 37)
        #expect(try ChunkEventCount().deserialize([UInt8]()) == 0)
        #expect(throws: (any Error).self) { _ = try ChunkEventCount().deserialize(Array(bytes.dropLast())) }
    }
}
