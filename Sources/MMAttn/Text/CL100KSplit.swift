/// The pre-tokenization pattern of tiktoken's cl100k_base as Llama 3 gives it,
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
/// and Qwen2's (also Qwen2.5's and Qwen3's), the same with `\p{N}` (one digit per piece), as a
/// hand-written scanner with the regex's exact leftmost-first semantics.
///
/// `(?i:…)` folds case as Oniguruma and Rust's regex (the engines of `tokenizers`) do, so `'ſ`
/// (long s, U+017F, which folds to `s`) is a contraction too; Swift's `Regex` does not fold it.
enum CL100KSplit {
    /// Llama 3's pattern: digits in runs of up to three.
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Qwen2's pattern: one digit per piece.
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The most digits one piece holds under `pattern`, or nil when the scanner does not run `pattern`.
    static func maxDigits(pattern: String) -> Int? {
        pattern == qwen2Pattern ? 1 : pattern == llama3Pattern ? 3 : nil
    }

    @inline(__always) private static func isNewline(_ s: Unicode.Scalar) -> Bool { s == "\r" || s == "\n" }

    /// Append the byte ranges of the pieces of `bytes[range]` (valid UTF-8) to `pieces`, with at
    /// most `maxDigits` digits in a piece.
    static func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, maxDigits: Int, into pieces: inout [Range<Int>]) {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let p = pieceEnd(bytes, i, end, maxDigits: maxDigits)
            pieces.append(i..<p)
            i = p
        }
    }

    /// Where the piece that starts at `i` ends: the end of the first alternative of the pattern
    /// that matches at `i` (one always does).
    @inline(__always) private static func pieceEnd(_ bytes: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, maxDigits: Int) -> Int {
        let (c, length) = UTF8Scan.scalar(bytes, i)
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if c == "'" && i + 1 < end {
            let n1 = bytes[i + 1] | 0x20  // lower-cases an ASCII letter; no other byte becomes one
            if n1 == UInt8(ascii: "s") || n1 == UInt8(ascii: "t") || n1 == UInt8(ascii: "m") || n1 == UInt8(ascii: "d") { return i + 2 }
            if i + 2 < end {
                if bytes[i + 1] == 0xC5 && bytes[i + 2] == 0xBF { return i + 3 }  // 'ſ, as Oniguruma folds case
                let n2 = bytes[i + 2] | 0x20
                if (n1 == UInt8(ascii: "r") && n2 == UInt8(ascii: "e")) || (n1 == UInt8(ascii: "v") && n2 == UInt8(ascii: "e"))
                    || (n1 == UInt8(ascii: "l") && n2 == UInt8(ascii: "l")) { return i + 3 }
            }
        }
        let k = UnicodeClass.kind(c)
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if k == .letter { return runEnd(bytes, i + length, end, UnicodeClass.isLetter) }
        if k != .number && !isNewline(c) && i + length < end {
            let (next, nextLength) = UTF8Scan.scalar(bytes, i + length)
            if UnicodeClass.isLetter(next) { return runEnd(bytes, i + length + nextLength, end, UnicodeClass.isLetter) }
        }
        // \p{N}{1,maxDigits}
        if k == .number {
            var p = i + length, digits = 1
            while digits < maxDigits && p < end {
                let (s, l) = UTF8Scan.scalar(bytes, p)
                if !UnicodeClass.isNumber(s) { break }
                p += l
                digits += 1
            }
            return p
        }
        // An optional space, then [^\s\p{L}\p{N}]+[\r\n]*
        var symbolsStart: Int?
        if k == .other { symbolsStart = i } else if c == " " && i + 1 < end && UnicodeClass.kind(UTF8Scan.scalar(bytes, i + 1).0) == .other { symbolsStart = i + 1 }
        if let symbolsStart {
            let p = runEnd(bytes, symbolsStart, end) { UnicodeClass.kind($0) == .other }
            return runEnd(bytes, p, end, isNewline)
        }
        // Whitespace. \s*[\r\n]+: through the run's last CR or LF. \s+(?!\S): the run, minus its last
        // character when a non-space follows. \s+: a run of one character.
        var p = i, lastStart = i
        var lastNewlineEnd: Int?
        while p < end {
            let (s, l) = UTF8Scan.scalar(bytes, p)
            if !UnicodeClass.isWhitespace(s) { break }
            if isNewline(s) { lastNewlineEnd = p + l }
            lastStart = p
            p += l
        }
        if let lastNewlineEnd { return lastNewlineEnd }
        return p < end && lastStart > i ? lastStart : p
    }

    /// The end of the run of scalars passing `test` that starts at `i`.
    @inline(__always) private static func runEnd(_ bytes: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int,
                                                 _ test: (Unicode.Scalar) -> Bool) -> Int {
        var p = i
        while p < end {
            let (s, l) = UTF8Scan.scalar(bytes, p)
            if !test(s) { break }
            p += l
        }
        return p
    }
}
