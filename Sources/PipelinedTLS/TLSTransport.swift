import NIOCore
import NIOSSL

/// TLS below a client's protocol handler, the same for every server kind.
package enum TLSTransport {
    /// What `PipelinedChannel.connect`'s `configureTransport` runs on a new channel to encrypt it with `context`, verifying `host`. SNI carries host names
    /// only; an address literal is verified against the certificate's IP SANs instead.
    package static func configure(_ context: NIOSSLContext, host: String) -> @Sendable (any Channel) throws -> Void {
        let serverHostname = (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
        return { channel in
            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverHostname))
        }
    }
}
