import Foundation
import Testing
@testable import MMAttn

/// Parity with transformers on the tiny random checkpoints of `Fixtures/models`, fed the exact inputs
/// the reference saw (`Fixtures/reference/models`). Each comparison states its tolerance, about ten
/// times the max abs difference measured (fp32, OpenBLAS, x86-64), with that measurement beside it.
/// `parityTolerance` is the loose default for callers that have not measured theirs.
let parityTolerance: Float = 1e-4

func reference(_ path: String) throws -> Tensor { try NPY.read(Paths.reference("models/\(path)")) }

func expectClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float = parityTolerance, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): \(actual.shape) vs reference \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    let d = maxAbsDiff(actual, expected)
    #expect(d <= tolerance, "\(what): max abs difference \(d) > \(tolerance)", sourceLocation: sourceLocation)
}

/// Entry `i` of the first axis of `t`, as a tensor of the remaining axes.
func slice(_ t: Tensor, _ i: Int) -> Tensor {
    t.rows(i..<(i + 1)).reshaped(Array(t.shape.dropFirst()))
}

func top(_ k: Int, _ t: Tensor) -> [Int] {
    (0..<t.count).sorted { t.data[$0] > t.data[$1] }.prefix(k).map { $0 }
}

/// A model folder of Fixtures/models, loaded as the CLI would.
func fixtureModel(_ name: String) throws -> (ModelFolder, Checkpoint) {
    let folder = try ModelFolder(Paths.model(name))
    return (folder, try folder.checkpoint())
}

@Suite struct ViTParityTests {
    @Test(arguments: ["cat", "camera", "horse"])
    func vitMatchesTransformers(image: String) throws {
        let (folder, weights) = try fixtureModel("vit")
        let vit = try ViT(config: folder.config, weights: weights)
        var lastLayerAttention: Tensor?
        let options = EncoderOptions(hiddenStates: true, attentionSink: { layer, probs in
            if layer == vit.config.numLayers - 1 { lastLayerAttention = probs.copy() }
        })
        let out = try vit.forward(try reference("vit/\(image)_pixel_values.npy"), options: options)
        expectClose(out.lastHiddenState, try reference("vit/\(image)_last_hidden_state.npy"), tolerance: 2e-5, "last_hidden_state")  // measured 1.9e-6
        let logits = try vit.logits(lastHiddenState: out.lastHiddenState)
        let expected = try reference("vit/\(image)_logits.npy")
        expectClose(logits, expected, tolerance: 5e-6, "logits")  // measured 4.8e-7
        #expect(top(5, logits) == top(5, expected))
        if image == "cat" {
            expectClose(Tensor.stack(out.hiddenStates), try reference("vit/cat_hidden_states.npy"), tolerance: 2e-5, "hidden_states")  // measured 1.9e-6
            expectClose(try #require(lastLayerAttention), try reference("vit/cat_attentions_last_layer.npy"), tolerance: 5e-6, "attentions")  // measured 2.0e-7
        }
    }

    @Test func interpolatedPositionsMatchTransformers() throws {
        let (folder, weights) = try fixtureModel("vit")
        let vit = try ViT(config: folder.config, weights: weights)
        let out = try vit.forward(try reference("vit/cat_80x96_pixel_values.npy"))
        expectClose(out.lastHiddenState, try reference("vit/cat_80x96_last_hidden_state.npy"), tolerance: 2e-5, "last_hidden_state 80x96")  // measured 2.0e-6
        expectClose(try vit.logits(lastHiddenState: out.lastHiddenState), try reference("vit/cat_80x96_logits.npy"), tolerance: 1e-5, "logits 80x96")  // measured 7.2e-7
    }

    @Test func deitLoadsAsViT() throws {
        let (folder, weights) = try fixtureModel("deit")
        let vit = try ViT(config: folder.config, weights: weights)
        let out = try vit.forward(try reference("deit/cat_pixel_values.npy"))
        expectClose(out.lastHiddenState, try reference("deit/cat_last_hidden_state.npy"), tolerance: 2e-5, "last_hidden_state")  // measured 1.6e-6
        let logits = try vit.logits(lastHiddenState: out.lastHiddenState)
        expectClose(logits, try reference("deit/cat_logits.npy"), tolerance: 1e-5, "logits")  // measured 6.6e-7
        #expect(top(5, logits) == top(5, try reference("deit/cat_logits.npy")))
    }

    @Test func deitWithTeacherAveragesBothHeads() throws {
        let (folder, weights) = try fixtureModel("deit-distilled")
        #expect(try folder.family() == .deit)
        let vit = try ViT(config: folder.config, weights: weights)
        #expect(vit.prefixTokens == 2)
        let out = try vit.forward(try reference("deit/cat_pixel_values.npy"))
        expectClose(out.lastHiddenState, try reference("deit-distilled/cat_last_hidden_state.npy"), tolerance: 2e-5, "last_hidden_state")  // measured 1.1e-6
        let logits = try vit.logits(lastHiddenState: out.lastHiddenState)
        expectClose(logits, try reference("deit-distilled/cat_logits.npy"), tolerance: 1e-5, "logits")  // measured 6.0e-7
        #expect(top(5, logits) == top(5, try reference("deit-distilled/cat_logits.npy")))
        // Each head on its own token: cls_classifier on token 0, distillation_classifier on token 1.
        let D = vit.hiddenSize
        let cls = try #require(vit.classifier), distillation = try #require(vit.distillationClassifier)
        let clsLogits = cls(out.lastHiddenState.rows(0..<1).copy()).reshaped([cls.outFeatures])
        let distillationLogits = distillation(out.lastHiddenState.rows(1..<2).copy()).reshaped([distillation.outFeatures])
        #expect(out.lastHiddenState.shape == [66, D])
        expectClose(clsLogits, try reference("deit-distilled/cat_cls_logits.npy"), tolerance: 5e-6, "cls_logits")  // measured 4.8e-7
        expectClose(distillationLogits, try reference("deit-distilled/cat_distillation_logits.npy"), tolerance: 1e-5, "distillation_logits")  // measured 6.4e-7
    }
}

@Suite struct AudioModelParityTests {
    /// The reference input features: 408 stored columns, then a constant pad value to 3000.
    func whisperFeatures() throws -> Tensor {
        let head = try reference("whisper/input_features_head.npy")  // [80, 408]
        let pad = try reference("whisper/input_features_pad.npy").values[0]
        let mels = head.shape[0], stored = head.shape[1]
        let out = Tensor(zeros: [mels, 3000])
        for m in 0..<mels {
            for t in 0..<3000 { out.data[m * 3000 + t] = t < stored ? head.data[m * stored + t] : pad }
        }
        return out
    }

    @Test func whisperEncoderMatchesTransformers() throws {
        let (folder, weights) = try fixtureModel("whisper")
        let encoder = try WhisperEncoder(config: folder.config, weights: weights)
        var firstLayer: Tensor?
        let out = try encoder.forward(features: try whisperFeatures(), options: EncoderOptions(attentionSink: { layer, probs in
            if layer == 0 { firstLayer = probs.copy() }
        }))
        expectClose(out, try reference("whisper/encoder_last_hidden_state.npy"), tolerance: 5e-5, "encoder last_hidden_state")  // all 1500 rows; measured 3.9e-6
        let probs = try #require(firstLayer)  // [1, H, 1500, 1500]: head 0, rows 0..3
        let rows = Tensor(zeros: [4, 1500])
        rows.data.update(from: probs.data, count: 4 * 1500)
        expectClose(rows, try reference("whisper/encoder_attentions_layer0_head0_first4.npy"), tolerance: 2e-7, "attentions")  // measured 1.1e-8
    }

    /// The convolution front-end (gelu(conv2(gelu(conv1(x)))) + positions), the first layer and the
    /// normed output, rows 0..63 of each, as `output_hidden_states` gives them.
    @Test func whisperHiddenStatesMatchTransformers() throws {
        let (folder, weights) = try fixtureModel("whisper")
        let encoder = try WhisperEncoder(config: folder.config, weights: weights)
        let out = try encoder.forwardWithStates(features: try whisperFeatures(), options: EncoderOptions(hiddenStates: true))
        let expected = try reference("whisper/encoder_hidden_states_first64.npy")  // [3, 64, D]
        let D = encoder.config.hiddenSize
        #expect(out.hiddenStates.count == expected.shape[0])
        // Measured 5.7e-7, 1.7e-6 and 2.3e-6.
        for (i, what, tolerance) in [(0, "convolutions + positions", Float(1e-5)), (1, "after layer 0", 2e-5), (2, "last (normed)", 5e-5)]
        where i < out.hiddenStates.count {
            let rows = out.hiddenStates[i].rows(0..<64).copy()
            let ref = Tensor(zeros: [64, D])
            ref.data.update(from: expected.data + i * 64 * D, count: 64 * D)
            expectClose(rows, ref, tolerance: tolerance, "hidden_states[\(i)]: \(what)")
        }
    }

    @Test func whisperModelNamesLoadToo() throws {
        let (folder, weights) = try fixtureModel("whisper-model")
        let encoder = try WhisperEncoder(config: folder.config, weights: weights)
        let out = try encoder.forward(features: try whisperFeatures())
        expectClose(out.rows(0..<64), try reference("whisper-model/encoder_last_hidden_state_first64.npy"), tolerance: 5e-5, "encoder rows 0..63")  // measured 2.0e-6
        // The mean over the 200 frames that cover the 4 s of audio.
        let D = encoder.config.hiddenSize
        let mean = Tensor(zeros: [D])
        for t in 0..<200 { for d in 0..<D { mean.data[d] += out.data[t * D + d] / 200 } }
        expectClose(mean, try reference("whisper-model/encoder_mean_covered.npy"), tolerance: 5e-6, "mean of the covered frames")  // measured 4.8e-7
    }

    @Test func astMatchesTransformers() throws {
        let (folder, weights) = try fixtureModel("ast")
        let ast = try AST(config: folder.config, weights: weights)
        #expect(ast.multiLabel)
        let features = try reference("ast/input_values.npy")  // [frames, mels]
        let hidden = try ast.forward(features: features)
        expectClose(hidden, try reference("ast/last_hidden_state.npy"), tolerance: 2e-5, "last_hidden_state")  // measured 1.8e-6
        let pooled = ast.pooled(hidden)
        expectClose(pooled, try reference("ast/pooler_output.npy"), tolerance: 5e-6, "pooler_output")  // measured 3.3e-7
        let logits = try ast.logits(pooled: pooled)
        expectClose(logits, try reference("ast/logits.npy"), tolerance: 1e-5, "logits")  // measured 6.0e-7
        #expect(top(5, logits) == top(5, try reference("ast/logits.npy")))
        // The embeddings (output_hidden_states[0]): the patch convolution sees the features as a
        // 1-channel image [1, mels, frames]; [CLS], distillation, then the patches, plus positions.
        let frames = features.shape[0], mels = features.shape[1]
        let image = Tensor(zeros: [1, mels, frames])
        for t in 0..<frames { for m in 0..<mels { image.data[m * frames + t] = features.data[t * mels + m] } }
        let embeddings = ast.embeddings(image)
        expectClose(embeddings, try reference("ast/embeddings.npy"), tolerance: 2e-5, "embeddings")  // measured 1.3e-6
    }
}

@Suite struct ESMParityTests {
    func tokens(_ ids: Tensor, row: Int) -> [Int32] {
        let width = ids.shape[1]
        return (0..<width).map { Int32(ids.data[row * width + $0]) }.filter { $0 != 1 }  // drop <pad>
    }

    @Test func hiddenStatesAndContactsMatchTransformers() throws {
        let (folder, weights) = try fixtureModel("esm2")
        let esm = try ESM2(config: folder.config, weights: weights)
        let ids = try reference("esm2/trunc120_input_ids.npy")  // [2, 122]
        let hidden = try reference("esm2/trunc120_hidden_states.npy")  // [2, layers+1, 122, D]
        let contacts = try reference("esm2/trunc120_contacts.npy")  // [2, 120, 120]
        let L = esm.numLayers
        for b in 0..<2 {
            let out = try esm.forward(tokens: [tokens(ids, row: b)], repr: Set(0...L), contacts: true)
            for l in 0...L {
                let expected = slice(slice(hidden, b), l)  // [122, D]
                expectClose(try #require(out.representations[l]), expected, tolerance: 5e-5, "record \(b) layer \(l)")  // measured 2.1e-6
            }
            expectClose(out.contacts[0], slice(contacts, b), tolerance: 1e-5, "record \(b) contacts")  // measured 1.4e-6
        }
    }

    /// Records batched with padding give the outputs they give alone, and match the reference means.
    @Test func batchedRecordsMatchSingleRunsAndReference() throws {
        let (folder, weights) = try fixtureModel("esm2")
        let esm = try ESM2(config: folder.config, weights: weights)
        let ids = try reference("esm2/input_ids.npy")  // [12, 504]
        let means = try reference("esm2/mean.npy"), bos = try reference("esm2/bos.npy")  // [12, D]
        let D = esm.config.hiddenSize, L = esm.numLayers
        let records = [0, 3, 8]
        let batch = try esm.forward(tokens: records.map { tokens(ids, row: $0) }, repr: [L], contacts: true)
        let reps = try #require(batch.representations[L])  // [3, T, D]
        let T = reps.shape[1]
        for (i, r) in records.enumerated() {
            let seq = tokens(ids, row: r)
            let alone = try esm.forward(tokens: [seq], repr: [L], contacts: true)
            let single = try #require(alone.representations[L])
            let n = seq.count
            let fromBatch = Tensor(zeros: [n, D])
            fromBatch.data.update(from: reps.data + i * T * D, count: n * D)
            expectClose(fromBatch, single.reshaped([n, D]), tolerance: 1e-5, "record \(r): batch vs single")  // measured 1.6e-6
            expectClose(batch.contacts[i], alone.contacts[0], tolerance: 1e-5, "record \(r): contacts batch vs single")  // measured 6.7e-7
            let mean = Tensor(zeros: [D])
            for t in 1..<(n - 1) { for d in 0..<D { mean.data[d] += single.data[t * D + d] / Float(n - 2) } }
            expectClose(mean, means.rows(r..<(r + 1)).reshaped([D]), tolerance: 1e-5, "record \(r): mean")  // measured 9.5e-7
            expectClose(single.reshaped([n, D]).rows(0..<1).reshaped([D]), bos.rows(r..<(r + 1)).reshaped([D]), tolerance: 2e-5, "record \(r): bos")  // measured 1.5e-6
        }
    }

    @Test func maskedLMLogitsMatchTransformers() throws {
        let (folder, weights) = try fixtureModel("esm2")
        let esm = try ESM2(config: folder.config, weights: weights)
        #expect(esm.hasLMHead)
        let ids = try reference("esm2/trunc120_input_ids.npy")
        let out = try esm.forward(tokens: [tokens(ids, row: 0)], repr: [esm.numLayers], contacts: false)
        let logits = try esm.maskedLMLogits(try #require(out.representations[esm.numLayers]))
        // measured 2.4e-6
        expectClose(logits, try reference("esm2/trunc120_logits_first.npy"), tolerance: 2e-5, "masked-LM logits")
    }

    @Test func esmModelNamesLoadToo() throws {
        let (folder, weights) = try fixtureModel("esm2-model")
        let esm = try ESM2(config: folder.config, weights: weights)
        let ids = try reference("esm2/trunc120_input_ids.npy")
        let out = try esm.forward(tokens: [tokens(ids, row: 0)], repr: [], contacts: true)
        expectClose(out.contacts[0], try reference("esm2-model/trunc120_contacts_first.npy"), tolerance: 1e-5, "contacts")  // measured 1.4e-6
        // All 12 LuxC records in one padded batch: the mean over residues and the <cls> row of the last layer.
        let all = try reference("esm2/input_ids.npy")  // [12, 504]
        let seqs = (0..<all.shape[0]).map { tokens(all, row: $0) }
        let L = esm.numLayers, D = esm.config.hiddenSize
        let reps = try #require(try esm.forward(tokens: seqs, repr: [L], contacts: false).representations[L])  // [12, T, D]
        let T = reps.shape[1]
        let means = Tensor(zeros: [seqs.count, D]), bos = Tensor(zeros: [seqs.count, D])
        for (r, seq) in seqs.enumerated() {
            let base = reps.data + r * T * D
            (bos.data + r * D).update(from: base, count: D)
            for t in 1..<(seq.count - 1) { for d in 0..<D { means.data[r * D + d] += base[t * D + d] / Float(seq.count - 2) } }
        }
        expectClose(means, try reference("esm2-model/mean.npy"), tolerance: 2e-5, "means")  // measured 1.3e-6
        expectClose(bos, try reference("esm2-model/bos.npy"), tolerance: 2e-5, "bos")  // measured 1.6e-6
    }

    /// Layer 0's attention probabilities, query rows 0..15 over all 122 keys, for both records.
    @Test func esmAttentionMatchesTransformers() throws {
        let (folder, weights) = try fixtureModel("esm2")
        let esm = try ESM2(config: folder.config, weights: weights)
        let ids = try reference("esm2/trunc120_input_ids.npy")  // [2, 122]
        let expected = try reference("esm2/trunc120_attentions_layer0_first16.npy")  // [2, H, 16, 122]
        let H = esm.config.numHeads, T = 122
        #expect(expected.shape == [2, H, 16, T])
        let seqs = [tokens(ids, row: 0), tokens(ids, row: 1)]
        #expect(seqs.allSatisfy { $0.count == T })
        // The embeddings (representation 0) through the encoder, keeping layer 0's probabilities.
        let embeddings = try #require(try esm.forward(tokens: seqs, repr: [0], contacts: false).representations[0])
        let first16 = Tensor(zeros: [2, H, 16, T])
        _ = try esm.encoder(embeddings, layout: .padded(tokens: T, lengths: seqs.map(\.count)), options: EncoderOptions(attentionSink: { layer, probs in
            guard layer == 0 else { return }
            for bh in 0..<(2 * H) { (first16.data + bh * 16 * T).update(from: probs.data + bh * T * T, count: 16 * T) }
        }))
        expectClose(first16, expected, tolerance: 1e-6, "attentions layer 0")  // measured 9.7e-8
    }
}

