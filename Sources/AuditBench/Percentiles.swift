/// Latency percentiles for the benchmarks: a bounded-memory log-linear histogram (HdrHistogram's
/// bucketing, three significant digits) and a nearest-rank percentile over a sorted array.
///
/// Values are nanoseconds. Memory does not grow with the number of samples: a histogram is about
/// 300 KiB whatever it records, so a long run at a high rate keeps its memory bounded.

/// Nearest-rank percentiles (the definition HdrHistogram and most load tools report).
package enum Percentiles {
    /// The nearest-rank `percentile` (0...100) of `sorted` (ascending); `nil` when it is empty.
    ///
    /// The rank is `ceil(p / 100 * n)`, at least 1: p50 of `[1, 2, 3, 4]` is 2, p100 is 4, p0 is 1.
    package static func nearestRank<Value: Comparable>(_ sorted: [Value], percentile: Double) -> Value? {
        guard !sorted.isEmpty else { return nil }
        return sorted[rankIndex(count: sorted.count, percentile: percentile)]
    }

    /// The zero-based index of the nearest-rank `percentile` in `count` sorted values (`count > 0`).
    package static func rankIndex(count: Int, percentile: Double) -> Int {
        precondition(count > 0, "a percentile of no values")
        let p = min(max(percentile, 0), 100)
        // The relative epsilon keeps exact ranks exact despite binary fractions (99.9 / 100 * 1000
        // is 999.0000000000001 in floating point, which must still be rank 999).
        let exact = p / 100 * Double(count)
        let rank = Int((exact - exact * 1e-12).rounded(.up))
        return min(max(rank, 1), count) - 1
    }
}

/// A latency summary in nanoseconds: what every benchmark figure reports.
package struct LatencySummary: Sendable, Equatable {
    /// How many samples were recorded.
    package var count: UInt64
    package var minNanoseconds: UInt64
    package var p50Nanoseconds: UInt64
    package var p90Nanoseconds: UInt64
    package var p99Nanoseconds: UInt64
    package var p999Nanoseconds: UInt64
    package var maxNanoseconds: UInt64
    package var meanNanoseconds: Double

    package init(
        count: UInt64, minNanoseconds: UInt64, p50Nanoseconds: UInt64, p90Nanoseconds: UInt64,
        p99Nanoseconds: UInt64, p999Nanoseconds: UInt64, maxNanoseconds: UInt64, meanNanoseconds: Double
    ) {
        self.count = count
        self.minNanoseconds = minNanoseconds
        self.p50Nanoseconds = p50Nanoseconds
        self.p90Nanoseconds = p90Nanoseconds
        self.p99Nanoseconds = p99Nanoseconds
        self.p999Nanoseconds = p999Nanoseconds
        self.maxNanoseconds = maxNanoseconds
        self.meanNanoseconds = meanNanoseconds
    }

    /// The summary of nanosecond samples, computed exactly by sorting (for small sample sets and tests).
    package init?(samples: [UInt64]) {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        func at(_ p: Double) -> UInt64 { sorted[Percentiles.rankIndex(count: sorted.count, percentile: p)] }
        self.init(
            count: UInt64(sorted.count), minNanoseconds: sorted[0], p50Nanoseconds: at(50),
            p90Nanoseconds: at(90), p99Nanoseconds: at(99), p999Nanoseconds: at(99.9),
            maxNanoseconds: sorted[sorted.count - 1],
            meanNanoseconds: sorted.reduce(0.0) { $0 + Double($1) } / Double(sorted.count)
        )
    }

    /// Milliseconds, for tables and JSON figures.
    package static func milliseconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1_000_000 }
}

/// A log-linear latency histogram with bounded memory (HdrHistogram's layout, 3 significant digits).
///
/// Values below 2048 ns are counted exactly; above, each power of two is split in 1024 buckets, so a
/// reported percentile is at most 0.1 % above the true sample. Values above `highestTrackable` are
/// counted as `highestTrackable` (and `maxNanoseconds` still reports the true maximum).
package struct LatencyHistogram: Sendable, Equatable {
    private static let subBucketBits = 10
    private static let subBucketCount = 1 << subBucketBits  // 1024
    private static let linearLimit = subBucketCount * 2  // 2048

    private var counts: [UInt64]
    /// The largest value given its own bucket.
    package let highestTrackable: UInt64
    /// How many values were recorded.
    package private(set) var count: UInt64 = 0
    /// The smallest value recorded (`UInt64.max` while empty).
    package private(set) var minNanoseconds: UInt64 = .max
    /// The largest value recorded (0 while empty).
    package private(set) var maxNanoseconds: UInt64 = 0
    private var sumNanoseconds: Double = 0

    /// An empty histogram tracking values up to `highestTrackable` nanoseconds (default 10 minutes).
    package init(highestTrackable: UInt64 = 600_000_000_000) {
        precondition(highestTrackable >= UInt64(Self.linearLimit), "highestTrackable must be at least 2048 ns")
        self.highestTrackable = highestTrackable
        self.counts = Array(repeating: 0, count: Self.bucketIndex(highestTrackable) + 1)
    }

    /// The bucket index of `value`.
    package static func bucketIndex(_ value: UInt64) -> Int {
        if value < UInt64(linearLimit) { return Int(value) }
        let mostSignificantBit = 63 - value.leadingZeroBitCount  // >= 11
        let shift = mostSignificantBit - subBucketBits  // >= 1
        let subBucket = Int(value >> UInt64(shift))  // 1024 ..< 2048
        return linearLimit + (shift - 1) * subBucketCount + (subBucket - subBucketCount)
    }

    /// The highest value that lands in bucket `index` (what HdrHistogram reports for a percentile).
    package static func highestValue(inBucket index: Int) -> UInt64 {
        if index < linearLimit { return UInt64(index) }
        let offset = index - linearLimit
        let shift = offset / subBucketCount + 1
        let subBucket = UInt64(offset % subBucketCount + subBucketCount)
        return (subBucket << UInt64(shift)) + (UInt64(1) << UInt64(shift)) - 1
    }

    /// Records one latency.
    package mutating func record(nanoseconds value: UInt64) {
        counts[Self.bucketIndex(min(value, highestTrackable))] += 1
        count += 1
        minNanoseconds = min(minNanoseconds, value)
        maxNanoseconds = max(maxNanoseconds, value)
        sumNanoseconds += Double(value)
    }

    /// Records one latency given as a `Duration` (negative durations count as 0).
    package mutating func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return record(nanoseconds: 0) }
        record(nanoseconds: UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000))
    }

    /// Adds every value recorded by `other` (which must track the same range).
    package mutating func merge(_ other: LatencyHistogram) {
        precondition(other.counts.count == counts.count, "merging histograms of different ranges")
        for index in counts.indices where other.counts[index] != 0 { counts[index] += other.counts[index] }
        count += other.count
        minNanoseconds = min(minNanoseconds, other.minNanoseconds)
        maxNanoseconds = max(maxNanoseconds, other.maxNanoseconds)
        sumNanoseconds += other.sumNanoseconds
    }

    /// The nearest-rank `percentile` (0...100) in nanoseconds, within 0.1 %; `nil` while empty.
    /// Never more than the largest value recorded.
    package func value(atPercentile percentile: Double) -> UInt64? {
        guard count > 0 else { return nil }
        let target = UInt64(Percentiles.rankIndex(count: Int(count), percentile: percentile) + 1)
        var seen: UInt64 = 0
        for (index, bucketCount) in counts.enumerated() where bucketCount != 0 {
            seen += bucketCount
            if seen >= target { return min(Self.highestValue(inBucket: index), maxNanoseconds) }
        }
        return maxNanoseconds
    }

    /// The mean in nanoseconds (0 while empty).
    package var meanNanoseconds: Double { count == 0 ? 0 : sumNanoseconds / Double(count) }

    /// min, p50, p90, p99, p99.9, max and mean; `nil` while empty.
    package var summary: LatencySummary? {
        guard count > 0 else { return nil }
        return LatencySummary(
            count: count, minNanoseconds: minNanoseconds,
            p50Nanoseconds: value(atPercentile: 50)!, p90Nanoseconds: value(atPercentile: 90)!,
            p99Nanoseconds: value(atPercentile: 99)!, p999Nanoseconds: value(atPercentile: 99.9)!,
            maxNanoseconds: maxNanoseconds, meanNanoseconds: meanNanoseconds
        )
    }
}
