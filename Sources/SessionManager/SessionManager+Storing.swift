import Logging

/// Storing sessions: what changed, where it goes (placement, backup copy), failure handling, deletion.
extension SessionManager {
    enum StoreOutcome {
        case unchanged
        case stored(changedAttributes: Bool)
        case deleted
        case deferred
    }

    /// Writes the session if it changed, must be written, or its store expiry needs refreshing;
    /// deletes every copy if it was invalidated.
    func store(_ session: Session, logger: Logger) async throws(SessionError) -> StoreOutcome {
        await session.storeGate.enter()
        defer { session.storeGate.leave() }
        return try await storeHoldingGate(session, logger: logger)
    }

    func storeHoldingGate(_ session: Session, logger: Logger) async throws(SessionError) -> StoreOutcome {
        let now = now()
        let refreshInterval = refreshIntervalMilliseconds
        let untouched = session.withState { state in
            state.isValid && !state.mustStore && state.changeCount == state.storedChangeCount
                && !(state.maxInactiveInterval > 0 && now - state.storedAccessTime >= refreshInterval)
        }
        guard !untouched else {
            metrics.storesSkipped.increment()
            return .unchanged
        }
        let snapshot = session.withState { state in
            let persisted = patterns.persistedAttributes(state.attributes)
            return (
                id: state.id, isValid: state.isValid, persisted: persisted,
                changed: state.storedAttributes != persisted,
                mustStore: state.mustStore,
                refreshDue: state.maxInactiveInterval > 0 && now - state.storedAccessTime >= refreshInterval,
                creationTime: state.creationTime, maxInactiveInterval: state.maxInactiveInterval,
                retired: state.retiredRandoms, changeCount: state.changeCount
            )
        }
        guard snapshot.isValid else {
            // Non-sticky: the last request's release drops the entry and returns its lock.
            if configuration.sticky { local.remove(snapshot.id.random) }
            metrics.destroyedInvalidated.increment()
            onEvent?(.destroyed(snapshot.id, .invalidated))
            for random in [snapshot.id.random] + snapshot.retired { await deleteEverywhere(random: random) }
            return .deleted
        }
        guard snapshot.changed || snapshot.mustStore || snapshot.refreshDue else {
            // Writes that set the values already stored: nothing to store, and the next
            // read-only request may skip the comparison.
            session.withState { state in
                if state.changeCount == snapshot.changeCount { state.storedChangeCount = snapshot.changeCount }
            }
            metrics.storesSkipped.increment()
            return .unchanged
        }
        guard !nodes.nodes.isEmpty else {
            markStored(session, storedID: snapshot.id, changeCount: snapshot.changeCount, attributes: snapshot.persisted, at: now)
            return .stored(changedAttributes: snapshot.changed)
        }

        let clock = ContinuousClock()
        let encodingStart = clock.now
        let bytes = storedForm(
            of: SessionRecord(
                id: snapshot.id.random, creationTime: snapshot.creationTime, lastAccessedTime: now,
                maxInactiveInterval: Int32(clamping: snapshot.maxInactiveInterval), attributes: snapshot.persisted
            ))
        metrics.serialization.recordNanoseconds((clock.now - encodingStart).nanosecondsClamped)
        metrics.serializedSize.record(bytes.count)

        guard var target = await placement(for: session) else {
            session.withState { $0.mustStore = true }
            metrics.storeFailures.increment()
            logger.warning("no session store node is reachable; session kept in memory only", metadata: ["session": "\(snapshot.id)"])
            if configuration.sticky { return .deferred }
            throw SessionError(.storeUnavailable, "no session store node is reachable; the session change was not saved")
        }
        let expiration = storeExpirationSeconds(snapshot.maxInactiveInterval)
        for attempt in 0..<2 {
            do throws(SessionStoreError) {
                try await write(bytes, key: storageKey(snapshot.id.random), primary: target, expiration: expiration)
                // The id names the new node only once the session really lives there.
                relocate(session, to: target)
                markStored(session, storedID: snapshot.id, changeCount: snapshot.changeCount, attributes: snapshot.persisted, at: now)
                metrics.stores.increment()
                // Only now that the session lives under its new id may the old ids die.
                for random in snapshot.retired { await deleteEverywhere(random: random) }
                return .stored(changedAttributes: snapshot.changed)
            } catch {
                if error.kind == .valueTooLarge {
                    metrics.storeFailures.increment()
                    logger.error(
                        "session too large for the store",
                        metadata: ["session": "\(snapshot.id)", "bytes": "\(bytes.count)", "error": "\(error.message)"])
                    await restoreLastStoredVersion(
                        of: session, changed: snapshot.persisted, key: storageKey(snapshot.id.random), node: target, expiration: expiration)
                    throw SessionError(
                        .sessionTooLarge,
                        "the session is \(bytes.count) bytes, more than the store accepts: \(error.message); the change was discarded")
                }
                nodes.markDown(target, because: error)
                guard attempt == 0, let next = await nodes.nodeForNewSession(excluding: target) else { break }
                target = next
            }
        }
        session.withState { $0.mustStore = true }
        metrics.storeFailures.increment()
        logger.warning("session could not be stored on any node; kept in memory only", metadata: ["session": "\(snapshot.id)"])
        if configuration.sticky { return .deferred }
        throw SessionError(.storeUnavailable, "the session could not be written to any store node")
    }

    /// memcached drops the old item when it refuses a new one as too large (Redis keeps it), so
    /// the last stored version is written back and the refused change undone in memory: store and
    /// memory agree.
    func restoreLastStoredVersion(of session: Session, changed persisted: [String: [UInt8]], key: String, node: Int, expiration: Int) async {
        let record = session.withState { state -> SessionRecord? in
            guard let stored = state.storedAttributes else { return nil }
            for name in Set(persisted.keys).union(stored.keys) where stored[name] != state.attributes[name] {
                state.attributes[name] = stored[name]
            }
            return SessionRecord(
                id: state.id.random, creationTime: state.creationTime, lastAccessedTime: state.storedAccessTime,
                maxInactiveInterval: Int32(clamping: state.maxInactiveInterval), attributes: stored
            )
        }
        guard let record else { return }
        try? await write(storedForm(of: record), key: key, primary: node, expiration: expiration)
    }

    /// The bytes the store holds for `record`: its envelope, sealed when encryption is configured.
    func storedForm(of record: SessionRecord) -> [UInt8] {
        let envelope = SessionEnvelope.encode(record)
        return configuration.encryption?.seal(envelope, sessionID: record.id) ?? envelope
    }

    /// For stores that run after the response (`sessionBackupAsync`): move the session now to the
    /// node it will be written to, so the response's cookie already names it.
    func placeBeforeAsyncStore(_ session: Session) async {
        guard !nodes.nodes.isEmpty, let target = await placement(for: session) else { return }
        relocate(session, to: target)
    }

    /// The node the session is written to: its own, unless that one is down or the session should
    /// leave a failover node.
    func placement(for session: Session) async -> Int? {
        guard let current = nodes.index(of: session.id.nodeID) else { return await nodes.nodeForNewSession() }
        if await nodes.isAvailable(current) {
            if await nodes.shouldLeaveFailoverNode(current), let target = await nodes.nodeForNewSession(excluding: current) {
                return target
            }
            return current
        }
        return await nodes.nodeForNewSession(excluding: current)
    }

    /// Primary and backup copies are written concurrently; only the primary's failure fails the store.
    func write(_ bytes: [UInt8], key: String, primary: Int, expiration: Int) async throws(SessionStoreError) {
        let backup = configuration.backupEnabled ? await nodes.backupNode(for: primary) : nil
        async let backupWritten: SessionStoreError? = writeBackup(bytes, key: key, node: backup, expiration: expiration)
        do {
            try await nodes.store(primary).set(key, value: bytes, expirationSeconds: expiration)
        } catch {
            _ = await backupWritten
            throw error
        }
        if let backupError = await backupWritten, let backup {
            metrics.backupFailures.increment()
            if backupError.kind == .nodeUnavailable { nodes.markDown(backup, because: backupError) }
        }
    }

    func writeBackup(_ bytes: [UInt8], key: String, node: Int?, expiration: Int) async -> SessionStoreError? {
        guard let node else { return nil }
        do {
            try await nodes.store(node).set(key, value: bytes, expirationSeconds: expiration)
            return nil
        } catch {
            return error
        }
    }

    /// Records what the store now holds. A session whose id changed while the write was in
    /// flight (login rotation) still must be stored under its new id.
    func markStored(_ session: Session, storedID: SessionID, changeCount: UInt64, attributes: [String: [UInt8]], at now: Int64) {
        session.withState { state in
            state.storedAttributes = attributes
            state.storedAccessTime = now
            state.storedChangeCount = changeCount
            if state.id.random == storedID.random {
                state.mustStore = false
                state.retiredRandoms.removeAll()
            }
        }
    }

    /// Store copies outlive the session by one more interval, so an expired session can still be
    /// recognised (and its `destroyed` event fired) when it is next requested.
    func storeExpirationSeconds(_ maxInactiveInterval: Int) -> Int {
        maxInactiveInterval <= 0 ? 0 : 2 * maxInactiveInterval + Int(refreshIntervalMilliseconds / 1000)
    }

    func deleteEverywhere(random: String) async {
        let key = storageKey(random)
        await withTaskGroup(of: Void.self) { group in
            for index in nodes.nodes.indices {
                group.addTask {
                    guard await self.nodes.isAvailable(index) else { return }
                    do throws(SessionStoreError) {
                        try await self.nodes.store(index).delete(key)
                    } catch {
                        if error.kind == .nodeUnavailable { self.nodes.markDown(index, because: error) }
                    }
                }
            }
        }
    }
}
