import Foundation

/// The model of a tokenizer: how one pre-tokenized word becomes ids.
enum TokenModel: Sendable {
    case bpe(BPEModel)
    case wordPiece(WordPieceModel)
    /// Whole words looked up in the vocabulary, else the unknown token.
    case wordLevel(vocab: [String: Int32], tokens: [Int32: String], table: ByteTable, unknown: Int32?)

    func token(_ id: Int32) -> String? {
        switch self {
        case .bpe(let m): return m.tokens[id]
        case .wordPiece(let m): return m.tokens[id]
        case .wordLevel(_, let t, _, _): return t[id]
        }
    }

    func id(_ token: String) -> Int32? {
        switch self {
        case .bpe(let m): return m.vocab[token]
        case .wordPiece(let m): return m.vocab[token]
        case .wordLevel(let v, _, _, _): return v[token]
        }
    }
}

/// A text tokenizer as Hugging Face `tokenizers` runs it: added tokens matched first, then the
/// normalizer, pre-tokenizer, model (BPE, WordPiece or WordLevel) and post-processor; `decode`
/// runs the decoder. Loaded from `tokenizer.json`, or from the legacy `vocab.json` + `merges.txt`
/// or `vocab.txt` (`Tokenizer(folder:)`). Safe to share between threads.
public final class Tokenizer: Sendable {
    /// The file the tokenizer came from (errors and messages name it).
    public let source: String
    let normalizer: Normalizer?
    /// The normalizer's effect on ASCII text, when it has a byte-level form.
    private let asciiNormalization: ASCIINormalization?
    let preTokenizer: PreTokenizer?
    let model: TokenModel
    let postProcessor: PostProcessor?
    let decoder: TokenDecoder?
    /// The file's added tokens, special ones included.
    public let addedTokens: [AddedToken]
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let addedById: [Int32: AddedToken]
    private let addedByContent: [String: Int32]
    /// `model_max_length` from `tokenizer_config.json`, when it states a real limit.
    public let modelMaxLength: Int?
    /// The padding token's id (from the file's padding settings or its special tokens), if any.
    public let padId: Int32?
    private let caches = CachePool()

    init(source: String, normalizer: Normalizer?, preTokenizer: PreTokenizer?, model: TokenModel,
         postProcessor: PostProcessor?, decoder: TokenDecoder?, addedTokens: [AddedToken],
         modelMaxLength: Int?, padId: Int32?) {
        self.source = source
        self.normalizer = normalizer
        asciiNormalization = normalizer?.asciiForm
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.decoder = decoder
        self.addedTokens = addedTokens
        let raw = addedTokens.filter { !$0.normalized }
        rawMatcher = AddedTokenMatcher(raw, contents: raw.map(\.content))
        let normalized = addedTokens.filter(\.normalized)
        normalizedMatcher = AddedTokenMatcher(normalized, contents: normalized.map { normalizer?.apply($0.content) ?? $0.content })
        addedById = Dictionary(addedTokens.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        addedByContent = Dictionary(addedTokens.map { ($0.content, $0.id) }, uniquingKeysWith: { a, _ in a })
        self.modelMaxLength = modelMaxLength
        self.padId = padId
    }

    /// The text of a token id (`Ġthe`, `##ing`, `[CLS]`), or nil for an unknown id.
    public func token(_ id: Int32) -> String? { addedById[id]?.content ?? model.token(id) }

    /// The id of a token's text.
    public func id(_ token: String) -> Int32? { addedByContent[token] ?? model.id(token) }

    /// How many special tokens the post-processor adds around one text (or a pair).
    public func specialTokenCount(pair: Bool = false) -> Int { postProcessor?.addedCount(pair: pair) ?? 0 }

    /// Encode a text (or a pair of texts) as `tokenizer(text)` does in transformers: with the
    /// post-processor's special tokens unless `addSpecialTokens` is false, truncated to
    /// `maxLength` ids in all (longest first for pairs) when given. An empty `pair` is no pair, as
    /// in transformers.
    public func encode(_ text: String, pair: String? = nil, addSpecialTokens: Bool = true, maxLength: Int? = nil) -> Encoding {
        let cache = caches.take()
        defer { caches.give(cache) }
        return encode(text, pair: pair, addSpecialTokens: addSpecialTokens, maxLength: maxLength, cache: cache)
    }

    private func encode(_ text: String, pair: String?, addSpecialTokens: Bool, maxLength: Int?, cache: BPECache) -> Encoding {
        var a = modelIds(text, cache: cache)
        var b = pair.flatMap { $0.isEmpty ? nil : modelIds($0, cache: cache) }
        let added = addSpecialTokens ? specialTokenCount(pair: b != nil) : 0
        let before = a.count + (b?.count ?? 0)
        if let maxLength { Self.truncate(&a, &b, to: max(maxLength - added, 0)) }
        var encoding = addSpecialTokens ? postProcessor?.process(a, b) ?? Encoding.plain(a, b) : Encoding.plain(a, b)
        encoding.truncated = a.count + (b?.count ?? 0) < before
        return encoding
    }

    /// Encode many texts on all threads; the result is in input order.
    public func encodeBatch(_ texts: [String], addSpecialTokens: Bool = true, maxLength: Int? = nil) -> [Encoding] {
        // Chunks of 64 texts dealt round-robin, so a file whose halves differ (prose, then code)
        // keeps every thread busy to the end; each worker keeps one merge cache for the batch.
        guard !texts.isEmpty else { return [] }
        let chunk = 64, chunks = (texts.count + chunk - 1) / chunk
        let workers = max(1, min(Threads.count, chunks))
        return [Encoding](unsafeUninitializedCapacity: texts.count) { results, initialized in
            let base = results.baseAddress!
            Threads.forEachWorker(workers) { w in
                let cache = caches.take()
                defer { caches.give(cache) }
                for c in stride(from: w, to: chunks, by: workers) {
                    for i in (c * chunk)..<min((c + 1) * chunk, texts.count) {
                        (base + i).initialize(to: encode(texts[i], pair: nil, addSpecialTokens: addSpecialTokens, maxLength: maxLength, cache: cache))
                    }
                }
            }
            initialized = texts.count
        }
    }

    /// Right-pad encodings to the longest (or to `length`, when longer) with the padding token
    /// (id 0 when the tokenizer has none), type id 0 and attention mask 0, as transformers'
    /// `padding=True` does.
    public func pad(_ encodings: [Encoding], to length: Int? = nil) -> [Encoding] {
        let target = max(length ?? 0, encodings.map(\.ids.count).max() ?? 0)
        return encodings.map { e in
            var p = e
            p.appendPadding(padId ?? 0, count: target - e.ids.count)
            return p
        }
    }

    /// Text from ids, through the decoder, as `tokenizers`' `decode`.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        let tokens = ids.compactMap { id -> String? in
            if skipSpecialTokens, addedById[id]?.special == true { return nil }
            return token(id)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens)
    }

    /// The model's ids for one text, before post-processing.
    func modelIds(_ text: String, cache: BPECache) -> [Int32] {
        let bytes = Array(text.utf8)
        var ids: [Int32] = []
        ids.reserveCapacity(bytes.count / 3 + 4)
        rawMatcher.split(bytes, 0..<bytes.count) { segment in
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let range):
                guard let normalizer else {
                    segmentIds(bytes, range, normalizedMatcher, into: &ids, cache: cache)
                    return
                }
                var normalized: [UInt8]
                if let ascii = asciiNormalization, bytes[range].allSatisfy({ $0 < 0x80 }) {
                    if ascii.isIdentity {
                        segmentIds(bytes, range, normalizedMatcher, into: &ids, cache: cache)
                        return
                    }
                    normalized = Array(bytes[range])
                    ascii.apply(&normalized)
                } else {
                    normalized = Array(normalizer.apply(String(decoding: bytes[range], as: UTF8.self)).utf8)
                }
                segmentIds(normalized, 0..<normalized.count, normalizedMatcher, into: &ids, cache: cache)
            }
        }
        return ids
    }

    private func segmentIds(_ bytes: [UInt8], _ range: Range<Int>, _ matcher: AddedTokenMatcher, into ids: inout [Int32], cache: BPECache) {
        matcher.split(bytes, range) { segment in
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let r):
                guard !r.isEmpty else { return }
                var pieces = Pieces(buffer: bytes, ranges: [r])  // shares the buffer until a pre-tokenizer rewrites it
                preTokenizer?.apply(&pieces)
                // The model is taken out of the enum once per segment, not once per word: each
                // copy retains its tables, and those reference counts are shared by all threads.
                pieces.buffer.withUnsafeBufferPointer { p in
                    let base = p.baseAddress!
                    switch model {
                    case .bpe(let m):
                        for piece in pieces.ranges { m.tokenize(base + piece.lowerBound, piece.count, into: &ids, cache: cache) }
                    case .wordPiece(let m):
                        for piece in pieces.ranges { m.tokenize(base + piece.lowerBound, piece.count, into: &ids) }
                    case .wordLevel(_, _, let table, let unknown):
                        for piece in pieces.ranges where !piece.isEmpty {
                            if let id = table.find(base + piece.lowerBound, piece.count) ?? unknown { ids.append(id) }
                        }
                    }
                }
            }
        }
    }

    /// `tokenizers`' longest-first truncation to `limit` model ids in all.
    static func truncate(_ a: inout [Int32], _ b: inout [Int32]?, to limit: Int) {
        guard var second = b else {
            if a.count > limit { a.removeLast(a.count - limit) }
            return
        }
        guard a.count + second.count > limit else { return }
        var n1 = a.count, n2 = second.count
        let swapped = n1 > n2
        if swapped { swap(&n1, &n2) }
        n2 = n1 > limit ? n1 : max(n1, limit - n1)
        if n1 + n2 > limit { n1 = limit / 2; n2 = n1 + limit % 2 }
        if swapped { swap(&n1, &n2) }
        if a.count > n1 { a.removeLast(a.count - n1) }
        if second.count > n2 { second.removeLast(second.count - n2) }
        b = second
    }
}

/// Merge caches handed to one thread at a time, so words seen once are merged once per worker.
private final class CachePool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [BPECache] = []

    func take() -> BPECache {
        lock.lock(); defer { lock.unlock() }
        return free.popLast() ?? BPECache()
    }

    func give(_ cache: BPECache) {
        lock.lock(); defer { lock.unlock() }
        free.append(cache)
    }
}
