import MemcachedClient
import NIOSSL
import PipelinedTLS

extension MemcachedClientConfiguration {
    /// Encrypts every connection with TLS (`memcached -Z`), in its own product so that a client
    /// without TLS compiles no TLS library.
    ///
    /// The server is verified as `tlsConfiguration` says: the default checks the certificate
    /// against the system's roots and the server's host name or IP address; for a private CA set
    /// `trustRoots` (e.g. `.file("/etc/memcached/ca.crt")`), for a client certificate (memcached's
    /// `ssl_verify_mode`) `certificateChain` and `privateKey`. A failed handshake fails the
    /// connect, so the first request reports it.
    /// - Throws: `MemcachedError` with code `invalidValue` when the settings cannot be loaded (a missing
    ///   CA file, say).
    public mutating func useTLS(_ tlsConfiguration: TLSConfiguration = .makeClientConfiguration()) throws(MemcachedError) {
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tlsConfiguration)
        } catch {
            throw MemcachedError(.invalidValue, "the TLS configuration cannot be used: \(error)")
        }
        transportSecurity = MemcachedTransportSecurity { channel, host in
            try TLSTransport.configure(context, host: host)(channel)
        }
    }
}
