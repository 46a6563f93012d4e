import AuditEvents
import Foundation
import Testing

import AuditBench

@Suite("Percentiles")
struct PercentilesTests {
    @Test("nearest rank follows ceil(p/100 * n)")
    func nearestRank() {
        let values = [1, 2, 3, 4]
        #expect(Percentiles.nearestRank(values, percentile: 0) == 1)
        #expect(Percentiles.nearestRank(values, percentile: 25) == 1)
        #expect(Percentiles.nearestRank(values, percentile: 26) == 2)
        #expect(Percentiles.nearestRank(values, percentile: 50) == 2)
        #expect(Percentiles.nearestRank(values, percentile: 75) == 3)
        #expect(Percentiles.nearestRank(values, percentile: 99) == 4)
        #expect(Percentiles.nearestRank(values, percentile: 100) == 4)
        #expect(Percentiles.nearestRank([Int](), percentile: 50) == nil)
        let hundred = Array(1...100)
        #expect(Percentiles.nearestRank(hundred, percentile: 99) == 99)
        #expect(Percentiles.nearestRank(hundred, percentile: 99.9) == 100)
        #expect(Percentiles.nearestRank(hundred, percentile: 150) == 100)
        #expect(Percentiles.nearestRank(hundred, percentile: -3) == 1)
    }

    @Test("summary of samples is exact")
    func exactSummary() throws {
        let samples: [UInt64] = (1...1000).map { UInt64($0) }.shuffled()
        let summary = try #require(LatencySummary(samples: samples))
        #expect(summary.count == 1000)
        #expect(summary.minNanoseconds == 1)
        #expect(summary.p50Nanoseconds == 500)
        #expect(summary.p90Nanoseconds == 900)
        #expect(summary.p99Nanoseconds == 990)
        #expect(summary.p999Nanoseconds == 999)
        #expect(summary.maxNanoseconds == 1000)
        #expect(summary.meanNanoseconds == 500.5)
        #expect(LatencySummary(samples: []) == nil)
    }

    @Test("bucket boundaries: each value lands in a bucket whose highest value is >= it and within 0.1 %")
    func buckets() {
        var previousIndex = -1
        var value: UInt64 = 0
        while value < 50_000_000_000 {
            let index = LatencyHistogram.bucketIndex(value)
            #expect(index >= previousIndex, "bucket index must not decrease (value \(value))")
            previousIndex = index
            let highest = LatencyHistogram.highestValue(inBucket: index)
            #expect(highest >= value)
            #expect(Double(highest - value) <= Double(value) / 1000 + 1, "value \(value) reported as \(highest)")
            #expect(LatencyHistogram.bucketIndex(highest) == index)
            value = value < 5000 ? value + 1 : value + value / 997
        }
    }

    @Test("histogram percentiles match the exact ones within 0.1 %", arguments: [1, 7, 100, 10_000])
    func histogramAgainstExact(count: Int) throws {
        var random = SplitMix64(seed: UInt64(count))
        var histogram = LatencyHistogram()
        var samples: [UInt64] = []
        for _ in 0..<count {
            // Log-uniform from 1 µs to 10 s: covers the linear and the logarithmic buckets.
            let exponent = 3.0 + 7.0 * Double(random.next() % 1_000_000) / 1_000_000
            let value = UInt64(pow(10, exponent))
            samples.append(value)
            histogram.record(nanoseconds: value)
        }
        let exact = try #require(LatencySummary(samples: samples))
        let approx = try #require(histogram.summary)
        #expect(approx.count == exact.count)
        #expect(approx.minNanoseconds == exact.minNanoseconds)
        #expect(approx.maxNanoseconds == exact.maxNanoseconds)
        for (a, e) in [(approx.p50Nanoseconds, exact.p50Nanoseconds), (approx.p90Nanoseconds, exact.p90Nanoseconds),
                       (approx.p99Nanoseconds, exact.p99Nanoseconds), (approx.p999Nanoseconds, exact.p999Nanoseconds)] {
            #expect(a >= e)
            #expect(Double(a - e) <= Double(e) / 1000 + 1, "histogram \(a) vs exact \(e)")
        }
        #expect(abs(approx.meanNanoseconds - exact.meanNanoseconds) <= exact.meanNanoseconds * 1e-9)
    }

    @Test("merge adds counts; values beyond the range are clamped but max stays true")
    func mergeAndClamp() throws {
        var a = LatencyHistogram(highestTrackable: 1_000_000)
        var b = LatencyHistogram(highestTrackable: 1_000_000)
        for value in [100, 200, 300] as [UInt64] { a.record(nanoseconds: value) }
        b.record(nanoseconds: 50)
        b.record(nanoseconds: 5_000_000)
        a.merge(b)
        #expect(a.count == 5)
        #expect(a.minNanoseconds == 50)
        #expect(a.maxNanoseconds == 5_000_000)
        #expect(a.value(atPercentile: 20) == 50)
        #expect(a.value(atPercentile: 60) == 200)
        let top = try #require(a.value(atPercentile: 100))
        #expect(top >= 1_000_000 && top <= 5_000_000)
        #expect(LatencyHistogram().value(atPercentile: 50) == nil)
        #expect(LatencyHistogram().summary == nil)
    }

    @Test("durations are recorded in nanoseconds")
    func durations() {
        var histogram = LatencyHistogram()
        histogram.record(.milliseconds(3))
        histogram.record(.microseconds(1500))
        histogram.record(.seconds(-1))
        #expect(histogram.count == 3)
        #expect(histogram.minNanoseconds == 0)
        #expect(histogram.maxNanoseconds == 3_000_000)
        #expect(Duration.milliseconds(2).nanoseconds == 2_000_000)
        #expect(Duration.milliseconds(-2).nanoseconds == 0)
        #expect(Duration.milliseconds(1500).seconds == 1.5)
    }
}
