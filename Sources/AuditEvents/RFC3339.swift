/// The one RFC 3339 spelling of an instant: `2026-03-01T08:00:00.000Z` (UTC, milliseconds,
/// four-digit year), written by reports, the legacy intake's canonical events and quarantine
/// records, and the benchmarks.
public enum RFC3339 {
    /// The length of the text, in bytes of ASCII.
    public static let length = 24

    /// The text of `milliseconds` since the Unix epoch. A year outside 0...9999 is written in
    /// full, with its sign (`12026-...`, `-0044-...`), so that a wrong time never reads as a
    /// plausible one.
    public static func text(milliseconds: Int64) -> String {
        let fixed = String(unsafeUninitializedCapacity: length) { buffer in
            write(milliseconds: milliseconds, to: UnsafeMutableRawPointer(buffer.baseAddress!))
            return length
        }
        let year = CivilDate.date(fromDays: dayAndMillisecond(of: milliseconds).day).year
        guard !(0...9999).contains(year) else { return fixed }
        let digits = String(year.magnitude)
        return (year < 0 ? "-" : "") + String(repeating: "0", count: max(0, 4 - digits.count)) + digits + fixed.dropFirst(4)
    }

    /// Writes the text of `milliseconds` (``length`` bytes) at `pointer`, without allocating.
    /// Years outside 0...9999 (outside ClickHouse's DateTime64 range and the validator's window)
    /// are written modulo 10,000 here (``text(milliseconds:)`` writes them in full); no value of
    /// `Int64` traps.
    public static func write(milliseconds: Int64, to pointer: UnsafeMutableRawPointer) {
        let (days, msOfDay) = dayAndMillisecond(of: milliseconds)
        let (year, month, day) = CivilDate.date(fromDays: days)
        let ms = Int(msOfDay)
        @inline(__always) func put(_ value: Int, _ width: Int, _ at: Int) {
            var value = value
            for index in stride(from: at + width - 1, through: at, by: -1) {
                pointer.storeBytes(of: UInt8(truncatingIfNeeded: 48 + value % 10), toByteOffset: index, as: UInt8.self)
                value /= 10
            }
        }
        @inline(__always) func mark(_ byte: UInt8, _ at: Int) { pointer.storeBytes(of: byte, toByteOffset: at, as: UInt8.self) }
        put(Int(((year % 10_000) + 10_000) % 10_000), 4, 0)
        mark(UInt8(ascii: "-"), 4)
        put(Int(month), 2, 5)
        mark(UInt8(ascii: "-"), 7)
        put(Int(day), 2, 8)
        mark(UInt8(ascii: "T"), 10)
        put(ms / 3_600_000, 2, 11)
        mark(UInt8(ascii: ":"), 13)
        put(ms / 60_000 % 60, 2, 14)
        mark(UInt8(ascii: ":"), 16)
        put(ms / 1000 % 60, 2, 17)
        mark(UInt8(ascii: "."), 19)
        put(ms % 1000, 3, 20)
        mark(UInt8(ascii: "Z"), 23)
    }

    /// The day since 1970-01-01 of `milliseconds` and the millisecond within it: floor
    /// division, written so that no value of Int64 can overflow.
    private static func dayAndMillisecond(of milliseconds: Int64) -> (day: Int64, millisecond: Int64) {
        var (day, millisecond) = milliseconds.quotientAndRemainder(dividingBy: 86_400_000)
        if millisecond < 0 { day -= 1; millisecond += 86_400_000 }
        return (day, millisecond)
    }
}
