import NIOCore

/// Fuzzing for the protocol decoders: seeded inputs (random bytes, protocol-alphabet soup,
/// mutations of a valid stream) fed in random splits, with the invariants every decoder owes.
public enum DecoderFuzzing {
    /// What feeding inputs produced, for the test to judge.
    public struct Outcome {
        /// Values returned.
        public var decoded = 0
        /// Inputs that ended in a thrown error.
        public var thrown = 0
        /// Errors of the wrong type (the decoder must throw only its own decoding error).
        public var foreignErrors: [String] = []
        /// Rounds where the decoder consumed bytes but returned no value (it must wait instead).
        public var consumedWithoutValue: [Int] = []
        /// Rounds where it returned a value without consuming (a loop that never ends).
        public var valueWithoutConsuming: [Int] = []
    }

    /// The seeded inputs: `rounds` of them, a third of each kind.
    public static func inputs(valid: [UInt8], alphabet: [UInt8], rounds: Int, seed: UInt64) -> [[UInt8]] {
        var generator = SplitMix64(seed: seed)
        return (0..<rounds).map { round in
            switch round % 3 {
            case 0:
                return (0..<Int(generator.next() % 64)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            case 1:
                return (0..<Int(generator.next() % 128)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            default:
                var bytes = valid
                for _ in 0..<(1 + generator.next() % 4) where !bytes.isEmpty {
                    let position = Int(generator.next() % UInt64(bytes.count))
                    switch generator.next() % 3 {
                    case 0: bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                    case 1: bytes.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: position)
                    default: bytes.remove(at: position)
                    }
                }
                return bytes
            }
        }
    }

    /// Feeds every input, in random splits of 1 to 16 bytes, to a fresh decoder.
    public static func run<Decoder: NIOSingleStepByteToMessageDecoder, DecodingError: Error>(
        _ inputs: [[UInt8]],
        seed: UInt64,
        decodingError: DecodingError.Type,
        makeDecoder: () -> Decoder
    ) -> Outcome {
        var generator = SplitMix64(seed: seed)
        var outcome = Outcome()
        for (round, bytes) in inputs.enumerated() {
            var decoder = makeDecoder()
            var buffer = ByteBuffer()
            var offset = 0
            do {
                while offset < bytes.count {
                    let chunk = min(bytes.count - offset, 1 + Int(generator.next() % 16))
                    buffer.writeBytes(bytes[offset..<(offset + chunk)])
                    offset += chunk
                    while true {
                        let before = buffer.readerIndex
                        guard try decoder.decode(buffer: &buffer) != nil else {
                            if buffer.readerIndex != before { outcome.consumedWithoutValue.append(round) }
                            break
                        }
                        if buffer.readerIndex == before {
                            outcome.valueWithoutConsuming.append(round)
                            break
                        }
                        outcome.decoded += 1
                    }
                }
            } catch {
                outcome.thrown += 1
                if !(error is DecodingError) { outcome.foreignErrors.append("round \(round): \(error)") }
            }
        }
        return outcome
    }
}
