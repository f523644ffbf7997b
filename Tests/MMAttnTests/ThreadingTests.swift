import Foundation
import Testing
@testable import MMAttn

/// The parallel paths at 1, 3 and 7 threads (CI machines have 2 cores, so the default never splits
/// work unevenly or over more threads than cores): the same references and tolerances as the
/// parity tests at the default count (the differences measured at 1, 3 and 7 threads match the
/// default's to within a few 1e-7).
@Suite struct ThreadingTests {
    static let counts = [1, 3, 7]

    @Test(arguments: counts)
    func vitAtThreadCount(_ threads: Int) throws {
        let (folder, weights) = try fixtureModel("vit")
        let vit = try ViT(config: folder.config, weights: weights)
        var lastLayerAttention: Tensor?
        let options = EncoderOptions(attentionSink: { layer, probs in
            if layer == vit.config.numLayers - 1 { lastLayerAttention = probs.copy() }
        })
        let out = try Threads.withCount(threads) { try vit.forward(try reference("vit/cat_pixel_values.npy"), options: options) }
        expectClose(out.lastHiddenState, try reference("vit/cat_last_hidden_state.npy"), tolerance: 2e-5, "\(threads) threads: last_hidden_state")
        let logits = try Threads.withCount(threads) { try vit.logits(lastHiddenState: out.lastHiddenState) }
        expectClose(logits, try reference("vit/cat_logits.npy"), tolerance: 5e-6, "\(threads) threads: logits")
        expectClose(try #require(lastLayerAttention), try reference("vit/cat_attentions_last_layer.npy"), tolerance: 5e-6, "\(threads) threads: attentions")
    }

    @Test(arguments: counts)
    func whisperEncoderAtThreadCount(_ threads: Int) throws {
        let (folder, weights) = try fixtureModel("whisper")
        let encoder = try WhisperEncoder(config: folder.config, weights: weights)
        let features = try AudioModelParityTests().whisperFeatures()
        let out = try Threads.withCount(threads) { try encoder.forward(features: features) }
        expectClose(out, try reference("whisper/encoder_last_hidden_state.npy"), tolerance: 5e-5, "\(threads) threads: encoder last_hidden_state")
    }

    @Test(arguments: counts)
    func astAtThreadCount(_ threads: Int) throws {
        let (folder, weights) = try fixtureModel("ast")
        let ast = try AST(config: folder.config, weights: weights)
        let hidden = try Threads.withCount(threads) { try ast.forward(features: try reference("ast/input_values.npy")) }
        expectClose(hidden, try reference("ast/last_hidden_state.npy"), tolerance: 2e-5, "\(threads) threads: last_hidden_state")
        let logits = try Threads.withCount(threads) { try ast.logits(pooled: ast.pooled(hidden)) }
        expectClose(logits, try reference("ast/logits.npy"), tolerance: 1e-5, "\(threads) threads: logits")
    }

    /// Both trunc120 records in one batch, every layer and the contact maps.
    @Test(arguments: counts)
    func esmWithContactsAtThreadCount(_ threads: Int) throws {
        let (folder, weights) = try fixtureModel("esm2")
        let esm = try ESM2(config: folder.config, weights: weights)
        let ids = try reference("esm2/trunc120_input_ids.npy")  // [2, 122]
        let hidden = try reference("esm2/trunc120_hidden_states.npy")  // [2, layers+1, 122, D]
        let contacts = try reference("esm2/trunc120_contacts.npy")  // [2, 120, 120]
        let T = 122, L = esm.numLayers
        let seqs = (0..<2).map { row in (0..<T).map { Int32(ids.data[row * T + $0]) } }
        let out = try Threads.withCount(threads) { try esm.forward(tokens: seqs, repr: Set(0...L), contacts: true) }
        for b in 0..<2 {
            for l in 0...L {
                expectClose(slice(try #require(out.representations[l]), b), slice(slice(hidden, b), l), tolerance: 5e-5,
                            "\(threads) threads: record \(b) layer \(l)")
            }
            expectClose(out.contacts[b], slice(contacts, b), tolerance: 1e-5, "\(threads) threads: record \(b) contacts")
        }
    }

    /// The attention kernel against its scalar reference: 2 items × 5 heads = 10 jobs, so 3 and 7
    /// threads split them unevenly; with and without the probabilities (which it must fill entirely,
    /// so they start as NaN).
    @Test(arguments: counts)
    func attentionKernelAtThreadCount(_ threads: Int) {
        var rng = TestRandom(seed: 17)
        let g = AttentionHeads(heads: 5, headDim: 8)
        let rows = 2 * 23, width = 40
        let q = rng.tensor([rows, width], scale: 2), k = rng.tensor([rows, width], scale: 2), v = rng.tensor([rows, width])
        let cases: [(AttentionMask, SequenceLayout)] = [(.none, .uniform(batch: 2, tokens: 23)), (.causal, .uniform(batch: 2, tokens: 23)),
                                                        (.none, .padded(tokens: 23, lengths: [23, 9]))]
        for (mask, layout) in cases {
            let slow = Tensor(zeros: [rows, width]), slowP = Tensor(zeros: [2, 5, 23, 23])
            Attention.reference(q: q.data, k: k.data, v: v.data, out: slow.data, layout: layout, heads: g, scale: 0.35, mask: mask, probs: slowP.data)
            let fast = Tensor(zeros: [rows, width]), fastP = Tensor(zeros: [2, 5, 23, 23]), noProbs = Tensor(zeros: [rows, width])
            fastP.data.update(repeating: .nan, count: fastP.count)
            Threads.withCount(threads) {
                Attention.compute(q: q.data, k: k.data, v: v.data, out: fast.data, layout: layout, heads: g, scale: 0.35, mask: mask, probs: fastP.data)
                Attention.compute(q: q.data, k: k.data, v: v.data, out: noProbs.data, layout: layout, heads: g, scale: 0.35, mask: mask)
            }
            // Measured 1.8e-7 for outputs and probabilities at every count.
            #expect(maxAbsDiff(fast, slow) <= 2e-6, "\(threads) threads, \(mask) \(layout.lengths): outputs")
            #expect(maxAbsDiff(fastP, slowP) <= 2e-6, "\(threads) threads, \(mask) \(layout.lengths): probabilities")
            #expect(maxAbsDiff(noProbs, slow) <= 2e-6, "\(threads) threads, \(mask) \(layout.lengths): outputs without probabilities")
        }
    }

    /// A `Linear` large enough to be split (64 rows × 256 inputs × 1020 outputs: 64 column blocks
    /// of 16, the last one partial), against the definition in double precision.
    @Test(arguments: counts)
    func linearAtThreadCount(_ threads: Int) {
        var rng = TestRandom(seed: 23)
        let x = rng.tensor([64, 256]), w = rng.tensor([1020, 256]), b = rng.tensor([1020])
        let linear = Linear(weight: w, bias: b)
        let y = Threads.withCount(threads) { linear(x) }
        #expect(y.shape == [64, 1020])
        var worst = 0.0
        for r in 0..<64 {
            for o in 0..<1020 {
                var e = Double(b.data[o])
                for i in 0..<256 { e += Double(x.data[r * 256 + i]) * Double(w.data[o * 256 + i]) }
                worst = max(worst, abs(Double(y.data[r * 1020 + o]) - e))
            }
        }
        #expect(worst <= 2e-4, "\(threads) threads: max abs difference \(worst)")  // measured 1.4e-5 (sums of 256 products)
    }

    /// The CLI with `MMATTN_NUM_THREADS=3`: image embeddings and a batched protein run match the references.
    @Test func cliWithThreeThreads() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = ["MMATTN_NUM_THREADS": "3"]
        var r = try CLI.run(["embed-image", Paths.fixture("images/cat.png"), "--model", Paths.model("vit"), "--pooling", "none",
                             "--output", dir + "/cat.npy"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        expectClose(try NPY.read(dir + "/cat.npy"), try reference("vit/cat_last_hidden_state.npy"), tolerance: 2e-5, "embed-image at 3 threads")
        r = try CLI.run(["embed-protein", Paths.fixture("protein/LuxC.faa"), "--model", Paths.model("esm2"),
                         "--output", dir + "/luxc.npy"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        expectClose(try NPY.read(dir + "/luxc.npy"), try reference("esm2/mean.npy"), tolerance: 2e-5, "embed-protein means at 3 threads")
    }
}
