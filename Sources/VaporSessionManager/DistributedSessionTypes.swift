// Only the core here: Vapor has its own `Session` and `SessionID`, and the core's module shares
// its name with its `SessionManager` class, so `SessionManager.Session` cannot be written.
import SessionManager

/// The core's `Session`, by a name that does not clash with Vapor's `Session`.
public typealias DistributedSession = Session

/// The core's `SessionID` (`<random>-<node>[.<route>]`), by a name that does not clash with Vapor's `SessionID`.
public typealias DistributedSessionID = SessionID
