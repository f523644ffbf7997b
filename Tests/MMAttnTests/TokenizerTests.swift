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
    // Every section must be there: one that vanished from a regenerated file would otherwise pass silently.
    #expect(!reference.cases.isEmpty, "cases", sourceLocation: sourceLocation)
    #expect(!reference.pairs.isEmpty, "pairs", sourceLocation: sourceLocation)
    #expect(!reference.long.isEmpty, "long", sourceLocation: sourceLocation)
    #expect(!reference.decodes.isEmpty, "decode", sourceLocation: sourceLocation)
    #expect(!reference.truncated.isEmpty, "truncated", sourceLocation: sourceLocation)
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
        // transformers' special_tokens_mask: the post-processor's tokens and padding, not the text's.
        #expect(bert.encode("Hello, World!").specialTokensMask == [true, false, false, false, false, true])
        #expect(bert.encode("a", pair: "b").specialTokensMask == [true, false, true, false, true])
        #expect(padded[0].specialTokensMask == [true, false, true] + Array(repeating: true, count: batch[1].ids.count - 3))
        #expect(bert.encode("Hello", addSpecialTokens: false).specialTokensMask == [false])
    }

    /// A character missing from the vocabulary becomes its bytes' `<0xXX>` tokens with byte
    /// fallback, or the unknown token when one of them is missing too.
    @Test func bpeByteFallback() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mmattn-fallback-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let json = #"{"model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "merges": ["a b"], "#
            + #""vocab": {"<unk>": 0, "<0xC3>": 1, "<0xA9>": 2, "a": 3, "b": 4, "ab": 5, "<0x0A>": 6}}}"#
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        let tokenizer = try Tokenizer(file: path)
        #expect(tokenizer.encode("abé\n").ids == [5, 1, 2, 6])
        #expect(tokenizer.encode("aè").ids == [3, 0])  // è is C3 A8: no <0xA8>
    }

    /// The byte-level form of a normalizer, decided at load, gives what the general path gives on
    /// ASCII text; normalizers that add or remove text have none.
    @Test func asciiNormalizationMatchesTheGeneralPath() throws {
        let bert = Normalizer.bert(cleanText: true, chineseChars: true, stripAccents: true, lowercase: true)
        let normalizers: [Normalizer] = [.nfc, .nfkd, .lowercase, .stripAccents, bert,
                                         .bert(cleanText: false, chineseChars: false, stripAccents: false, lowercase: true),
                                         .sequence([.nfd, .lowercase, .stripAccents]), .sequence([.lowercase, bert])]
        let text = "Hello,\tWorld!\r\n\u{0}\u{7}\u{b}\u{c}\u{7f} MiXeD 123 ~`[]"
        for n in normalizers {
            let form = try #require(n.asciiForm)
            var bytes = Array(text.utf8)
            form.apply(&bytes)
            #expect(String(decoding: bytes, as: UTF8.self) == n.apply(text), "\(n)")
        }
        #expect(Normalizer.nfc.asciiForm?.isIdentity == true)
        #expect(Normalizer.sequence([.nfd, .lowercase, .replace(.string("a"), "b")]).asciiForm == nil)
        #expect(Normalizer.sequence([.strip(left: true, right: true), .nfc]).asciiForm == nil)
    }

    /// WordPiece caps words by characters, not bytes, and backs off over whole characters.
    @Test func wordPieceCountsCharacters() throws {
        let vocab: [String: Int32] = ["[UNK]": 0, "é": 1, "##é": 2, "ab": 3, "##c": 4, "a": 5]
        let model = try WordPieceModel(vocab: vocab, unknown: "[UNK]", continuingPrefix: "##", maxInputCharsPerWord: 3, file: "test")
        func ids(_ word: String) -> [Int32] {
            var out: [Int32] = []
            Array(word.utf8).withUnsafeBufferPointer { model.tokenize($0.baseAddress!, $0.count, into: &out) }
            return out
        }
        #expect(ids("ééé") == [1, 2, 2])  // 6 bytes, 3 characters
        #expect(ids("éééé") == [0])
        #expect(ids("abc") == [3, 4])
        #expect(ids("abd") == [0])
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
