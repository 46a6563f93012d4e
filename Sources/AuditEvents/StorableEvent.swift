/// What AuditPipe stores: the events table's DateTime64(3) holds these event times. The sink
/// dead-letters other events and recent events leave them out, so that both show the same ones.
package enum StorableEvent {
    /// The event times DateTime64(3) holds: years 1900...2299, in milliseconds.
    package static let timestampRange: ClosedRange<Int64> = -2_208_988_800_000 ... 10_413_791_999_999

    /// Why the table cannot hold an event with these fields, or nil.
    package static func rejection(timestampMilliseconds: Int64, eventIDIsEmpty: Bool) -> String? {
        if !timestampRange.contains(timestampMilliseconds) {
            return "timestamp \(timestampMilliseconds) ms is outside DateTime64(3)'s range (years 1900...2299)"
        }
        if eventIDIsEmpty { return "event_id is empty" }
        return nil
    }
}
