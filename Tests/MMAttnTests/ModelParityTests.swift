import Foundation
import Testing
@testable import MMAttn

/// Parity with transformers on the tiny random checkpoints of `Fixtures/models`, fed the exact inputs
/// the reference saw (`Fixtures/reference/models`). Tolerance: max abs difference ≤ 1e-4 (fp32).
let parityTolerance: Float = 1e-4

func reference(_ path: String) throws -> Tensor { try NPY.read(Paths.reference("models/\(path)")) }

func expectClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float = parityTolerance, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): \(actual.shape) vs reference \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    let d = maxAbsDiff(actual, expected)
    #expect(d <= tolerance, "\(what): max abs difference \(d) > \(tolerance)", sourceLocation: sourceLocation)
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
            if layer == vit.config.numLayers - 1 { lastLayerAttention = probs }
        })
        let out = try vit.forward(try reference("vit/\(image)_pixel_values.npy"), options: options)
        expectClose(out.lastHiddenState, try reference("vit/\(image)_last_hidden_state.npy"), "last_hidden_state")
        let logits = try vit.logits(lastHiddenState: out.lastHiddenState)
        let expected = try reference("vit/\(image)_logits.npy")
        expectClose(logits, expected, "logits")
        #expect(top(5, logits) == top(5, expected))
        if image == "cat" {
            expectClose(Tensor.stack(out.hiddenStates), try reference("vit/cat_hidden_states.npy"), "hidden_states")
            expectClose(try #require(lastLayerAttention), try reference("vit/cat_attentions_last_layer.npy"), "attentions")
        }
    }

    @Test func interpolatedPositionsMatchTransformers() throws {
        let (folder, weights) = try fixtureModel("vit")
        let vit = try ViT(config: folder.config, weights: weights)
        let out = try vit.forward(try reference("vit/cat_80x96_pixel_values.npy"))
        expectClose(out.lastHiddenState, try reference("vit/cat_80x96_last_hidden_state.npy"), "last_hidden_state 80x96")
        expectClose(try vit.logits(lastHiddenState: out.lastHiddenState), try reference("vit/cat_80x96_logits.npy"), "logits 80x96")
    }

    @Test func deitLoadsAsViT() throws {
        let (folder, weights) = try fixtureModel("deit")
        let vit = try ViT(config: folder.config, weights: weights)
        let out = try vit.forward(try reference("deit/cat_pixel_values.npy"))
        expectClose(out.lastHiddenState, try reference("deit/cat_last_hidden_state.npy"), "last_hidden_state")
        let logits = try vit.logits(lastHiddenState: out.lastHiddenState)
        expectClose(logits, try reference("deit/cat_logits.npy"), "logits")
        #expect(top(5, logits) == top(5, try reference("deit/cat_logits.npy")))
    }

    @Test func deitWithTeacherAveragesBothHeads() throws {
        let (folder, weights) = try fixtureModel("deit-distilled")
        #expect(folder.family == .deit)
        let vit = try ViT(config: folder.config, weights: weights)
        #expect(vit.prefixTokens == 2)
        let out = try vit.forward(try reference("deit/cat_pixel_values.npy"))
        expectClose(out.lastHiddenState, try reference("deit-distilled/cat_last_hidden_state.npy"), "last_hidden_state")
        let logits = try vit.logits(lastHiddenState: out.lastHiddenState)
        expectClose(logits, try reference("deit-distilled/cat_logits.npy"), "logits")
        #expect(top(5, logits) == top(5, try reference("deit-distilled/cat_logits.npy")))
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
            if layer == 0 { firstLayer = probs }
        }))
        expectClose(out, try reference("whisper/encoder_last_hidden_state.npy"), "encoder last_hidden_state")
        let probs = try #require(firstLayer)  // [1, H, 1500, 1500]: head 0, rows 0..3
        let rows = Tensor(zeros: [4, 1500])
        rows.data.update(from: probs.data, count: 4 * 1500)
        expectClose(rows, try reference("whisper/encoder_attentions_layer0_head0_first4.npy"), "attentions")
    }

    @Test func whisperModelNamesLoadToo() throws {
        let (folder, weights) = try fixtureModel("whisper-model")
        let encoder = try WhisperEncoder(config: folder.config, weights: weights)
        let out = try encoder.forward(features: try whisperFeatures())
        expectClose(out.rows(0..<64), try reference("whisper-model/encoder_last_hidden_state_first64.npy"), "encoder rows 0..63")
    }

    @Test func astMatchesTransformers() throws {
        let (folder, weights) = try fixtureModel("ast")
        let ast = try AST(config: folder.config, weights: weights)
        #expect(ast.multiLabel)
        let hidden = try ast.forward(features: try reference("ast/input_values.npy"))
        expectClose(hidden, try reference("ast/last_hidden_state.npy"), "last_hidden_state")
        let pooled = ast.pooled(hidden)
        expectClose(pooled, try reference("ast/pooler_output.npy"), "pooler_output")
        let logits = try ast.logits(pooled: pooled)
        expectClose(logits, try reference("ast/logits.npy"), "logits")
        #expect(top(5, logits) == top(5, try reference("ast/logits.npy")))
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
        let D = esm.config.hiddenSize, T = 122, L = esm.numLayers
        for b in 0..<2 {
            let out = try esm.forward(tokens: [tokens(ids, row: b)], repr: Set(0...L), contacts: true)
            for l in 0...L {
                let expected = Tensor(zeros: [T, D])
                expected.data.update(from: hidden.data + ((b * (L + 1) + l) * T) * D, count: T * D)
                expectClose(try #require(out.representations[l]), expected, "record \(b) layer \(l)")
            }
            let expectedContacts = Tensor(zeros: [120, 120])
            expectedContacts.data.update(from: contacts.data + b * 120 * 120, count: 120 * 120)
            expectClose(out.contacts[0], expectedContacts, tolerance: 1e-5, "record \(b) contacts")
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
            expectClose(fromBatch, single.reshaped([n, D]), tolerance: 1e-5, "record \(r): batch vs single")
            expectClose(batch.contacts[i], alone.contacts[0], tolerance: 1e-6, "record \(r): contacts batch vs single")
            let mean = Tensor(zeros: [D])
            for t in 1..<(n - 1) { for d in 0..<D { mean.data[d] += single.data[t * D + d] / Float(n - 2) } }
            expectClose(mean, means.rows(r..<(r + 1)).reshaped([D]), "record \(r): mean")
            expectClose(single.reshaped([n, D]).rows(0..<1).reshaped([D]), bos.rows(r..<(r + 1)).reshaped([D]), "record \(r): bos")
        }
    }

    @Test func esmModelNamesLoadToo() throws {
        let (folder, weights) = try fixtureModel("esm2-model")
        let esm = try ESM2(config: folder.config, weights: weights)
        let ids = try reference("esm2/trunc120_input_ids.npy")
        let out = try esm.forward(tokens: [tokens(ids, row: 0)], repr: [], contacts: true)
        expectClose(out.contacts[0], try reference("esm2-model/trunc120_contacts_first.npy"), tolerance: 1e-5, "contacts")
    }
}

