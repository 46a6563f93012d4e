import AuditStore
import AuditConsumer
import KafkaClient

/// A contiguous offset range of one partition: the unit of one insert. `first` is the position
/// the batch starts at (the committed offset before it), `last` its last record's offset, so the
/// next batch starts at `last + 1` and gaps in the offsets (control records) stay inside a range.
public struct BatchRange: Sendable, Hashable, CustomStringConvertible {
    /// The topic.
    public var topic: String
    /// The partition.
    public var partition: Int32
    /// The first offset covered.
    public var first: Int64
    /// The last offset covered.
    public var last: Int64

    /// Creates a range.
    public init(topic: String, partition: Int32, first: Int64, last: Int64) {
        self.topic = topic
        self.partition = partition
        self.first = first
        self.last = last
    }

    /// `topic:partition:first-last`: names the batch (logs, the ranges table); the insert's
    /// deduplication token adds its first record's timestamp (``Batch/deduplicationToken``).
    public var token: String { "\(topic):\(partition):\(first)-\(last)" }

    /// The offset to commit once the batch is written.
    public var nextOffset: Int64 { last + 1 }

    /// Same as ``token``.
    public var description: String { token }
}

/// A cut batch: its range and its records, in offset order.
struct Batch: Sendable, Hashable {
    var range: BatchRange
    var records: [KafkaMessage]

    /// The batch's `insert_deduplication_token` (also stored in each row's `insert_token`):
    /// ``BatchRange/token`` and the Kafka timestamp of its first record. A replay of the batch
    /// reads the same records, so it gets the same token; a topic deleted and created again under
    /// the same name (offsets from 0 again) gets new ones, so ClickHouse never takes its batches
    /// for those of the old topic and silently drops them as duplicates.
    var deduplicationToken: String {
        "\(range.token):\(records.first?.timestampMilliseconds.map(String.init) ?? "-")"
    }
}

/// The decisions of one partition's writer, without I/O: where batches are cut (size, time, or
/// exactly a pending range to replay), one batch in flight at a time, the next offset to commit,
/// and when to pause or resume fetching. The writer applies the returned actions outside its lock.
struct PartitionBatcher: Sendable {
    struct Limits: Sendable, Hashable {
        var maxRows: Int
        var maxDelay: Duration
        /// Pause fetching when this many records wait; resume at ``resumeAt``.
        var pauseAt: Int
        var resumeAt: Int

        init(maxRows: Int, maxDelay: Duration) {
            self.maxRows = maxRows
            self.maxDelay = maxDelay
            self.pauseAt = max(2 * maxRows, 1000)
            self.resumeAt = max(maxRows, 500)
        }
    }

    enum Action: Sendable, Hashable {
        /// Write this batch, then report ``flushCompleted()``.
        case flush(Batch)
        /// Stop fetching this partition (too many records wait).
        case pause
        /// Fetch again.
        case resume
        /// Nothing is in flight or waiting any more: the writer may end (after ``drain()`` or
        /// ``stop()``).
        case finished
    }

    enum Phase: Sendable, Hashable {
        /// Waiting for the committed offset and the pending range.
        case loading
        case running
        /// Flush what is buffered, then finish.
        case draining
        /// Revoked or crashed: drop what is buffered, finish after the batch in flight.
        case stopped
        case finished
    }

    let topic: String
    let partition: Int32
    let limits: Limits
    private(set) var phase: Phase = .loading
    /// Where the next batch starts; nil until known (no committed offset and no record yet).
    private(set) var position: Int64?
    /// A range recorded before a crash that starts at the committed offset: the next batch must
    /// be exactly this range.
    private(set) var replay: ClosedRange<Int64>?
    /// A pending range seen when the group had no committed offset: replayed if the first record
    /// is at its start.
    private var replayCandidate: ClosedRange<Int64>?
    private(set) var buffered: [KafkaMessage] = []
    private var bufferedSince: ContinuousClock.Instant?
    /// When the oldest buffered record arrived here (``bufferedSince`` counts from Kafka).
    private var firstArrival: ContinuousClock.Instant?
    /// Records that arrived since the last tick: a backlog streams in many per tick.
    private var arrivedSinceTick = 0
    private(set) var inFlight: BatchRange?
    private(set) var paused = false

    init(topic: String, partition: Int32, limits: Limits) {
        self.topic = topic
        self.partition = partition
        self.limits = limits
    }

    /// The committed offset (nil when the group has none) and the last recorded range are known.
    mutating func start(committed: Int64?, pending: BatchRange?, now: ContinuousClock.Instant) -> [Action] {
        guard phase == .loading else { return [] }
        phase = .running
        let pendingRange = pending.map { $0.first...$0.last }
        if let committed {
            position = committed
            if let pendingRange, pendingRange.lowerBound == committed { replay = pendingRange }
        } else {
            replayCandidate = pendingRange
        }
        buffered.removeAll { record in position.map { record.offset < $0 } ?? false }
        if !buffered.isEmpty {
            if position == nil { adoptFirstRecord(buffered[0].offset) }
            bufferedSince = bufferedSince ?? now
            firstArrival = firstArrival ?? now
        }
        return cut(now: now)
    }

    /// A record of this partition arrived, `waited` after it was written to Kafka (its
    /// timestamp's age; zero when unknown). The batch delay counts from when its oldest record
    /// was written, so records read from a backlog (after a restart or a rebalance) are not held
    /// back a further ``Limits/maxDelay``: the next tick cuts them, with whatever arrived by then.
    /// Only the row limit cuts here; time cuts happen at ticks and after a flush, so a backlog
    /// becomes batches of what arrived meanwhile, never a batch per record. While a backlog
    /// streams in (a tenth of ``Limits/maxRows`` or more per tick), a batch that is due by time
    /// keeps filling up to ``Limits/maxRows``, for at most ``Limits/maxDelay`` after its first
    /// record arrived: fewer, larger parts, and the same batches as before at a steady rate.
    mutating func received(_ record: KafkaMessage, now: ContinuousClock.Instant, waited: Duration = .zero) -> [Action] {
        switch phase {
        case .stopped, .finished: return []
        case .loading, .running, .draining: break
        }
        if phase != .loading {
            if position == nil { adoptFirstRecord(record.offset) }
            if let position, record.offset < position { return [] }  // redelivered: already batched
        }
        if let last = buffered.last, record.offset <= last.offset { return [] }
        if buffered.isEmpty {
            bufferedSince = now - min(max(waited, .zero), limits.maxDelay)
            firstArrival = now
        }
        buffered.append(record)
        arrivedSinceTick += 1
        var actions = cut(now: now, byTime: false)
        if !paused, buffered.count >= limits.pauseAt {
            paused = true
            actions.append(.pause)
        }
        return actions
    }

    /// Time passed: cut a batch whose oldest record waited ``Limits/maxDelay``.
    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        defer { arrivedSinceTick = 0 }
        return cut(now: now)
    }

    /// The batch in flight is written and committed (or abandoned); cut the next one.
    mutating func flushCompleted(now: ContinuousClock.Instant) -> [Action] {
        inFlight = nil
        inFlightOldestTimestamp = nil
        var actions = cut(now: now)
        if paused, buffered.count <= limits.resumeAt, phase == .running {
            paused = false
            actions.append(.resume)
        }
        if actions.isEmpty, isIdle, phase == .draining || phase == .stopped {
            phase = .finished
            return [.finished]
        }
        return actions
    }

    /// Graceful shutdown: flush everything buffered (a pending replay only if it is complete),
    /// then finish.
    mutating func drain(now: ContinuousClock.Instant) -> [Action] {
        switch phase {
        case .running:
            phase = .draining
        case .loading:
            phase = .stopped
        default:
            return []
        }
        let actions = cut(now: now)
        if actions.isEmpty, inFlight == nil {
            phase = .finished
            return [.finished]
        }
        return actions
    }

    /// Revoked, or the sink crashed: drop what is buffered (its new owner re-reads it from the
    /// committed offset) and finish once the batch in flight is done.
    mutating func stop() -> [Action] {
        guard phase != .finished else { return [] }
        phase = .stopped
        buffered.removeAll()
        bufferedSince = nil
        firstArrival = nil
        if inFlight == nil {
            phase = .finished
            return [.finished]
        }
        return []
    }

    /// The Kafka timestamp of the oldest record not yet committed (in flight or buffered), for
    /// lag in seconds; nil when caught up.
    var oldestPendingTimestamp: Int64? { inFlightOldestTimestamp ?? buffered.first?.timestampMilliseconds }
    private var inFlightOldestTimestamp: Int64?

    private var isIdle: Bool { inFlight == nil && (buffered.isEmpty || phase == .stopped) }

    private mutating func adoptFirstRecord(_ offset: Int64) {
        position = offset
        if let candidate = replayCandidate, candidate.lowerBound == offset { replay = candidate }
        replayCandidate = nil
    }

    private mutating func cut(now: ContinuousClock.Instant, byTime: Bool = true) -> [Action] {
        guard phase == .running || phase == .draining, inFlight == nil, !buffered.isEmpty, let start = position else { return [] }
        let count: Int
        if let replay {
            // Rebuild exactly the recorded range: wait until a record at or past its end arrived.
            guard buffered.last!.offset >= replay.upperBound else { return [] }
            count = buffered.firstIndex { $0.offset > replay.upperBound } ?? buffered.count
            self.replay = nil
            let last = replay.upperBound
            return [emit(count: count, range: BatchRange(topic: topic, partition: partition, first: start, last: last), now: now)]
        }
        let due = buffered.count >= limits.maxRows || phase == .draining
            || (byTime && bufferedSince.map { now - $0 >= limits.maxDelay } ?? false && !isFilling(now: now))
        guard due else { return [] }
        count = min(buffered.count, limits.maxRows)
        let last = buffered[count - 1].offset
        return [emit(count: count, range: BatchRange(topic: topic, partition: partition, first: start, last: last), now: now)]
    }

    /// A backlog is streaming in and the batch has room and time left to fill.
    private func isFilling(now: ContinuousClock.Instant) -> Bool {
        guard arrivedSinceTick >= max(1, limits.maxRows / 10), buffered.count < limits.maxRows, let firstArrival else { return false }
        return now - firstArrival < limits.maxDelay
    }

    private mutating func emit(count: Int, range: BatchRange, now: ContinuousClock.Instant) -> Action {
        // Copies the smaller part: the whole buffer moves into the batch when it all goes, the
        // records left behind move into a new buffer when the batch takes most of them.
        var records: [KafkaMessage] = []
        if count * 2 >= buffered.count {
            swap(&records, &buffered)
            buffered = Array(records[count...])
            records.removeLast(records.count - count)
        } else {
            records = Array(buffered.prefix(count))
            buffered.removeFirst(count)
        }
        bufferedSince = buffered.isEmpty ? nil : now
        firstArrival = buffered.isEmpty ? nil : now
        position = range.last + 1
        inFlight = range
        inFlightOldestTimestamp = records.first?.timestampMilliseconds
        return .flush(Batch(range: range, records: records))
    }
}
