import ArgumentParser

/// `msm`: the demo app server and the seed's cluster in one command.
@main
struct MSM: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "msm",
        abstract: "Distributed HTTP sessions for Swift servers, in memcached or Redis: the demo app server and cluster.",
        discussion: """
            `msm serve` runs one app server of the seed's topology; `msm demo` starts the whole \
            topology (memcached m1 and m2, or Redis r1 and r2 with --store redis, app servers A \
            and B, nginx) on loopback. \
            Every `serve` flag can also be given as an environment variable (MSM_<FLAG>, e.g. \
            MSM_MEMCACHED_NODES); a flag on the command line wins.
            """,
        subcommands: [ServeCommand.self, DemoCommand.self, NginxConfigCommand.self, NewEncryptionKeyCommand.self]
    )
}
