/// A token of the file's `added_tokens`: matched in the text before the model runs.
public struct AddedToken: Sendable {
    public let id: Int32
    public let content: String
    /// Only matched as a whole word.
    public let singleWord: Bool
    /// Swallow whitespace on its left / right.
    public let lstrip: Bool
    public let rstrip: Bool
    /// Matched in the normalized text (else in the raw text).
    public let normalized: Bool
    /// A special token (`[CLS]`, `<|endoftext|>`): dropped by `decode(skipSpecialTokens: true)`.
    public let special: Bool
}

/// Finds added tokens in text, leftmost first and longest among those starting at the same place,
/// with `tokenizers`' single-word and strip rules: a byte trie walked again from each position
/// whose byte can start a token.
struct AddedTokenMatcher: Sendable {
    private var children: [[UInt8: Int32]] = [[:]]
    private var terminal: [Int32] = [-1]   // index into tokens, per node
    private var firstBytes = [Bool](repeating: false, count: 256)
    private let tokens: [AddedToken]

    /// One span of the text: an added token's id, or text the model will tokenize.
    enum Segment { case token(Int32), text(Range<Int>) }

    init(_ tokens: [AddedToken], contents: [String]) {
        self.tokens = tokens
        for (index, content) in contents.enumerated() where !content.isEmpty {
            var node = 0
            for b in content.utf8 {
                if let next = children[node][b] { node = Int(next); continue }
                children.append([:]); terminal.append(-1)
                children[node][b] = Int32(children.count - 1)
                node = children.count - 1
            }
            if terminal[node] < 0 { terminal[node] = Int32(index) }
            firstBytes[Int(content.utf8.first!)] = true
        }
    }

    var isEmpty: Bool { children[0].isEmpty }

    /// Split `bytes[range]` into added tokens and the text between them, handing each to `body`
    /// in order (a callback rather than an array: one allocation fewer per text).
    func split(_ bytes: [UInt8], _ range: Range<Int>, _ body: (Segment) -> Void) {
        guard !isEmpty else { body(.text(range)); return }
        var textStart = range.lowerBound
        var i = range.lowerBound
        while i < range.upperBound {
            guard firstBytes[Int(bytes[i])] else { i += 1; continue }
            // Longest token starting at i.
            var node = 0, j = i, best = -1, bestEnd = i
            while j < range.upperBound, let next = children[node][bytes[j]] {
                node = Int(next); j += 1
                if terminal[node] >= 0 { best = Int(terminal[node]); bestEnd = j }
            }
            guard best >= 0 else { i += 1; continue }
            let token = tokens[best]
            var start = i, stop = bestEnd
            if token.singleWord {
                let before = start == range.lowerBound || !endsWithWordCharacter(bytes, range.lowerBound..<start)
                let after = stop == range.upperBound || !startsWithWordCharacter(bytes, stop..<range.upperBound)
                if !before || !after { i = bestEnd; continue }
            }
            // From textStart, not the range's start: the same answer, without rescanning (quadratic
            // for a text of whitespace tokens).
            if token.lstrip { start = whitespaceStart(bytes, textStart..<start) }
            if token.rstrip { stop = whitespaceEnd(bytes, stop..<range.upperBound) }
            if textStart < start { body(.text(textStart..<start)) }
            body(.token(token.id))
            textStart = stop
            i = stop
        }
        if textStart < range.upperBound { body(.text(textStart..<range.upperBound)) }
    }

    /// The scalar that ends at byte `end` (after `lower`), and where it starts.
    private func scalar(before end: Int, from lower: Int, _ bytes: [UInt8]) -> (Unicode.Scalar, Int)? {
        guard end > lower else { return nil }
        var i = end - 1
        while i > lower && bytes[i] & 0xC0 == 0x80 { i -= 1 }
        return bytes.withUnsafeBufferPointer { (UTF8Scan.scalar($0, i).0, i) }
    }

    private func endsWithWordCharacter(_ bytes: [UInt8], _ r: Range<Int>) -> Bool {
        scalar(before: r.upperBound, from: r.lowerBound, bytes).map { UnicodeClass.isWord($0.0) } ?? false
    }

    private func startsWithWordCharacter(_ bytes: [UInt8], _ r: Range<Int>) -> Bool {
        guard !r.isEmpty else { return false }
        return bytes.withUnsafeBufferPointer { UnicodeClass.isWord(UTF8Scan.scalar($0, r.lowerBound).0) }
    }

    /// Where the whitespace that ends `bytes[r]` begins.
    private func whitespaceStart(_ bytes: [UInt8], _ r: Range<Int>) -> Int {
        var i = r.upperBound
        while let (c, at) = scalar(before: i, from: r.lowerBound, bytes), UnicodeClass.isWhitespace(c) { i = at }
        return i
    }

    /// Where the whitespace that starts `bytes[r]` ends.
    private func whitespaceEnd(_ bytes: [UInt8], _ r: Range<Int>) -> Int {
        bytes.withUnsafeBufferPointer { p in
            var i = r.lowerBound
            while i < r.upperBound {
                let (c, l) = UTF8Scan.scalar(p, i)
                guard UnicodeClass.isWhitespace(c) else { break }
                i += l
            }
            return i
        }
    }
}
