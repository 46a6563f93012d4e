import AuditEvents
import Foundation
import Testing

@Suite("CivilDate: days since 1970 and back")
struct CivilDateTests {
    @Test("known dates")
    func knownDates() {
        #expect(CivilDate.days(year: 1970, month: 1, day: 1) == 0)
        #expect(CivilDate.days(year: 2000, month: 3, day: 1) == 11_017)
        #expect(CivilDate.days(year: 1969, month: 12, day: 31) == -1)
        #expect(CivilDate.days(year: 2025, month: 3, day: 1) * 86_400 == 1_740_787_200)
        #expect(CivilDate.days(year: 0, month: 3, day: 1) == -719_468)
        // Month 13 is January of the next year (report windows ask for "the month after").
        #expect(CivilDate.days(year: 2025, month: 13, day: 1) == CivilDate.days(year: 2026, month: 1, day: 1))
        #expect(CivilDate.date(fromDays: 11_017) == (2000, 3, 1))
        #expect(CivilDate.date(fromDays: -1) == (1969, 12, 31))
    }

    @Test("every day from 1600 to 2400 goes there and back, one after the other; each New Year as Foundation's Gregorian calendar says")
    func roundTrip() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var expected = (year: Int64(1600), month: Int64(1), day: Int64(1))
        var wrong: [Int64] = []
        for days in CivilDate.days(year: 1600, month: 1, day: 1)...CivilDate.days(year: 2400, month: 12, day: 31) {
            let date = CivilDate.date(fromDays: days)
            if date != expected || CivilDate.days(year: date.year, month: date.month, day: date.day) != days { wrong.append(days) }
            if date.month == 1, date.day == 1 {
                let foundation = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(days) * 86_400))
                if (foundation.year, foundation.month, foundation.day) != (Int(date.year), 1, 1) { wrong.append(days) }
            }
            if expected.day < CivilDate.daysIn(month: expected.month, year: expected.year) {
                expected.day += 1
            } else if expected.month < 12 {
                expected = (expected.year, expected.month + 1, 1)
            } else {
                expected = (expected.year + 1, 1, 1)
            }
        }
        #expect(wrong.isEmpty, "days that went wrong: \(wrong.prefix(10))")
    }

    @Test("days in a month, leap years by the Gregorian rule")
    func daysInMonth() {
        #expect(CivilDate.daysIn(month: 2, year: 2024) == 29)
        #expect(CivilDate.daysIn(month: 2, year: 2100) == 28)
        #expect(CivilDate.daysIn(month: 2, year: 2000) == 29)
        #expect(CivilDate.daysIn(month: 4, year: 2025) == 30)
        #expect(CivilDate.daysIn(month: 12, year: 2025) == 31)
    }

    @Test func floorDivisionRoundsDown() {
        #expect(CivilDate.floorDivision(-1, 86_400_000) == -1)
        #expect(CivilDate.floorDivision(0, 86_400_000) == 0)
        #expect(CivilDate.floorDivision(86_399_999, 86_400_000) == 0)
        #expect(CivilDate.floorDivision(-86_400_000, 86_400_000) == -1)
    }
}
