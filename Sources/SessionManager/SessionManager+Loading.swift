import Logging

/// Opening sessions: msm's load with failover and migration, creation on a placed node, takeover
/// by this app server, expiry.
extension SessionManager {
    enum LoadResult {
        case found(Session)
        case notFound
        case storeUnavailable
    }

    /// Reads a session from its node, or from another node holding its backup copy when its node
    /// is down (then the session migrates: its id names the node it now lives on).
    func loadFromStore(_ id: SessionID, logger: Logger) async -> LoadResult {
        guard let primary = nodes.index(of: id.nodeID), !nodes.nodes.isEmpty else { return .notFound }
        let key = storageKey(id.random)
        var anyNodeAnswered = false
        if await nodes.isAvailable(primary) {
            do {
                let stored = try await nodes.store(primary).get(key)
                metrics.loads.increment()
                if let stored {
                    guard let session = await decode(stored, id: id, logger: logger) else {
                        metrics.loadsNotFound.increment()
                        return .notFound
                    }
                    if await nodes.shouldLeaveFailoverNode(primary), let target = await nodes.nodeForNewSession(excluding: primary) {
                        relocate(session, to: target)
                    }
                    return .found(session)
                }
                // A live primary without the session: gone, unless the node restarted empty while
                // the backup copy survived. Look there, and write the session back if found.
                guard configuration.backupEnabled else {
                    metrics.loadsNotFound.increment()
                    return .notFound
                }
                if let restored = await readBackup(of: id, key: key, primary: primary, logger: logger) {
                    restored.withState { $0.mustStore = true }
                    logger.info("session restored from its backup copy onto its restarted node", metadata: ["session": "\(id)"])
                    return .found(restored)
                }
                metrics.loadsNotFound.increment()
                return .notFound
            } catch {
                if error.kind == .nodeUnavailable {
                    nodes.markDown(primary, because: error)
                } else {
                    logger.error("session read failed", metadata: ["session": "\(id)", "error": "\(error.message)"])
                    return .notFound
                }
            }
        }
        for index in nodes.others(than: primary) where await nodes.isAvailable(index) {
            do throws(SessionStoreError) {
                let stored = try await nodes.store(index).get(key)
                anyNodeAnswered = true
                guard let stored, let session = await decode(stored, id: id, logger: logger) else { continue }
                metrics.failovers.increment()
                let target = nodes.nodes[index].isFailover ? (await nodes.nodeForNewSession() ?? index) : index
                relocate(session, to: target)
                logger.info(
                    "session failed over to its backup copy",
                    metadata: [
                        "session": "\(id)", "from": "\(id.nodeID ?? "-")", "to": "\(nodes.id(of: target) ?? "-")",
                    ])
                return .found(session)
            } catch {
                if error.kind == .nodeUnavailable { nodes.markDown(index, because: error) }
            }
        }
        return anyNodeAnswered ? .notFound : .storeUnavailable
    }

    /// The session from whichever other node holds a copy, read without moving it.
    func readBackup(of id: SessionID, key: String, primary: Int, logger: Logger) async -> Session? {
        for index in nodes.others(than: primary) where await nodes.isAvailable(index) {
            do throws(SessionStoreError) {
                guard let stored = try await nodes.store(index).get(key) else { continue }
                return await decode(stored, id: id, logger: logger)
            } catch {
                if error.kind == .nodeUnavailable { nodes.markDown(index, because: error) }
            }
        }
        return nil
    }

    /// The stored bytes as a session, or `nil` (logged, counted) when unreadable or expired.
    func decode(_ bytes: [UInt8], id: SessionID, logger: Logger) async -> Session? {
        let envelope: [UInt8]
        do throws(SessionEncryptionError) {
            envelope = try opened(bytes, id: id)
        } catch {
            metrics.decryptionFailures[error.kind]?.increment()
            logger.warning(
                "stored session does not open with the configured keys; the request gets a new session",
                metadata: ["session": "\(id)", "reason": "\(error.kind.rawValue)", "error": "\(error)"])
            return nil
        }
        let record: SessionRecord
        do {
            record = try SessionEnvelope.decode(envelope)
        } catch {
            metrics.unreadable.increment()
            logger.warning("unreadable session data; the request gets a new session", metadata: ["session": "\(id)", "error": "\(error)"])
            return nil
        }
        guard record.id == id.random else {
            metrics.unreadable.increment()
            logger.warning("stored session belongs to another id; ignored", metadata: ["session": "\(id)"])
            return nil
        }
        let now = now()
        if record.maxInactiveInterval > 0,
            now - record.lastAccessedTime > Int64(record.maxInactiveInterval) * 1000 + refreshIntervalMilliseconds
        {
            await expire(id)
            return nil
        }
        return Session(
            state: Session.State(
                id: id,
                creationTime: record.creationTime,
                lastAccessedTime: now,
                maxInactiveInterval: Int(record.maxInactiveInterval),
                attributes: record.attributes,
                storedAttributes: record.attributes,
                storedAccessTime: record.lastAccessedTime
            ),
            coder: configuration.attributeCoder
        )
    }

    /// The plain envelope of stored bytes: opened with the configured keys, or as read when
    /// encryption is off (an encrypted blob then fails with a hint instead of "not an envelope").
    private func opened(_ bytes: [UInt8], id: SessionID) throws(SessionEncryptionError) -> [UInt8] {
        if let encryption = configuration.encryption { return try encryption.open(bytes, sessionID: id.random) }
        guard !SessionCipherFormat.isEncrypted(bytes) else {
            throw SessionEncryptionError(
                .notConfigured, "the stored session is encrypted and this manager has no keys; configure the same encryption keys on every server")
        }
        return bytes
    }

    /// A new session on an available node (a failover node only if no regular one is up).
    func createSession() async throws(SessionError) -> Session {
        var nodeID: String?
        if !nodes.nodes.isEmpty {
            if let index = await nodes.nodeForNewSession() {
                nodeID = nodes.id(of: index)
            } else if configuration.sticky {
                // Every node is down: serve from memory; the first store write that succeeds places it.
                nodeID = nodes.nodes.first(where: { !$0.isFailover })?.id
            } else {
                throw SessionError(.storeUnavailable, "no session store node is reachable, so a new session cannot be kept")
            }
        }
        let id = SessionID.generate(nodeID: nodeID, route: configuration.route)
        let now = now()
        let session = Session(
            state: Session.State(
                id: id, creationTime: now, lastAccessedTime: now, maxInactiveInterval: configuration.maxInactiveIntervalSeconds,
                attributes: [:], storedAttributes: nil, storedAccessTime: now, mustStore: true
            ),
            coder: configuration.attributeCoder
        )
        metrics.created.increment()
        onEvent?(.created(id))
        return session
    }

    /// A session last served by another app server now belongs to this one: its id carries this
    /// server's route, so a sticky balancer sends the next request here (msm's Tomcat failover).
    func takeOver(_ session: Session) {
        guard let route = configuration.route else { return }
        let tookOver = session.withState { state -> Bool in
            guard state.id.route != route else { return false }
            state.id = state.id.routed(to: route)
            return true
        }
        if tookOver { metrics.takeovers.increment() }
    }

    func relocate(_ session: Session, to index: Int) {
        let nodeID = nodes.id(of: index)
        session.withState { state in
            guard state.id.nodeID != nodeID else { return }
            state.id = state.id.relocated(to: nodeID)
            state.mustStore = true
        }
        metrics.relocations.increment()
    }

    /// True when a sticky local copy has been idle past its expiry.
    func isExpiredLocally(_ session: Session, now: Int64) -> Bool {
        session.withState { state in
            state.maxInactiveInterval > 0 && now - state.lastAccessedTime > Int64(state.maxInactiveInterval) * 1000
        }
    }

    func expire(_ id: SessionID) async {
        local.remove(id.random)
        metrics.destroyedExpired.increment()
        onEvent?(.destroyed(id, .expired))
        await deleteEverywhere(random: id.random)
    }
}
