/// What a failed write of a batch means for it.
package enum FailureClass: Sendable, Hashable {
    /// May succeed later (ClickHouse down, TOO_MANY_PARTS, timeouts...): back off and retry, then
    /// dead-letter for an automatic re-drive.
    case transient
    /// The table rejected the data itself: retrying the same rows fails again.
    case rejected
    /// The server or schema needs an operator (missing table, grants), or the request is wrong:
    /// the data is fine, so it is never dead-lettered; keep retrying slowly.
    case needsOperator
}

/// The retry decision for a batch after a failed attempt.
package enum RetryDecision: Sendable, Hashable {
    /// Wait, then attempt again.
    case retry(after: Duration)
    /// Give up: dead-letter the batch's records. `redrive` says whether AuditPipe re-drives them
    /// by itself once ClickHouse is healthy (transient failures) or they need a human (rejected).
    case deadLetter(redrive: Bool)
}

/// The retry state of one batch (attempts so far), without I/O.
package struct BatchRetryState: Sendable, Hashable {
    package let policy: RetryPolicy
    package private(set) var attempts = 0

    package init(policy: RetryPolicy) { self.policy = policy }

    /// An attempt failed with `failure`; `jitter` is a random number in [0, 1).
    package mutating func failed(_ failure: FailureClass, jitter: Double) -> RetryDecision {
        attempts += 1
        switch failure {
        case .rejected:
            return .deadLetter(redrive: false)
        case .needsOperator:
            return .retry(after: policy.backoff(afterAttempt: attempts, jitter: jitter))
        case .transient:
            if let maxAttempts = policy.maxAttempts, attempts >= maxAttempts { return .deadLetter(redrive: true) }
            return .retry(after: policy.backoff(afterAttempt: attempts, jitter: jitter))
        }
    }
}
