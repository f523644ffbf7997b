import Foundation

/// The model of a tokenizer: how one pre-tokenized word becomes ids.
enum TokenModel: Sendable {
    case bpe(BPEModel)
    case wordPiece(WordPieceModel)
    /// Whole words looked up in the vocabulary, else the unknown token.
    case wordLevel(vocab: [String: Int32], tokens: [Int32: String], table: ByteTable, unknown: Int32?)

    var vocabularySize: Int {
        switch self {
        case .bpe(let m): return m.vocab.count
        case .wordPiece(let m): return m.vocab.count
        case .wordLevel(let v, _, _, _): return v.count
        }
    }

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

    /// Number of ids: the model's vocabulary plus added tokens outside it.
    public var vocabularySize: Int {
        max(model.vocabularySize, (addedTokens.map { Int($0.id) }.max() ?? -1) + 1)
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
        let results = UnsafeMutableBufferPointer<Encoding>.allocate(capacity: texts.count)
        results.initialize(repeating: Encoding())
        defer { results.deinitialize(); results.deallocate() }
        Threads.parallelFor(texts.count, grain: 16) { start, end in
            for i in start..<end { results[i] = encode(texts[i], addSpecialTokens: addSpecialTokens, maxLength: maxLength) }
        }
        return Array(results)
    }

    /// Right-pad encodings to the longest (or to `length`, when longer) with the padding token
    /// (id 0 when the tokenizer has none), type id 0 and attention mask 0, as transformers'
    /// `padding=True` does.
    public func pad(_ encodings: [Encoding], to length: Int? = nil) -> [Encoding] {
        let target = max(length ?? 0, encodings.map(\.ids.count).max() ?? 0)
        return encodings.map { e in
            var p = e
            let n = target - e.ids.count
            p.ids += Array(repeating: padId ?? 0, count: n)
            p.typeIds += Array(repeating: 0, count: n)
            p.specialTokensMask += Array(repeating: true, count: n)
            p.attentionMask += Array(repeating: 0, count: n)
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
        var ids: [Int32] = []
        let bytes = Array(text.utf8)
        for segment in rawMatcher.split(bytes, 0..<bytes.count) {
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let range):
                guard let normalizer else {
                    segmentIds(bytes, range, normalizedMatcher, into: &ids, cache: cache)
                    continue
                }
                var normalized = Array(bytes[range])
                if !(normalized.allSatisfy { $0 < 0x80 } && normalizer.applyASCII(&normalized)) {
                    normalized = Array(normalizer.apply(String(decoding: bytes[range], as: UTF8.self)).utf8)
                }
                segmentIds(normalized, 0..<normalized.count, normalizedMatcher, into: &ids, cache: cache)
            }
        }
        return ids
    }

    private func segmentIds(_ bytes: [UInt8], _ range: Range<Int>, _ matcher: AddedTokenMatcher, into ids: inout [Int32], cache: BPECache) {
        for segment in matcher.split(bytes, range) {
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let r):
                guard !r.isEmpty else { continue }
                var pieces = Pieces(buffer: Array(bytes[r]), ranges: [0..<r.count])
                preTokenizer?.apply(&pieces)
                pieces.buffer.withUnsafeBufferPointer { p in
                    for piece in pieces.ranges where !piece.isEmpty {
                        let start = p.baseAddress! + piece.lowerBound
                        switch model {
                        case .bpe(let m): m.tokenize(start, piece.count, into: &ids, cache: cache)
                        case .wordPiece(let m): m.tokenize(start, piece.count, into: &ids)
                        case .wordLevel(_, _, let table, let unknown):
                            if let id = table.find(start, piece.count) ?? unknown { ids.append(id) }
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
