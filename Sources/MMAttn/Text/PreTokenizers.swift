/// How a split treats the delimiters it finds (`tokenizers`' `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"

    /// Apply to matched/unmatched spans covering a piece, as `NormalizedString::split` does.
    func apply(_ spans: [(Range<Int>, Bool)]) -> [Range<Int>] {
        var out: [(Range<Int>, remove: Bool)] = []
        switch self {
        case .isolated:
            out = spans.map { ($0.0, false) }
        case .removed:
            out = spans.map { ($0.0, $0.1) }
        case .contiguous:
            var previous = false
            for (r, match) in spans {
                if match == previous, let last = out.last { out[out.count - 1].0 = last.0.lowerBound..<r.upperBound } else { out.append((r, false)) }
                previous = match
            }
        case .mergedWithPrevious:
            var previous = false
            for (r, match) in spans {
                if match && !previous, let last = out.last { out[out.count - 1].0 = last.0.lowerBound..<r.upperBound } else { out.append((r, false)) }
                previous = match
            }
        case .mergedWithNext:
            var previous = false
            for (r, match) in spans.reversed() {
                if match && !previous, let last = out.last { out[out.count - 1].0 = r.lowerBound..<last.0.upperBound } else { out.append((r, false)) }
                previous = match
            }
            out.reverse()
        }
        return out.compactMap { $0.remove || $0.0.isEmpty ? nil : $0.0 }
    }
}

/// Pieces of text: byte ranges of one UTF-8 buffer.
struct Pieces {
    var buffer: [UInt8]
    var ranges: [Range<Int>]
}

/// The pre-tokenizers of `tokenizers`: they cut the normalized text into the words the model
/// tokenizes one by one.
indirect enum PreTokenizer: Sendable {
    /// GPT-2's: a space before each piece that lacks one (`addPrefixSpace`), then the GPT-2 pattern.
    /// Mapping bytes to characters is the byte-level model's job here.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(TextPattern, SplitBehavior, invert: Bool)
    /// The GPT-2 pattern given as a Split, run by the hand-written scanner.
    case gpt2Split
    /// Llama 3's or Qwen2's pattern given as a Split (they differ in the digits a piece holds), run
    /// by the hand-written scanner.
    case cl100kSplit(maxDigits: Int)
    /// Whitespace removed, then every punctuation character on its own.
    case bert
    /// `\w+|[^\w\s]+`.
    case whitespace
    case whitespaceSplit
    case digits(individual: Bool)
    case punctuation(SplitBehavior)
    case charDelimiter(Unicode.Scalar)
    case sequence([PreTokenizer])

    /// Whether this pre-tokenizer (or one in its sequence) maps text to bytes.
    var isByteLevel: Bool {
        switch self {
        case .byteLevel: return true
        case .sequence(let all): return all.contains { $0.isByteLevel }
        default: return false
        }
    }

    func apply(_ pieces: inout Pieces) {
        switch self {
        case .sequence(let all):
            for p in all { p.apply(&pieces) }
        case .byteLevel(let prefix, let useRegex):
            if prefix && pieces.ranges.contains(where: { pieces.buffer[$0.lowerBound] != UInt8(ascii: " ") }) {
                var buffer: [UInt8] = []
                buffer.reserveCapacity(pieces.buffer.count + pieces.ranges.count)
                var ranges: [Range<Int>] = []
                for r in pieces.ranges {
                    let start = buffer.count
                    if pieces.buffer[r.lowerBound] != UInt8(ascii: " ") { buffer.append(UInt8(ascii: " ")) }
                    buffer.append(contentsOf: pieces.buffer[r])
                    ranges.append(start..<buffer.count)
                }
                pieces = Pieces(buffer: buffer, ranges: ranges)
            }
            if useRegex { PreTokenizer.gpt2Split.apply(&pieces) }
        case .gpt2Split:
            var out: [Range<Int>] = []
            out.reserveCapacity(pieces.ranges.reduce(0) { $0 + $1.count } / 4 + 4)
            pieces.buffer.withUnsafeBufferPointer { b in
                for r in pieces.ranges { GPT2Split.split(b, r, into: &out) }
            }
            pieces.ranges = out
        case .cl100kSplit(let maxDigits):
            var out: [Range<Int>] = []
            out.reserveCapacity(pieces.ranges.reduce(0) { $0 + $1.count } / 4 + 4)
            pieces.buffer.withUnsafeBufferPointer { b in
                for r in pieces.ranges { CL100KSplit.split(b, r, maxDigits: maxDigits, into: &out) }
            }
            pieces.ranges = out
        case .split(let pattern, let behavior, let invert):
            splitEach(&pieces, behavior) { buffer, r in
                let text = String(decoding: buffer[r], as: UTF8.self)
                var spans: [(Range<Int>, Bool)] = []
                var last = 0
                for m in pattern.matches(in: text) {
                    if last < m.lowerBound { spans.append((last..<m.lowerBound, invert)) }
                    spans.append((m, !invert))
                    last = m.upperBound
                }
                if last < r.count { spans.append((last..<r.count, invert)) }
                return spans.map { ($0.0.lowerBound + r.lowerBound..<$0.0.upperBound + r.lowerBound, $0.1) }
            }
        case .bert:
            // One pass: whitespace ends a word and is dropped; punctuation is a word of its own.
            var out: [Range<Int>] = []
            out.reserveCapacity(pieces.ranges.count * 8)
            pieces.buffer.withUnsafeBufferPointer { p in
                for r in pieces.ranges {
                    var i = r.lowerBound, start = i
                    while i < r.upperBound {
                        let (c, l) = UTF8Scan.scalar(p, i)
                        if UnicodeClass.isWhitespace(c) {
                            if start < i { out.append(start..<i) }
                            start = i + l
                        } else if UnicodeClass.isPunctuation(c) {
                            if start < i { out.append(start..<i) }
                            out.append(i..<(i + l))
                            start = i + l
                        }
                        i += l
                    }
                    if start < r.upperBound { out.append(start..<r.upperBound) }
                }
            }
            pieces.ranges = out
        case .whitespaceSplit:
            splitEach(&pieces, .removed) { b, r in charSpans(b, r, UnicodeClass.isWhitespace) }
        case .punctuation(let behavior):
            splitEach(&pieces, behavior) { b, r in charSpans(b, r, UnicodeClass.isPunctuation) }
        case .digits(let individual):
            splitEach(&pieces, individual ? .isolated : .contiguous) { b, r in charSpans(b, r, UnicodeClass.isNumber) }
        case .charDelimiter(let c):
            splitEach(&pieces, .removed) { b, r in charSpans(b, r) { $0 == c } }
        case .whitespace:
            // Runs of word characters and runs of other non-space characters; spaces dropped.
            splitEach(&pieces, .removed) { b, r in
                var spans: [(Range<Int>, Bool)] = []
                b.withUnsafeBufferPointer { p in
                    var i = r.lowerBound
                    while i < r.upperBound {
                        let (c, l) = UTF8Scan.scalar(p, i)
                        let start = i
                        if UnicodeClass.isWhitespace(c) {
                            i += l
                            while i < r.upperBound, case let (s, m) = UTF8Scan.scalar(p, i), UnicodeClass.isWhitespace(s) { i += m }
                            spans.append((start..<i, true))
                            continue
                        }
                        let word = UnicodeClass.isWord(c)
                        i += l
                        while i < r.upperBound, case let (s, m) = UTF8Scan.scalar(p, i), !UnicodeClass.isWhitespace(s), UnicodeClass.isWord(s) == word { i += m }
                        spans.append((start..<i, false))
                    }
                }
                return spans
            }
        }
    }
}

/// Replace each piece by the pieces `spans` and `behavior` make of it.
private func splitEach(_ pieces: inout Pieces, _ behavior: SplitBehavior,
                       _ spans: ([UInt8], Range<Int>) -> [(Range<Int>, Bool)]) {
    var out: [Range<Int>] = []
    out.reserveCapacity(pieces.ranges.count * 2)
    for r in pieces.ranges { out.append(contentsOf: behavior.apply(spans(pieces.buffer, r))) }
    pieces.ranges = out
}

/// Spans of a piece where each character matching `test` is its own matched span.
private func charSpans(_ buffer: [UInt8], _ r: Range<Int>, _ test: (Unicode.Scalar) -> Bool) -> [(Range<Int>, Bool)] {
    var spans: [(Range<Int>, Bool)] = []
    buffer.withUnsafeBufferPointer { p in
        var i = r.lowerBound, last = r.lowerBound
        while i < r.upperBound {
            let (c, l) = UTF8Scan.scalar(p, i)
            if test(c) {
                if last < i { spans.append((last..<i, false)) }
                spans.append((i..<(i + l), true))
                last = i + l
            }
            i += l
        }
        if last < r.upperBound { spans.append((last..<r.upperBound, false)) }
    }
    return spans
}
