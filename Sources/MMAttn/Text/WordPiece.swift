/// WordPiece as `tokenizers`' model: each word is split greedily into the longest vocabulary
/// entries from the left, pieces after the first spelled with the continuation prefix (`##`). A
/// word with a part that matches nothing, or longer than `maxInputCharsPerWord`, is the unknown token.
struct WordPieceModel: Sendable {
    let vocab: [String: Int32]
    let tokens: [Int32: String]
    /// Entries without the prefix, and the entries that start with it (keyed without it).
    let starts: ByteTable
    let continuations: ByteTable
    /// Bytes of the longest entry of each table: no piece is tried longer than that, so a word
    /// costs (its length × the longest entry) lookups, not its length squared.
    let longestStart: Int, longestContinuation: Int
    let unknown: Int32
    let continuingPrefix: String
    let maxInputCharsPerWord: Int

    init(vocab: [String: Int32], unknown: String, continuingPrefix: String, maxInputCharsPerWord: Int, file: String) throws {
        guard let unknownId = vocab[unknown] else {
            throw MMAttnError("the unknown token \"\(unknown)\" (model.unk_token) is not in the vocabulary", file: file)
        }
        self.vocab = vocab
        var tokens: [Int32: String] = [:]
        for (t, id) in vocab { tokens[id] = t }
        self.tokens = tokens
        self.unknown = unknownId
        self.continuingPrefix = continuingPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        var starts = ByteTable(capacity: vocab.count), continuations = ByteTable(capacity: vocab.count / 4)
        var longestStart = 0, longestContinuation = 0
        // Insert in id order so that, as in `tokenizers`, duplicate spellings resolve the same way every run.
        for (t, id) in vocab.sorted(by: { $0.value < $1.value }) {
            starts.insert(Array(t.utf8), id)
            longestStart = max(longestStart, t.utf8.count)
            if !continuingPrefix.isEmpty && t.hasBytePrefix(continuingPrefix) {
                continuations.insert(Array(t.utf8.dropFirst(continuingPrefix.utf8.count)), id)
                longestContinuation = max(longestContinuation, t.utf8.count - continuingPrefix.utf8.count)
            }
        }
        self.starts = starts
        self.continuations = continuations
        (self.longestStart, self.longestContinuation) = (longestStart, longestContinuation)
    }

    /// Append the ids of one word (`n` bytes of valid UTF-8 at `p`) to `out`.
    func tokenize(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int32]) {
        guard n > 0 else { return }
        // Characters are counted by their lead bytes, stopping at the cap, so a huge word costs only its scan.
        var characters = 0
        for i in 0..<n where p[i] & 0xC0 != 0x80 {
            characters += 1
            if characters > maxInputCharsPerWord { out.append(unknown); return }
        }
        let mark = out.count
        var start = 0
        while start < n {
            // A span ending inside a character matches no entry (entries are whole UTF-8), so the
            // cut at the longest entry's length changes nothing but the work.
            let piece = start == 0 || continuingPrefix.isEmpty
                ? Self.longest(in: starts, p, from: start, to: min(n, start + longestStart))
                : Self.longest(in: continuations, p, from: start, to: min(n, start + longestContinuation))
            guard let piece else {
                out.removeSubrange(mark...)
                out.append(unknown)
                return
            }
            out.append(piece.id)
            start = piece.end
        }
    }

    /// The longest entry of `table` spelled by the bytes from `start` to a character boundary at or
    /// before `n`, with that boundary.
    private static func longest(in table: ByteTable, _ p: UnsafePointer<UInt8>, from start: Int, to n: Int) -> (id: Int32, end: Int)? {
        var end = n
        while end > start {
            if let id = table.find(p + start, end - start) { return (id, end) }
            repeat { end -= 1 } while end > start && p[end] & 0xC0 == 0x80
        }
        return nil
    }
}
