/// Byte-pair encoding as `tokenizers`' `BPE` model: a word becomes its initial symbols (its bytes
/// through GPT-2's byte-to-unicode map for byte-level tokenizers, else its characters), then the
/// adjacent pair of lowest merge rank is merged, leftmost first, until no pair merges.
struct BPEModel: Sendable {
    /// Token text to id, and id to token text.
    let vocab: [String: Int32]
    let tokens: [Int32: String]
    let merges: PairTable
    /// Byte-level: the initial symbol of each byte (nil when the vocabulary lacks it).
    let byteSymbols: [Int32?]
    let byteLevel: Bool
    /// With `ignore_merges` (Llama 3): a word that is itself in the vocabulary becomes that token
    /// without merging. Token bytes (byte-level) or UTF-8 (otherwise) to id.
    let wholeWords: ByteTable?
    let unknown: Int32?
    let fuseUnknown: Bool
    let byteFallback: Bool
    /// With byte fallback: the id of each byte's `<0xXX>` token (nil when the vocabulary lacks it).
    let byteFallbackIds: [Int32?]
    let continuingPrefix: String
    let endOfWordSuffix: String

    /// Words longer than this many bytes are not cached.
    static let cachedWordLimit = 256

    init(vocab: [String: Int32], merges: [(String, String)], byteLevel: Bool, unknown: String?, fuseUnknown: Bool,
         byteFallback: Bool, continuingPrefix: String, endOfWordSuffix: String, ignoreMerges: Bool, file: String) throws {
        self.vocab = vocab
        var tokens: [Int32: String] = [:]
        tokens.reserveCapacity(vocab.count)
        for (t, id) in vocab { tokens[id] = t }
        self.tokens = tokens
        self.byteLevel = byteLevel
        self.fuseUnknown = fuseUnknown
        self.byteFallback = byteFallback
        byteFallbackIds = byteFallback ? (0..<256).map { vocab[String(format: "<0x%02X>", UInt8($0))] } : []
        self.continuingPrefix = continuingPrefix
        self.endOfWordSuffix = endOfWordSuffix
        if let unknown {
            guard let id = vocab[unknown] else {
                throw MMAttnError("model.unk_token \"\(unknown)\" is not in model.vocab", file: file)
            }
            self.unknown = id
        } else {
            self.unknown = nil
        }
        if ignoreMerges {
            var table = ByteTable(capacity: vocab.count)
            for (t, id) in vocab {
                if byteLevel {
                    if let bytes = ByteLevel.bytes(of: t) { table.insert(bytes, id) }
                } else {
                    table.insert(Array(t.utf8), id)
                }
            }
            wholeWords = table
        } else {
            wholeWords = nil
        }
        byteSymbols = (0..<256).map { b in vocab[String(ByteLevel.character(UInt8(b)))] }
        var pairs = PairTable(capacity: merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a], let ib = vocab[b] else {
                throw MMAttnError("model.merges[\(rank)] \"\(a) \(b)\" uses a token that is not in model.vocab", file: file)
            }
            let mergedText = a + (continuingPrefix.isEmpty ? b : (b.hasBytePrefix(continuingPrefix) ? b.droppingBytePrefix(continuingPrefix) : b))
            guard let merged = vocab[mergedText] else {
                throw MMAttnError("model.merges[\(rank)] \"\(a) \(b)\" makes \"\(mergedText)\", which is not in model.vocab", file: file)
            }
            pairs.insert(ia, ib, rank: Int32(rank), merged: merged)
        }
        self.merges = pairs
    }

    /// Append the ids of one pre-tokenized word (`n` bytes of UTF-8 at `p`) to `out`.
    func tokenize(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int32], cache: BPECache?) {
        guard n > 0 else { return }
        if let wholeWords, let id = wholeWords.find(p, n) { out.append(id); return }
        if let cache, n <= Self.cachedWordLimit, cache.append(p, n, into: &out) { return }
        let start = out.count
        var symbols = initialSymbols(p, n)
        if symbols.count > 1 {
            if symbols.count < 64 { mergeSmall(&symbols) } else { mergeLarge(&symbols) }
        }
        out.append(contentsOf: symbols)
        if let cache, n <= Self.cachedWordLimit { cache.insert(p, n, out[start...]) }
    }

    /// The symbols before any merge.
    private func initialSymbols(_ p: UnsafePointer<UInt8>, _ n: Int) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(n)
        if byteLevel {
            for i in 0..<n {
                if let id = byteSymbols[Int(p[i])] { symbols.append(id) } else { appendUnknown(&symbols) }
            }
            return symbols
        }
        let buffer = UnsafeBufferPointer(start: p, count: n)
        var i = 0
        while i < n {
            let length = UTF8Scan.length(p[i])
            let last = i + length >= n
            var text = String(decoding: UnsafeBufferPointer(rebasing: buffer[i..<min(i + length, n)]), as: UTF8.self)
            if i > 0 { text = continuingPrefix + text }
            if last { text += endOfWordSuffix }
            if let id = vocab[text] {
                symbols.append(id)
            } else if byteFallback, case let ids = (i..<min(i + length, n)).compactMap({ byteFallbackIds[Int(p[$0])] }), ids.count == length {
                symbols.append(contentsOf: ids)
            } else {
                appendUnknown(&symbols)
            }
            i += length
        }
        return symbols
    }

    private func appendUnknown(_ symbols: inout [Int32]) {
        guard let unknown else { return }  // without an unknown token the symbol is dropped, as in `tokenizers`
        if fuseUnknown && symbols.last == unknown { return }
        symbols.append(unknown)
    }

    /// Quadratic merge loop for short words: find the lowest-ranked pair (leftmost on ties), merge it.
    private func mergeSmall(_ s: inout [Int32]) {
        while s.count > 1 {
            var bestRank = Int32.max, bestAt = -1, bestId: Int32 = 0
            for i in 0..<(s.count - 1) {
                if let m = merges.find(s[i], s[i + 1]), m.rank < bestRank {
                    bestRank = m.rank; bestAt = i; bestId = m.merged
                }
            }
            if bestAt < 0 { return }
            s[bestAt] = bestId
            s.remove(at: bestAt + 1)
        }
    }

    /// The same merges in O(n log n) for long words: a linked list of symbols and a min-heap of
    /// candidate pairs keyed by (rank, position), stale entries skipped when popped.
    private func mergeLarge(_ s: inout [Int32]) {
        let n = s.count
        var next = (0..<n).map { Int32($0 + 1) }    // [n], n = end
        var prev = (0..<n).map { Int32($0 - 1) }    // [n], -1 = start
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()
        for i in 0..<(n - 1) {
            if let m = merges.find(s[i], s[i + 1]) { heap.push(rank: m.rank, position: Int32(i)) }
        }
        while let (rank, position) = heap.pop() {
            let i = Int(position)
            guard alive[i], Int(next[i]) < n else { continue }
            let j = Int(next[i])
            guard let m = merges.find(s[i], s[j]), m.rank == rank else { continue }
            s[i] = m.merged
            alive[j] = false
            next[i] = next[j]
            if Int(next[j]) < n { prev[Int(next[j])] = Int32(i) }
            if prev[i] >= 0, let left = merges.find(s[Int(prev[i])], s[i]) {
                heap.push(rank: left.rank, position: prev[i])
            }
            if Int(next[i]) < n, let right = merges.find(s[i], s[Int(next[i])]) {
                heap.push(rank: right.rank, position: Int32(i))
            }
        }
        var out: [Int32] = []
        var i = 0
        while i < n { out.append(s[i]); i = Int(next[i]) }
        s = out
    }
}

/// A binary min-heap of (rank, position) packed in one UInt64, so ties go to the leftmost position.
struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(rank: Int32, position: Int32) {
        items.append(UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: position)))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent] <= items[i] { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> (Int32, Int32)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return (Int32(truncatingIfNeeded: top >> 32), Int32(truncatingIfNeeded: top))
    }
}

/// Words already merged, by their bytes, for one worker at a time (the tokenizer keeps a pool).
/// The words come from the input, so the table is keyed (`keyedHash`).
final class BPECache {
    // One thread uses a cache at a time (the pool hands it out), so the dynamic exclusivity
    // checks of class properties would only cost time here.
    @exclusivity(unchecked) private var table = ByteTable(capacity: 4096, keyed: true)
    @exclusivity(unchecked) private var spans: [(start: Int32, count: Int32)] = []
    @exclusivity(unchecked) private var ids: [Int32] = []
    /// Entries kept before the cache starts over.
    static let capacity = 100_000

    /// Append the cached ids of the word and return true, or return false when it is not cached.
    @inline(__always) func append(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int32]) -> Bool {
        guard let index = table.find(p, n) else { return false }
        let span = spans[Int(index)]
        out.append(contentsOf: ids[Int(span.start)..<Int(span.start + span.count)])
        return true
    }

    func insert(_ p: UnsafePointer<UInt8>, _ n: Int, _ value: ArraySlice<Int32>) {
        if spans.count >= Self.capacity {
            table = ByteTable(capacity: 4096, keyed: true); spans.removeAll(keepingCapacity: true); ids.removeAll(keepingCapacity: true)
        }
        if table.insert(UnsafeBufferPointer(start: p, count: n), Int32(spans.count)) {
            spans.append((Int32(ids.count), Int32(value.count)))
            ids.append(contentsOf: value)
        }
    }
}
