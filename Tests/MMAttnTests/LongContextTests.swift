import Foundation
import Testing
@testable import MMAttn

/// ModernBERT and Qwen3-Embedding against transformers and sentence-transformers, on the tiny
/// random checkpoints of `Fixtures/gen_long_context.py`: every hidden state at lengths 1, 5, 12
/// and 40 (ModernBERT's local layers see ±4 tokens, so 12 and 40 cross the window's edge), a
/// batch of mixed lengths, attention maps, sentence embeddings with and without a prompt, and the
/// tokenizers on their own.
@Suite struct LongContextTests {
    static let models = ["modernbert", "qwen3-embedding"]
    static let lengths = ["len1", "len5", "len12", "len40"]

    static func reference(_ path: String) throws -> Tensor { try NPY.read(Paths.reference("long-context/\(path)")) }
    static func json(_ model: String, _ file: String) throws -> JSONFields {
        try JSONFields.load(Paths.reference("long-context/\(model)/\(file)"))
    }
    static func ids(_ value: JSON?) throws -> [Int32] { try #require(value?.array).map { Int32(try #require($0.int)) } }

    /// Rows 0..<n of [T, D] slice `index` of a stacked [N, T, D] reference.
    static func slice(_ t: Tensor, _ index: Int, rows: Range<Int>? = nil) -> Tensor {
        let T = t.shape[1], D = t.shape[2], r = rows ?? 0..<T
        return t.reshaped([t.shape[0] * T, D]).rows((index * T + r.lowerBound)..<(index * T + r.upperBound))
    }

    @Test(arguments: models)
    func hiddenStatesMatchTransformers(_ name: String) throws {
        let model = try TextFixtures.load(name)
        let inputs = try Self.json(name, "inputs.json")
        for key in Self.lengths {
            let idsByKey = try #require(try inputs.fields("input_ids"))
            let ids = try Self.ids(idsByKey.object[key])
            let expected = try Self.reference("\(name)/hidden_states_\(key).npy")  // [layers + 1, T, D]
            let out = try model.forward(ids: [ids], typeIds: nil, options: TextForwardOptions(hiddenStates: true))
            #expect(out.hiddenStates.count == expected.shape[0], "\(name) \(key): number of hidden states")
            for (l, state) in out.hiddenStates.enumerated() where l < expected.shape[0] {
                // Measured at most 2.9e-6 (ModernBERT) and 3.5e-6 (Qwen3) over all lengths and layers.
                expectClose(state, Self.slice(expected, l), tolerance: 2e-5, "\(name) \(key) hidden state \(l)")
            }
            expectClose(out.lastHiddenState, Self.slice(expected, expected.shape[0] - 1), tolerance: 2e-5, "\(name) \(key) last")
        }
    }

    /// The padded batch of the reference (ModernBERT right-padded, Qwen3 left-padded) run as one
    /// packed batch here: each text's real rows match.
    @Test(arguments: models)
    func batchOfMixedLengthsMatchesTransformers(_ name: String) throws {
        let model = try TextFixtures.load(name)
        let batchIds = try Self.reference("\(name)/batch_input_ids.npy")      // [3, W] int64 as float
        let mask = try Self.reference("\(name)/batch_attention_mask.npy")     // [3, W]
        let expected = try Self.reference("\(name)/batch_last_hidden_state.npy")  // [3, W, D]
        let B = batchIds.shape[0], W = batchIds.shape[1]
        var sequences: [[Int32]] = [], real: [Range<Int>] = []
        for b in 0..<B {
            let kept = (0..<W).filter { mask.data[b * W + $0] != 0 }
            sequences.append(kept.map { Int32(batchIds.data[b * W + $0]) })
            real.append(kept.first!..<(kept.last! + 1))
        }
        let out = try model.forward(ids: sequences, typeIds: nil)
        let T = out.lastHiddenState.shape[1]
        for b in 0..<B {
            let mine = Self.slice(out.lastHiddenState, b, rows: 0..<sequences[b].count)
            let theirs = Self.slice(expected, b, rows: real[b])
            // Measured 1.5e-6 (ModernBERT) and 2.9e-6 (Qwen3); transformers' own batch differs
            // from its single runs by up to 1.8e-6.
            expectClose(mine, theirs, tolerance: 2e-5, "\(name) batch item \(b)")
            if sequences[b].count < T {
                #expect(Self.slice(out.lastHiddenState, b, rows: sequences[b].count..<T).values.allSatisfy { $0 == 0 })
            }
        }
    }

    @Test(arguments: [("modernbert", 2), ("modernbert", 3), ("qwen3-embedding", 1)])
    func attentionMapsMatchTransformers(_ name: String, _ layer: Int) throws {
        let model = try TextFixtures.load(name)
        let idsByKey = try #require(try Self.json(name, "inputs.json").fields("input_ids"))
        let ids = try Self.ids(idsByKey.object["len12"])
        let expected = try Self.reference("\(name)/attentions_layer\(layer)_len12.npy")  // [H, 12, 12]
        var got: Tensor?
        _ = try model.forward(ids: [ids], typeIds: nil, options: TextForwardOptions(attentionSink: { l, probs in
            if l == layer { got = probs.copy() }
        }))
        let probs = try #require(got)  // [1, H, 12, 12]
        expectClose(probs, expected, tolerance: 2e-6, "\(name) layer \(layer) attentions")  // measured 2.7e-7
        if name == "modernbert" && layer == 2 {
            // A local layer: nothing outside |i − j| ≤ 4.
            for h in 0..<expected.shape[0] {
                for i in 0..<12 { for j in 0..<12 where abs(i - j) > 4 { #expect(probs.data[(h * 12 + i) * 12 + j] == 0) } }
            }
        }
    }

    /// `SentenceTransformer(folder).encode(sentences)`, and with Qwen3's "query" prompt.
    @Test(arguments: [("modernbert", nil), ("qwen3-embedding", nil), ("qwen3-embedding", "query")] as [(String, String?)])
    func sentenceEmbeddingsMatchSentenceTransformers(_ name: String, _ prompt: String?) throws {
        let encoder = try TextEncoder(model: Paths.model(name))
        let info = try Self.json(name, "sentences.json")
        let sentences = try #require(info.object["sentences"]?.array).compactMap(\.string)
        var options = TextEmbeddingOptions()
        options.promptName = prompt
        let runs = try #require(try info.fields("runs"))
        let run = try #require(runs.object[prompt ?? "plain"]?.object)
        let idLists = try #require(run["input_ids"]?.array)
        let expectedIds = try idLists.map { try Self.ids($0) }
        #expect(try encoder.encode(sentences, options: options).map(\.ids) == expectedIds)
        let expected = try Self.reference("\(name)/\(prompt == nil ? "" : "query_")embeddings.npy")  // [N, D]
        let (vectors, _) = try encoder.embed(sentences, options: options)
        for (i, v) in vectors.enumerated() {
            // Measured at most 3.4e-7 (the vectors are unit length).
            expectClose(v, expected.rows(i..<(i + 1)), tolerance: 3e-6, "\(name) \(prompt ?? "plain") sentence \(i)")
        }
    }

    /// The config transformers 5 writes (`layer_types`, `rope_parameters`) gives the same model.
    @Test(arguments: models)
    func transformers5ConfigGivesTheSameNumbers(_ name: String) throws {
        let dir = CLI.tempDir()
        try FileManager.default.copyItem(atPath: Paths.reference("long-context/\(name)/config_transformers5.json"), toPath: dir + "/config.json")
        try FileManager.default.copyItem(atPath: Paths.model(name) + "/model.safetensors", toPath: dir + "/model.safetensors")
        let v5 = try loadTextModel(try ModelFolder(dir), weights: try ModelFolder(dir).checkpoint())
        let v4 = try TextFixtures.load(name)
        let idsByKey = try #require(try Self.json(name, "inputs.json").fields("input_ids"))
        let ids = try Self.ids(idsByKey.object["len40"])
        #expect(maxAbsDiff(try v5.forward(ids: [ids]).lastHiddenState, try v4.forward(ids: [ids]).lastHiddenState) == 0)
    }

    @Test(arguments: models)
    func tokenizerMatchesTransformers(_ name: String) throws {
        let tokenizer = try Tokenizer(folder: Paths.model(name))
        let cases = try #require(try Self.json(name, "tokenizer_cases.json").object["cases"]?.array)
        #expect(cases.count > 20)
        for c in cases {
            let text = try #require(c.object?["text"]?.string)
            let ids = try Self.ids(c.object?["ids"])
            #expect(tokenizer.encode(text).ids == ids, "\(name): \(text.debugDescription)")
        }
    }
}
