import Foundation
import Testing
@testable import MMAttn

/// Parity of the text families with transformers on the tiny random checkpoints of
/// `Fixtures/models/{bert,roberta,distilbert,gpt2}`, fed the ids the folders' own tokenizers gave
/// (`Fixtures/reference/text-models/<model>/inputs.json`). Tolerances are about ten times the max
/// abs difference measured (fp32, OpenBLAS, x86-64), with that measurement beside each.
enum TextFixtures {
    static let models = ["bert", "roberta", "distilbert", "gpt2"]
    static let keys = ["short", "long", "unicode"]

    static func reference(_ path: String) throws -> Tensor { try NPY.read(Paths.reference("text-models/\(path)")) }

    /// A model of Fixtures/models through the public loader.
    static func load(_ name: String) throws -> any TextModel {
        let folder = try ModelFolder(Paths.model(name))
        return try loadTextModel(folder, weights: try folder.checkpoint())
    }

    /// `inputs.json` of a model's references.
    struct Inputs {
        let ids: [String: [Int32]]
        let typeIds: [String: [Int32]]?
        let batchOrder: [String]
        let pair: (ids: [Int32], typeIds: [Int32])?
    }

    static func inputs(_ model: String) throws -> Inputs {
        let json = try JSONFields.load(Paths.reference("text-models/\(model)/inputs.json"))
        func idLists(_ key: String) throws -> [String: [Int32]]? {
            guard let object = try json.fields(key)?.object else { return nil }
            var out: [String: [Int32]] = [:]
            for k in object.keys { out[k] = try ints(object[k]) }
            return out
        }
        func ints(_ value: JSON?) throws -> [Int32] {
            try #require(value?.array).map { Int32(try #require($0.int)) }
        }
        let batch = try #require(try json.fields("batch"))
        let order = try #require(batch.object["order"]?.array).compactMap(\.string)
        var pair: (ids: [Int32], typeIds: [Int32])?
        if let p = try json.fields("pair") {
            pair = (try ints(p.object["input_ids"]), try ints(p.object["token_type_ids"]))
        }
        return Inputs(ids: try #require(try idLists("input_ids")), typeIds: try idLists("token_type_ids"),
                      batchOrder: order, pair: pair)
    }

    /// Rows 0..<n of item b of `x` ([B, T, D]) as [n, D].
    static func rows(_ x: Tensor, item b: Int, count n: Int) -> Tensor {
        let T = x.shape[1], D = x.shape[2]
        let out = Tensor(uninitialized: [n, D])
        out.data.update(from: x.pointer + b * T * D, count: n * D)
        return out
    }

    /// Whether rows n..<T of item b of `x` ([B, T, D]) are all zero.
    static func paddingIsZero(_ x: Tensor, item b: Int, count n: Int) -> Bool {
        let T = x.shape[1], D = x.shape[2]
        return (n * D..<T * D).allSatisfy { x.pointer[b * T * D + $0] == 0 }
    }
}

/// Per-family tolerances: about ten times the max abs difference measured over every text
/// (the measurement in each comment: hidden, attention, batch).
struct TextTolerance {
    let hidden: Float     // every hidden state of one text
    let attention: Float  // the last layer's probabilities
    let batch: Float      // padded batch rows vs the batch and single-text references, every state

    static func of(_ model: String) -> TextTolerance {
        switch model {
        case "bert": return TextTolerance(hidden: 1e-5, attention: 1e-6, batch: 1e-5)  // measured 9.5e-7, 7.5e-8, 9.5e-7
        case "roberta": return TextTolerance(hidden: 1.5e-5, attention: 2e-6, batch: 1.5e-5)  // measured 1.2e-6, 1.5e-7, 1.1e-6
        case "distilbert": return TextTolerance(hidden: 1.5e-5, attention: 3e-6, batch: 1.5e-5)  // measured 1.1e-6, 2.8e-7, 1.3e-6
        case "gpt2": return TextTolerance(hidden: 2e-5, attention: 4e-6, batch: 2e-5)  // measured 1.7e-6, 3.6e-7, 1.5e-6
        default: return TextTolerance(hidden: parityTolerance, attention: parityTolerance, batch: parityTolerance)
        }
    }
}

@Suite struct TextModelParityTests {
    /// Every text alone: all hidden states, and the last layer's attentions for one text.
    @Test(arguments: TextFixtures.models)
    func hiddenStatesMatchTransformers(model name: String) throws {
        let model = try TextFixtures.load(name)
        let inputs = try TextFixtures.inputs(name)
        let tolerance = TextTolerance.of(name)
        let L = model.numLayers, D = model.config.hiddenSize, H = model.config.numHeads
        for key in TextFixtures.keys {
            let ids = try #require(inputs.ids[key])
            let T = ids.count
            var lastAttention: Tensor?
            let out = try model.forward(ids: [ids], typeIds: inputs.typeIds?[key].map { [$0] },
                                        options: TextForwardOptions(hiddenStates: true, attentionSink: { layer, probs in
                                            if layer == L - 1 { lastAttention = probs.copy() }
                                        }))
            #expect(out.lengths == [T])
            #expect(out.lastHiddenState.shape == [1, T, D])
            #expect(out.hiddenStates.count == L + 1)
            let expected = try TextFixtures.reference("\(name)/hidden_states_\(key).npy")  // [L+1, T, D]
            #expect(expected.shape == [L + 1, T, D])
            expectClose(Tensor.stack(out.hiddenStates).reshaped([L + 1, T, D]), expected, tolerance: tolerance.hidden, "\(name) \(key): hidden states")
            expectClose(out.lastHiddenState, slice(expected, L), tolerance: tolerance.hidden, "\(name) \(key): last hidden state")
            let attentionFile = Paths.reference("text-models/\(name)/attentions_last_layer_\(key).npy")
            if FileManager.default.fileExists(atPath: attentionFile) {
                let probs = try #require(lastAttention)
                expectClose(probs.reshaped([H, T, T]), try NPY.read(attentionFile), tolerance: tolerance.attention, "\(name) \(key): last layer's attentions")
            }
        }
    }

    /// The three texts as one right-padded batch: real rows equal the batch reference and the
    /// single-text references, padded rows are zeros, in every hidden state.
    @Test(arguments: TextFixtures.models)
    func paddedBatchMatchesTransformers(model name: String) throws {
        let model = try TextFixtures.load(name)
        let inputs = try TextFixtures.inputs(name)
        let tolerance = TextTolerance.of(name)
        let L = model.numLayers, D = model.config.hiddenSize
        let ids = try inputs.batchOrder.map { try #require(inputs.ids[$0]) }
        let typeIds = try inputs.typeIds.map { types in try inputs.batchOrder.map { try #require(types[$0]) } }
        let out = try model.forward(ids: ids, typeIds: typeIds, options: TextForwardOptions(hiddenStates: true))
        let T = ids.map(\.count).max()!
        #expect(out.lengths == ids.map(\.count))
        #expect(out.lastHiddenState.shape == [3, T, D])
        let batchReference = try TextFixtures.reference("\(name)/batch_last_hidden_state.npy")  // [3, T, D]
        #expect(batchReference.shape == [3, T, D])
        for (b, key) in inputs.batchOrder.enumerated() {
            let n = ids[b].count
            let single = try TextFixtures.reference("\(name)/hidden_states_\(key).npy")  // [L+1, n, D]
            let real = TextFixtures.rows(out.lastHiddenState, item: b, count: n)
            expectClose(real, TextFixtures.rows(batchReference, item: b, count: n), tolerance: tolerance.batch, "\(name) \(key): batch vs batch reference")
            expectClose(real, slice(single, L), tolerance: tolerance.batch, "\(name) \(key): batch vs single reference")
            #expect(TextFixtures.paddingIsZero(out.lastHiddenState, item: b, count: n), "\(name) \(key): padded rows")
            for l in 0...L {
                let state = out.hiddenStates[l]
                expectClose(TextFixtures.rows(state, item: b, count: n), slice(single, l), tolerance: tolerance.batch, "\(name) \(key): batch hidden state \(l)")
                #expect(TextFixtures.paddingIsZero(state, item: b, count: n), "\(name) \(key): padded rows of hidden state \(l)")
            }
        }
    }

    /// BERT reads segment ids: a sentence pair with token types 0 then 1.
    @Test func bertReadsTokenTypes() throws {
        let model = try TextFixtures.load("bert")
        #expect(model.usesTokenTypes)
        let pair = try #require(try TextFixtures.inputs("bert").pair)
        let out = try model.forward(ids: [pair.ids], typeIds: [pair.typeIds])
        let expected = try TextFixtures.reference("bert/pair_last_hidden_state.npy")
        expectClose(out.lastHiddenState.reshaped(expected.shape), expected, tolerance: 1e-5, "bert pair")  // measured 6.6e-7
        // Without the type ids (all zeros) the outputs differ: the table is really read.
        let zeros = try model.forward(ids: [pair.ids], typeIds: nil)
        #expect(maxAbsDiff(zeros.lastHiddenState, out.lastHiddenState) > 1e-2)
    }
}

@Suite struct TextModelLoadingTests {
    /// Each folder loads as its family, with the sizes its config.json gives and the dtype it was
    /// stored in (RoBERTa float16 and GPT-2 bfloat16, widened to float32 at load: the parity tests
    /// above run on them).
    @Test(arguments: [
        ("bert", ModelFamily.bert, 32, 600, true, "F32"),
        ("roberta", .roberta, 32, 500, false, "F16"),
        ("distilbert", .distilbert, 32, 600, false, "F32"),
        ("gpt2", .gpt2, 48, 500, false, "BF16"),
    ])
    func foldersLoadAsTheirFamily(name: String, family: ModelFamily, width: Int, vocabulary: Int, types: Bool, dtype: String) throws {
        let folder = try ModelFolder(Paths.model(name))
        #expect(try folder.family() == family)
        #expect(Array(try folder.checkpoint().dtypeCounts.keys) == [dtype])
        let model = try TextFixtures.load(name)
        #expect(model.family == family)
        #expect(model.numLayers == 2)
        #expect(model.config.hiddenSize == width)
        #expect(model.config.numHeads == 4)
        #expect(model.vocabSize == vocabulary)
        #expect(model.maxTokens == 64)  // RoBERTa: 66 positions − padding_idx 1 − 1
        #expect(model.usesTokenTypes == types)
        #expect(model.config.causal == (family == .gpt2))
        #expect(model.config.normPlacement == (family == .gpt2 ? .pre : .post))
        #expect(model.config.activation == (family == .gpt2 ? .geluTanh : .gelu))
        #expect(model.config.intermediateSize == (family == .gpt2 ? 4 * width : 64))  // GPT-2: n_inner null
    }

    @Test func familyNames() throws {
        #expect(ModelFamily.textFamilies.map(\.displayName) == ["BERT", "RoBERTa", "DistilBERT", "GPT-2", "ModernBERT", "Qwen3"])
        #expect(ModelFamily.gpt2.modelPhrase == "a GPT-2 model")
        for (type, family) in [("xlm-roberta", ModelFamily.roberta), ("camembert", .roberta), ("distilbert", .distilbert)] {
            let json = try JSONFields(JSON.parse(Data("{\"model_type\": \"\(type)\"}".utf8)), file: "config.json")
            #expect(try ModelFamily(config: json) == family)
        }
        let byArchitecture = try JSONFields(JSON.parse(Data("{\"architectures\": [\"DistilBertModel\"]}".utf8)), file: "config.json")
        #expect(try ModelFamily(config: byArchitecture) == .distilbert)
    }

    /// The causal mask of a padded batch: the fast kernel equals the scalar definition, and the
    /// probabilities are zero above the diagonal and past each item's length.
    @Test func causalPaddedAttentionMatchesReference() {
        var rng = TestRandom(seed: 31)
        let g = AttentionHeads(heads: 4, headDim: 8), layout = SequenceLayout.padded(tokens: 13, lengths: [13, 6, 0])
        let q = rng.tensor([3 * 13, 32], scale: 2), k = rng.tensor([3 * 13, 32], scale: 2), v = rng.tensor([3 * 13, 32])
        let fast = Tensor(zeros: [3 * 13, 32]), slow = Tensor(zeros: [3 * 13, 32])
        let fastP = Tensor(zeros: [3, 4, 13, 13]), slowP = Tensor(zeros: [3, 4, 13, 13])
        fastP.data.update(repeating: .nan, count: fastP.count)
        Attention.compute(q: q.data, k: k.data, v: v.data, out: fast.data, layout: layout, heads: g, scale: 0.35, mask: .causal, probs: fastP.data)
        Attention.reference(q: q.data, k: k.data, v: v.data, out: slow.data, layout: layout, heads: g, scale: 0.35, mask: .causal, probs: slowP.data)
        #expect(maxAbsDiff(fast, slow) < 1e-5)
        #expect(maxAbsDiff(fastP, slowP) < 1e-6)
        for b in 0..<3 {
            let n = [13, 6, 0][b]
            for h in 0..<4 {
                for i in 0..<13 {
                    for j in 0..<13 where j > i || i >= n || j >= n {
                        #expect(fastP.data[((b * 4 + h) * 13 + i) * 13 + j] == 0)
                    }
                }
            }
        }
        #expect(AttentionMask.none.addingCausal == .causal)
        #expect(AttentionMask(window: 8).addingCausal == AttentionMask(causal: true, window: 8))
    }

    /// GPT-2 is causal: in one padded batch, each prefix of a text gives the first rows of the
    /// whole text's outputs.
    @Test func gpt2PrefixesGiveTheFirstRows() throws {
        let model = try TextFixtures.load("gpt2")
        let ids = try #require(try TextFixtures.inputs("gpt2").ids["unicode"])
        let cuts = [ids.count, 1, 7, 30]
        let out = try model.forward(ids: cuts.map { Array(ids.prefix($0)) })
        let whole = TextFixtures.rows(out.lastHiddenState, item: 0, count: ids.count)
        for (b, n) in cuts.enumerated().dropFirst() {
            // The same arithmetic up to GEMM blocking order; measured 1.3e-6.
            expectClose(TextFixtures.rows(out.lastHiddenState, item: b, count: n), whole.rows(0..<n), tolerance: 1.5e-5, "prefix of \(n) tokens")
            #expect(TextFixtures.paddingIsZero(out.lastHiddenState, item: b, count: n))
        }
    }

    /// The sentence-transformers folders hold a BertModel (tensor names without a prefix): loaded
    /// as BERT and pooled by hand, they give sentence-transformers' embeddings.
    @Test(arguments: ["st-bert-mean", "st-bert-cls"])
    func sentenceTransformersFoldersLoadAsBERT(name: String) throws {
        let model = try TextFixtures.load(name)
        #expect(model.family == .bert)
        let json = try JSONFields.load(Paths.reference("text-models/\(name)/sentences.json"))
        let ids = try #require(json.object["input_ids"]?.array).map { try #require($0.array).map { Int32(try #require($0.int)) } }
        let mean = try json.string("pooling") == "mean", normalize = try json.bool("normalize", default: false)
        let out = try model.forward(ids: ids)
        let expected = try TextFixtures.reference("\(name)/embeddings.npy")  // [sentences, D]
        let D = model.config.hiddenSize
        let pooled = Tensor(zeros: [ids.count, D])
        for (b, sequence) in ids.enumerated() {
            let rows = TextFixtures.rows(out.lastHiddenState, item: b, count: mean ? sequence.count : 1)
            let p = pooled.data + b * D
            for t in 0..<rows.shape[0] { for d in 0..<D { p[d] += rows.pointer[t * D + d] / Float(rows.shape[0]) } }
            if normalize {
                let norm = (0..<D).reduce(Float(0)) { $0 + p[$1] * p[$1] }.squareRoot()
                for d in 0..<D { p[d] /= norm }
            }
        }
        expectClose(pooled, expected, tolerance: 1e-5, "\(name) embeddings")  // measured 1.2e-7 (mean, normalised), 1.1e-6 (cls)
    }
}

@Suite struct TextModelErrorTests {
    func message(_ body: () throws -> Void) -> MMAttnError? {
        do { try body() } catch let error as MMAttnError { return error } catch { Issue.record("unexpected error \(error)") }
        return nil
    }

    @Test func idsOutsideTheVocabularyAreRefused() throws {
        let model = try TextFixtures.load("bert")
        for bad: Int32 in [600, -1, Int32.max] {
            let error = try #require(message { _ = try model.forward(ids: [[2, 5, 3], [2, bad, 3]]) })
            #expect(error.message.contains("token id \(bad) (sequence 1, position 1) is outside the vocabulary of 600"), "\(error)")
        }
    }

    @Test(arguments: TextFixtures.models)
    func sequencesLongerThanThePositionTableAreRefused(model name: String) throws {
        let model = try TextFixtures.load(name)
        _ = try model.forward(ids: [[Int32](repeating: 5, count: 64)])  // exactly maxTokens runs
        let error = try #require(message { _ = try model.forward(ids: [[5], [Int32](repeating: 5, count: 65)]) })
        #expect(error.message.contains("sequence 1 has 65 tokens, more than the 64"), "\(error)")
        #expect(message { _ = try model.forward(ids: []) } != nil)
        #expect(message { _ = try model.forward(ids: [[5], []]) }?.message.contains("sequence 1 has no tokens") == true)
    }

    @Test func tokenTypesAreChecked() throws {
        let bert = try TextFixtures.load("bert")
        #expect(message { _ = try bert.forward(ids: [[2, 5, 3]], typeIds: [[0, 2, 0]]) }?.message.contains("outside the 2 token types") == true)
        #expect(message { _ = try bert.forward(ids: [[2, 5, 3]], typeIds: [[0, 0]]) }?.message.contains("3 tokens but 2 token type ids") == true)
        #expect(message { _ = try bert.forward(ids: [[2, 5, 3]], typeIds: [[0, 0, 0], [0]]) } != nil)
        let roberta = try TextFixtures.load("roberta")
        #expect(message { _ = try roberta.forward(ids: [[0, 5, 2]], typeIds: [[0, 1, 0]]) }?.message.contains("outside the 1 token types") == true)
        _ = try roberta.forward(ids: [[0, 5, 2]], typeIds: [[0, 0, 0]])
        for name in ["distilbert", "gpt2"] {
            let model = try TextFixtures.load(name)
            let error = message { _ = try model.forward(ids: [[5, 6]], typeIds: [[0, 1]]) }
            #expect(error?.message.contains("reads no token types") == true, "\(String(describing: error))")
            // Zeros are the same as none.
            let zeros = try model.forward(ids: [[5, 6]], typeIds: [[0, 0]]), none = try model.forward(ids: [[5, 6]])
            #expect(maxAbsDiff(zeros.lastHiddenState, none.lastHiddenState) == 0)
        }
    }

    /// A copy of a fixture folder whose config.json is edited by `edit` (the weights are linked).
    func editedFolder(_ name: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let source = Paths.model(name)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mmattn-text-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as? [String: Any])
        edit(&config)
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: URL(fileURLWithPath: dir + "/config.json"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/model.safetensors", withDestinationPath: source + "/model.safetensors")
        return dir
    }

    /// Configurations mmattn does not run are refused at load, naming config.json and the key.
    /// (folder, key, new value as JSON text, what the error says).
    @Test(arguments: [
        ("bert", "position_embedding_type", "\"relative_key\"", "position_embedding_type \"relative_key\" is not supported"),
        ("roberta", "position_embedding_type", "\"relative_key_query\"", "position_embedding_type \"relative_key_query\" is not supported"),
        ("bert", "is_decoder", "true", "is_decoder is true"),
        ("gpt2", "scale_attn_by_inverse_layer_idx", "true", "scale_attn_by_inverse_layer_idx is true"),
        ("gpt2", "scale_attn_weights", "false", "scale_attn_weights is false"),
        ("roberta", "max_position_embeddings", "2", "leaves no positions after padding_idx 1"),
        ("distilbert", "activation", "\"mish\"", "activation \"mish\" is not supported"),
    ])
    func unsupportedConfigsAreRefused(name: String, key: String, value: String, expected: String) throws {
        let parsed = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
        let dir = try editedFolder(name) { $0[key] = parsed }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let folder = try ModelFolder(dir)
        let error = try #require(message { _ = try loadTextModel(folder, weights: try folder.checkpoint()) })
        #expect(error.file == dir + "/config.json", "\(error)")
        #expect(error.message.contains(expected), "\(error)")
    }

    /// Relatives of the text families with other layouts are not taken for them.
    @Test(arguments: [("llama", "LlamaForCausalLM"), ("bert-generation", "BertGenerationEncoder"),
                      ("roberta-prelayernorm", "RobertaPreLayerNormForMaskedLM"), ("xlm-roberta-xl", "XLMRobertaXLModel")])
    func unknownModelTypesAreRefused(type: String, architecture: String) throws {
        let dir = try editedFolder("bert") { $0["model_type"] = type; $0["architectures"] = [architecture] }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let folder = try ModelFolder(dir)
        let error = try #require(message { _ = try loadTextModel(folder, weights: try folder.checkpoint()) })
        #expect(error.file == dir + "/config.json", "\(error)")
        #expect(error.message == "model_type \"\(type)\" is not supported (supported: vit, deit, whisper, audio-spectrogram-transformer, esm, timesformer, videomae, bert, roberta, xlm-roberta, camembert, distilbert, gpt2, modernbert, qwen3)", "\(error)")
    }

    /// Weights that do not match the configuration name the weights file; other families name config.json.
    @Test func mismatchesAndOtherFamiliesAreRefused() throws {
        let dir = try editedFolder("gpt2") { $0["n_embd"] = 64 }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let folder = try ModelFolder(dir)
        let error = try #require(message { _ = try loadTextModel(folder, weights: try folder.checkpoint()) })
        #expect(error.file?.hasSuffix("model.safetensors") == true, "\(error)")
        #expect(error.message.contains("tensor \"transformer.wte.weight\" has shape [500, 48], expected [500, 64]"), "\(error)")

        let vit = try ModelFolder(Paths.model("vit"))
        let notText = try #require(message { _ = try loadTextModel(vit, weights: try vit.checkpoint()) })
        #expect(notText.file?.hasSuffix("config.json") == true)
        #expect(notText.message.contains("this is a ViT model, not a text model (text commands need a BERT, RoBERTa, DistilBERT, GPT-2, ModernBERT or Qwen3 checkpoint)"), "\(notText)")
    }
}
