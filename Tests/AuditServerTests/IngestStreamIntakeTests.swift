import AuditServer
import Testing

/// The Ingest stream's intake without I/O: units take every event received since the last one,
/// the reader waits beyond the in-flight limit and is released as events are answered.
@Suite("Ingest stream intake")
struct IngestStreamIntakeTests {
    typealias Intake = IngestStreamIntakeState<Int, String, String>

    @Test("events received while no unit maker waits become one unit; a waiting unit maker gets the next event at once")
    func unitsTakeWhatArrivedTogether() {
        var intake = Intake(maxInFlight: 10)
        guard case .wait = intake.nextUnit("maker") else { Issue.record("expected wait"); return }
        guard case .handOver(let maker, let first) = intake.receive(1) else { Issue.record("expected a hand-over"); return }
        #expect(maker == "maker" && first == [1])
        for event in 2...4 {
            guard case .proceed = intake.receive(event) else { Issue.record("expected proceed"); return }
        }
        guard case .unit(let unit) = intake.nextUnit("maker") else { Issue.record("expected a unit"); return }
        #expect(unit == [2, 3, 4])
        #expect(intake.inFlight == 4)
    }

    @Test("beyond maxInFlight unanswered events the reader waits until answers make room")
    func readerWaitsForRoom() {
        var intake = Intake(maxInFlight: 3)
        for event in 1...2 { _ = intake.receive(event) }
        let r1 = intake.waitForRoom("reader")
        #expect(!r1)
        _ = intake.receive(3)
        let r2 = intake.waitForRoom("reader")
        #expect(r2)
        guard case .unit(let unit) = intake.nextUnit("maker") else { Issue.record("expected a unit"); return }
        #expect(unit == [1, 2, 3])
        let r3 = intake.answered(0)
        #expect(r3 == nil)
        let r4 = intake.answered(2)
        #expect(r4 == "reader")
        let r5 = intake.answered(1)
        #expect(r5 == nil)
        #expect(intake.inFlight == 0)
    }

    @Test("finish: pending events still make a unit, then no more; waiters are released; later events stop the reader")
    func finishDrainsThenEnds() {
        var intake = Intake(maxInFlight: 1)
        _ = intake.receive(1)
        let r6 = intake.waitForRoom("reader")
        #expect(r6)
        let released = intake.finish()
        #expect(released.reader == "reader" && released.unitMaker == nil)
        guard case .unit(let unit) = intake.nextUnit("maker") else { Issue.record("expected the pending unit"); return }
        #expect(unit == [1])
        guard case .finished = intake.nextUnit("maker") else { Issue.record("expected finished"); return }
        guard case .stop = intake.receive(2) else { Issue.record("expected stop"); return }
        let r7 = intake.waitForRoom("reader")
        #expect(!r7)

        var waiting = Intake(maxInFlight: 5)
        guard case .wait = waiting.nextUnit("maker") else { Issue.record("expected wait"); return }
        let r8 = waiting.finish()
        #expect(r8.unitMaker == "maker")
    }

    @Test("takeArrived hands over what arrived without waiting, and nothing when nothing did")
    func takeArrivedDoesNotWait() {
        var intake = Intake(maxInFlight: 10)
        #expect(intake.takeArrived().isEmpty)
        _ = intake.receive(1)
        _ = intake.receive(2)
        #expect(intake.takeArrived() == [1, 2])
        #expect(intake.takeArrived().isEmpty)
        guard case .wait = intake.nextUnit("maker") else { Issue.record("the taken events are not handed over twice"); return }
    }

    @Test("a small unit waits for the events behind it only when units follow each other closely")
    func coalescing() {
        var coalescing = UnitCoalescing()
        let start = ContinuousClock.now
        #expect(coalescing.wait(forUnitOf: 1, at: start) == nil, "the first unit goes at once")
        #expect(coalescing.wait(forUnitOf: 1, at: start + .milliseconds(1)) == coalescing.window, "a busy stream's small unit waits")
        #expect(coalescing.wait(forUnitOf: coalescing.maxEvents, at: start + .milliseconds(2)) == nil, "a large unit goes at once")
        #expect(coalescing.wait(forUnitOf: 1, at: start + .milliseconds(3)) == coalescing.window)
        #expect(coalescing.wait(forUnitOf: 1, at: start + .seconds(1)) == nil, "an occasional event goes at once")
    }
}
