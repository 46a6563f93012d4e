/// The commands waiting for one connection's thread. Pure logic, no I/O: the connection applies
/// the returned actions outside the lock.
///
/// Callers enqueue; the first caller of an idle queue schedules one drain on the thread, later
/// callers only add to the queue. The drain takes everything queued at once (one write and one
/// read of all replies for all callers: automatic pipelining), and again until the queue is
/// empty, so under load one thread wake-up serves many callers.
struct PipelineQueue<Request> {
    enum EnqueueAction {
        /// Schedule a drain on the connection's thread.
        case scheduleDrain
        /// A drain is scheduled or running; it will take this request.
        case none
        /// The connection is closed: fail the request.
        case fail
    }

    private var requests: [Request] = []
    private var draining = false
    private var closed = false

    init() {}

    mutating func enqueue(_ request: Request) -> EnqueueAction {
        guard !closed else { return .fail }
        requests.append(request)
        if draining { return .none }
        draining = true
        return .scheduleDrain
    }

    /// Everything queued, in order; empty when nothing is (the drain then ends).
    mutating func take() -> [Request] {
        guard !requests.isEmpty else {
            draining = false
            return []
        }
        defer { requests = [] }
        return requests
    }

    /// Later requests fail. Those already queued are still taken by the scheduled drain.
    mutating func close() {
        closed = true
    }

    /// Everything queued, when the scheduled drain could not run (the thread had stopped): the
    /// caller fails them.
    mutating func abandon() -> [Request] {
        draining = false
        defer { requests = [] }
        return requests
    }

    var isClosed: Bool { closed }
}
