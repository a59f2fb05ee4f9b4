import Metrics

/// msm's statistics (`msmStat*`) as swift-metrics instruments, created once.
struct SessionMetrics: Sendable {
    let requestsWithSession = Counter(label: "session_requests_total", dimensions: [("session", "with")])
    let requestsWithoutSession = Counter(label: "session_requests_total", dimensions: [("session", "without")])
    let ignoredRequests = Counter(label: "session_requests_ignored_total")
    let loads = Counter(label: "session_loads_total")
    let loadsNotFound = Counter(label: "session_loads_not_found_total")
    let stores = Counter(label: "session_stores_total")
    let storesSkipped = Counter(label: "session_stores_skipped_total")
    let storeFailures = Counter(label: "session_store_failures_total")
    let backupFailures = Counter(label: "session_backup_failures_total")
    let failovers = Counter(label: "session_failovers_total")
    let takeovers = Counter(label: "session_takeovers_total")
    let relocations = Counter(label: "session_relocations_total")
    let created = Counter(label: "sessions_created_total")
    let destroyedInvalidated = Counter(label: "sessions_destroyed_total", dimensions: [("reason", "invalidated")])
    let destroyedExpired = Counter(label: "sessions_destroyed_total", dimensions: [("reason", "expired")])
    let unreadable = Counter(label: "session_unreadable_total")
    /// Stored sessions that did not open with the configured keys, by ``SessionEncryptionError/Kind``.
    let decryptionFailures = Dictionary(
        uniqueKeysWithValues: SessionEncryptionError.Kind.allCases.map {
            ($0, Counter(label: "session_decryption_failures_total", dimensions: [("reason", $0.rawValue)]))
        })
    let lockAcquired = Counter(label: "session_locks_acquired_total")
    let lockFailures = Counter(label: "session_lock_failures_total")
    /// Locks passed with their session to the next request of this process instead of released.
    let lockHandoffs = Counter(label: "session_lock_handoffs_total")
    let lockWait = Timer(label: "session_lock_wait_seconds")
    let serialization = Timer(label: "session_serialization_seconds")
    let serializedSize = Recorder(label: "session_serialized_bytes")
}
