import ArgumentParser
import SessionCrypto

/// `msm new-encryption-key`: a random key for `--session-encryption-keys`, printed once.
struct NewEncryptionKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new-encryption-key",
        abstract: "Print a new random session encryption key (base64, 256 bits) for --session-encryption-keys.",
        discussion: """
            Keep it in your secret store and give every app server the same list. To rotate, add the \
            new key second everywhere, then move it first, then drop the old key once the sessions \
            it sealed have expired.
            """
    )

    func run() {
        print(SessionEncryption.Key.generate().base64EncodedSecret())
    }
}
