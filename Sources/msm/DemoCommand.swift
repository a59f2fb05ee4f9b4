import ArgumentParser

/// `msm demo`: placeholder until the cluster launcher lands (same commit series).
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Run the seed's whole cluster on loopback.")
    func run() async throws {}
}
