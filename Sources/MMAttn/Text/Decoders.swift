import Foundation

/// The decoders of `tokenizers`: they turn token strings back into text.
indirect enum TokenDecoder: Sendable {
    /// Byte-level characters back to bytes, then UTF-8 (invalid sequences become U+FFFD).
    case byteLevel
    /// Strip the continuation prefix, put a space before other tokens, and optionally undo
    /// BERT's spacing around punctuation.
    case wordPiece(prefix: String, cleanup: Bool)
    /// The end-of-word suffix becomes a space (none after the last token).
    case bpe(suffix: String)
    case replace(TextPattern, String)
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case fuse
    /// `<0x41>` tokens back to bytes.
    case byteFallback
    case metaspace(replacement: String, prependFirst: Bool)
    case sequence([TokenDecoder])

    func decode(_ tokens: [String]) -> String { chain(tokens).joined() }

    func chain(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for t in tokens {
                if let b = ByteLevel.bytes(of: t) { bytes += b } else { bytes += Array(t.utf8) }
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case .wordPiece(let prefix, let cleanup):
            return tokens.enumerated().map { i, t in
                var s = t
                if i != 0 { s = s.hasBytePrefix(prefix) ? s.droppingBytePrefix(prefix) : " " + s }
                return cleanup ? TokenDecoder.cleanUp(s) : s
            }
        case .bpe(let suffix):
            return tokens.enumerated().map { i, t in
                t.replacingOccurrences(of: suffix, with: i == tokens.count - 1 ? "" : " ", options: .literal)
            }
        case .replace(let pattern, let content):
            return tokens.map { pattern.replacing(in: $0, with: content) }
        case .strip(let content, let start, let stop):
            return tokens.map { t in
                let scalars = Array(t.unicodeScalars)
                var a = 0, b = scalars.count
                while a < min(start, scalars.count) && scalars[a] == content { a += 1 }
                var removed = 0
                while removed < stop && b > a && scalars[b - 1] == content { b -= 1; removed += 1 }
                var v = String.UnicodeScalarView()
                v.append(contentsOf: scalars[a..<b])
                return String(v)
            }
        case .fuse:
            return [tokens.joined()]
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validating: pending, as: UTF8.self) { out.append(s) } else {
                    out += Array(repeating: "\u{FFFD}", count: pending.count)
                }
                pending = []
            }
            for t in tokens {
                if t.utf8.count == 6, t.hasBytePrefix("<0x"), t.utf8.last == UInt8(ascii: ">"),
                   let b = UInt8(String(decoding: t.utf8.dropFirst(3).dropLast(), as: UTF8.self), radix: 16) {
                    pending.append(b)
                } else {
                    flush(); out.append(t)
                }
            }
            flush()
            return out
        case .metaspace(let replacement, let prependFirst):
            return tokens.enumerated().map { i, t in
                let s = t.replacingOccurrences(of: replacement, with: " ", options: .literal)
                return prependFirst && i == 0 && s.hasBytePrefix(" ") ? s.droppingBytePrefix(" ") : s
            }
        case .sequence(let all):
            return all.reduce(tokens) { $1.chain($0) }
        }
    }

    /// BERT's detokenization clean-up, per token.
    static func cleanUp(_ s: String) -> String {
        guard s.contains(" ") else { return s }
        var t = s
        for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                       (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            t = t.replacingOccurrences(of: a, with: b, options: .literal)
        }
        return t
    }
}
