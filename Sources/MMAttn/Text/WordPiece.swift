/// WordPiece as `tokenizers`' model: each word is split greedily into the longest vocabulary
/// entries from the left, pieces after the first spelled with the continuation prefix (`##`). A
/// word with a part that matches nothing, or longer than `maxInputCharsPerWord`, is the unknown token.
struct WordPieceModel: Sendable {
    let vocab: [String: Int32]
    let tokens: [Int32: String]
    /// Entries without the prefix, and the entries that start with it (keyed without it).
    let starts: ByteTable
    let continuations: ByteTable
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
        // Insert in id order so that, as in `tokenizers`, duplicate spellings resolve the same way every run.
        for (t, id) in vocab.sorted(by: { $0.value < $1.value }) {
            starts.insert(Array(t.utf8), id)
            if !continuingPrefix.isEmpty && t.hasBytePrefix(continuingPrefix) {
                continuations.insert(Array(t.utf8.dropFirst(continuingPrefix.utf8.count)), id)
            }
        }
        self.starts = starts
        self.continuations = continuations
    }

    /// Append the ids of one word (`n` bytes of valid UTF-8 at `p`) to `out`.
    func tokenize(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int32]) {
        guard n > 0 else { return }
        // Character boundaries, capped so a huge word costs only its scan.
        var bounds: [Int] = [0]
        var i = 0
        while i < n {
            i += UTF8Scan.length(p[i])
            bounds.append(min(i, n))
            if bounds.count - 1 > maxInputCharsPerWord { out.append(unknown); return }
        }
        let mark = out.count
        var start = 0  // index into bounds
        while start < bounds.count - 1 {
            var end = bounds.count - 1
            var found: Int32?
            while end > start {
                let from = bounds[start], length = bounds[end] - from
                let table = start == 0 ? starts : continuations
                if start > 0 && continuingPrefix.isEmpty {
                    found = starts.find(p + from, length)
                } else {
                    found = table.find(p + from, length)
                }
                if found != nil { break }
                end -= 1
            }
            guard let id = found else {
                out.removeSubrange(mark...)
                out.append(unknown)
                return
            }
            out.append(id)
            start = end
        }
    }
}
