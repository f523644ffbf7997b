import Foundation
import Testing
@testable import MMAttn

/// One tokenizer reference of `Fixtures/reference/text`: what transformers' `tokenizer(text)` and
/// `tokenizers`' `decode` gave for every text.
struct TokenizerReference {
    struct Case { let text: String; let ids: [Int32]; let tokens: [String]; let decoded: String?; let decodedSkipSpecial: String? }
    struct Pair { let a: String; let b: String; let ids: [Int32]; let typeIds: [Int32] }
    struct Truncated { let text: String; let maxLength: Int; let ids: [Int32] }
    /// Decodes of id lists that cut characters apart (partial UTF-8 sequences).
    struct Decode { let ids: [Int32]; let decoded: String; let decodedSkipSpecial: String }
    var cases: [Case] = []
    var long: [(text: String, ids: [Int32])] = []
    var decodes: [Decode] = []
    var modelMaxLength: Int?
    var pairs: [Pair] = []
    var truncated: [Truncated] = []

    init(_ path: String) throws {
        let json = try JSON.load(contentsOf: path)
        func ids(_ v: JSON?) -> [Int32] { (v?.array ?? []).compactMap { $0.int.map(Int32.init) } }
        for c in json.object?["cases"]?.array ?? [] {
            let o = try #require(c.object)
            cases.append(Case(text: o["text"]?.string ?? "", ids: ids(o["ids"]), tokens: (o["tokens"]?.array ?? []).compactMap(\.string),
                              decoded: o["decoded"]?.string, decodedSkipSpecial: o["decoded_skip_special"]?.string))
        }
        for c in json.object?["pairs"]?.array ?? [] {
            let o = try #require(c.object)
            pairs.append(Pair(a: o["a"]?.string ?? "", b: o["b"]?.string ?? "", ids: ids(o["ids"]), typeIds: ids(o["type_ids"])))
        }
        for c in json.object?["long"]?.array ?? [] {
            long.append((c.object?["text"]?.string ?? "", ids(c.object?["ids"])))
        }
        for c in json.object?["decode"]?.array ?? [] {
            let o = try #require(c.object)
            decodes.append(Decode(ids: ids(o["ids"]), decoded: o["decoded"]?.string ?? "", decodedSkipSpecial: o["decoded_skip_special"]?.string ?? ""))
        }
        modelMaxLength = json.object?["model_max_length"]?.int
        for c in json.object?["truncated"]?.array ?? [] {
            let o = try #require(c.object)
            truncated.append(Truncated(text: o["text"]?.string ?? "", maxLength: o["max_length"]?.int ?? 0, ids: ids(o["ids"])))
        }
    }
}

/// Compare a tokenizer with its reference; failures show the first few differing texts.
func checkTokenizer(_ tokenizer: Tokenizer, against reference: TokenizerReference, sourceLocation: SourceLocation = #_sourceLocation) {
    var idFailures: [String] = [], tokenFailures = 0, decodeFailures: [String] = []
    for c in reference.cases {
        let e = tokenizer.encode(c.text)
        if e.ids != c.ids {
            idFailures.append("\(JSON.quote(String(c.text.prefix(80)))): \(e.ids.prefix(40)) vs \(c.ids.prefix(40))")
            continue
        }
        if e.ids.map({ tokenizer.token($0) ?? "?" }) != c.tokens { tokenFailures += 1 }
        if let d = c.decoded, tokenizer.decode(c.ids) != d { decodeFailures.append("\(JSON.quote(String(c.text.prefix(60)))) → \(JSON.quote(tokenizer.decode(c.ids))) vs \(JSON.quote(d))") }
        if let d = c.decodedSkipSpecial, tokenizer.decode(c.ids, skipSpecialTokens: true) != d { decodeFailures.append("(skip) \(JSON.quote(String(c.text.prefix(60))))") }
    }
    #expect(!reference.cases.isEmpty, sourceLocation: sourceLocation)
    #expect(idFailures.isEmpty, "\(idFailures.count) of \(reference.cases.count) texts differ:\n\(idFailures.prefix(8).joined(separator: "\n"))", sourceLocation: sourceLocation)
    #expect(tokenFailures == 0, "\(tokenFailures) texts have different token strings", sourceLocation: sourceLocation)
    #expect(decodeFailures.isEmpty, "\(decodeFailures.count) decodes differ:\n\(decodeFailures.prefix(8).joined(separator: "\n"))", sourceLocation: sourceLocation)
    for p in reference.pairs {
        let e = tokenizer.encode(p.a, pair: p.b)
        #expect(e.ids == p.ids && e.typeIds == p.typeIds, "pair \(JSON.quote(p.a)) / \(JSON.quote(p.b))", sourceLocation: sourceLocation)
    }
    for l in reference.long {
        #expect(tokenizer.encode(l.text).ids == l.ids, "\(l.text.count)-character text", sourceLocation: sourceLocation)
    }
    for d in reference.decodes {
        #expect(tokenizer.decode(d.ids) == d.decoded && tokenizer.decode(d.ids, skipSpecialTokens: true) == d.decodedSkipSpecial,
                "decode \(d.ids.prefix(12)): \(JSON.quote(tokenizer.decode(d.ids))) vs \(JSON.quote(d.decoded))", sourceLocation: sourceLocation)
    }
    #expect(tokenizer.modelMaxLength == reference.modelMaxLength, "model_max_length", sourceLocation: sourceLocation)
    for t in reference.truncated {
        #expect(tokenizer.encode(t.text, maxLength: t.maxLength).ids == t.ids, "truncated to \(t.maxLength): \(JSON.quote(String(t.text.prefix(60))))", sourceLocation: sourceLocation)
    }
}

/// Token ids, tokens and decoded text identical to transformers and `tokenizers` on the text corpus
/// and the hard cases, for every tokenizer of `Fixtures/tokenizers`.
@Suite struct TokenizerParityTests {
    static let names = ["gpt2-whisper", "bert-uncased", "bert-uncased-legacy", "roberta-small", "gpt2-small-legacy",
                        "split-regex", "wordpiece-kitchen", "wordpiece-nfd", "wordpiece-bertnorm"]

    @Test(arguments: names)
    func matchesReference(name: String) throws {
        let tokenizer = try Tokenizer(folder: Paths.fixture("tokenizers/\(name)"))
        checkTokenizer(tokenizer, against: try TokenizerReference(Paths.reference("text/\(name).json")))
    }
}

@Suite struct TokenizerAPITests {
    @Test func paddingAndBatchesAndDecode() throws {
        let bert = try Tokenizer(folder: Paths.fixture("tokenizers/bert-uncased"))
        let texts = ["a", "a longer text here", ""]
        let batch = bert.encodeBatch(texts)
        #expect(batch == texts.map { bert.encode($0) })
        let padded = bert.pad(batch)
        #expect(padded.allSatisfy { $0.ids.count == batch[1].ids.count })
        #expect(padded[0].ids == batch[0].ids + Array(repeating: 0, count: batch[1].ids.count - batch[0].ids.count))  // [PAD] is 0
        #expect(padded[0].attentionMask.filter { $0 == 1 }.count == batch[0].ids.count)
        #expect(bert.decode(bert.encode("Hello, World!").ids, skipSpecialTokens: true) == "hello, world!")
        #expect(bert.specialTokenCount() == 2 && bert.specialTokenCount(pair: true) == 3)
        // Truncation keeps the special tokens and says it cut.
        let cut = bert.encode("one two three four five six", maxLength: 5)
        #expect(cut.ids.count == 5 && cut.ids.first == 101 && cut.ids.last == 102 && cut.truncated)
    }

    /// Batches on several threads (shared merge tables, per-worker caches, a shared compiled
    /// regex) give exactly the sequential ids.
    @Test(arguments: ["split-regex", "gpt2-whisper", "wordpiece-kitchen"])
    func batchesOnThreadsEqualSequentialEncoding(name: String) throws {
        let tokenizer = try Tokenizer(folder: Paths.fixture("tokenizers/\(name)"))
        let texts = try TokenizerReference(Paths.reference("text/\(name).json")).cases.map(\.text)
        let batch = Threads.withCount(3) { tokenizer.encodeBatch(texts) }
        #expect(batch == texts.map { tokenizer.encode($0) })
    }

    @Test func emptyTextsOfModelsWithoutSpecialTokensAreAnError() throws {
        let encoder = try TextEncoder(model: Paths.model("gpt2"))
        #expect(throws: MMAttnError.self) { try encoder.embed(["fine", ""]) }
        #expect(try encoder.embed(["fine"]).vectors.count == 1)
    }
}
