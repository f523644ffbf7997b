import Foundation
import Testing
@testable import MMAttn
import CKernels

/// The fused attention kernel against the scalar reference (Double, one key at a time): every
/// mask, layout and head grouping, odd lengths (1, 7, 129) and one that spans two key tiles (300),
/// with and without the probabilities, inputs read at the strides of a fused q|k|v projection.
@Suite struct AttentionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let layout: SequenceLayout
        let mask: AttentionMask
        var heads = 4
        var kvHeads = 4
        var testDescription: String { name }
    }

    static let grid = GridMask(prefix: 1, frames: 2, height: 3, width: 4, sharing: [])  // 25 tokens: CLS + 2 frames of 3×4

    static let cases: [Case] = [
        Case(name: "T=1", layout: .uniform(batch: 1, tokens: 1), mask: .none),
        Case(name: "T=7", layout: .uniform(batch: 2, tokens: 7), mask: .none),
        Case(name: "T=129", layout: .uniform(batch: 1, tokens: 129), mask: .none),
        Case(name: "T=300 (two key tiles)", layout: .uniform(batch: 1, tokens: 300), mask: .none),
        Case(name: "causal T=1", layout: .uniform(batch: 1, tokens: 1), mask: .causal),
        Case(name: "causal T=129", layout: .uniform(batch: 1, tokens: 129), mask: .causal),
        Case(name: "causal T=300", layout: .uniform(batch: 1, tokens: 300), mask: .causal),
        Case(name: "padded [7, 3, 0, 1]", layout: .padded(tokens: 7, lengths: [7, 3, 0, 1]), mask: .none),
        Case(name: "causal padded [129, 70]", layout: .padded(tokens: 129, lengths: [129, 70]), mask: .causal),
        Case(name: "packed [7, 1, 129, 3]", layout: .packed(lengths: [7, 1, 129, 3]), mask: .none),
        Case(name: "causal packed [5, 300]", layout: .packed(lengths: [5, 300]), mask: .causal),
        Case(name: "window 8 T=129", layout: .uniform(batch: 1, tokens: 129), mask: AttentionMask(window: 8)),
        Case(name: "window 7 T=300", layout: .uniform(batch: 1, tokens: 300), mask: AttentionMask(window: 7)),
        Case(name: "window 128 packed [300, 7]", layout: .packed(lengths: [300, 7]), mask: AttentionMask(window: 128)),
        Case(name: "causal window 5 T=129", layout: .uniform(batch: 1, tokens: 129), mask: AttentionMask(causal: true, window: 5)),
        Case(name: "causal window 100 T=300", layout: .uniform(batch: 1, tokens: 300), mask: AttentionMask(causal: true, window: 100)),
        Case(name: "grid: same frame", layout: .uniform(batch: 2, tokens: 25), mask: AttentionMask(grid: withSharing(grid, [.time]))),
        Case(name: "grid: same place", layout: .uniform(batch: 2, tokens: 25), mask: AttentionMask(grid: withSharing(grid, [.row, .column]))),
        Case(name: "grid: same row of a frame", layout: .uniform(batch: 1, tokens: 25), mask: AttentionMask(grid: withSharing(grid, [.time, .row]))),
        Case(name: "grid: same column, causal", layout: .uniform(batch: 1, tokens: 25), mask: AttentionMask(causal: true, grid: withSharing(grid, [.column]))),
        Case(name: "causal T=2100 (256-row tiles)", layout: .uniform(batch: 1, tokens: 2100), mask: .causal, heads: 2, kvHeads: 1),
        Case(name: "grid over 289 tokens: same frame (tiles across frames)", layout: .uniform(batch: 1, tokens: 289),
             mask: AttentionMask(grid: GridMask(prefix: 1, frames: 4, height: 8, width: 9, sharing: [.time]))),
        Case(name: "grid over 960 tokens: same frame, whole tiles excluded before their GEMM", layout: .uniform(batch: 1, tokens: 960),
             mask: AttentionMask(grid: GridMask(frames: 3, height: 16, width: 20, sharing: [.time])), heads: 2, kvHeads: 2),
        Case(name: "grid and window", layout: .uniform(batch: 1, tokens: 25), mask: AttentionMask(window: 6, grid: withSharing(grid, [.column]))),
        Case(name: "window on padded [129, 0, 40]", layout: .padded(tokens: 129, lengths: [129, 0, 40]), mask: AttentionMask(window: 10)),
        Case(name: "packed [3, 0, 2]", layout: .packed(lengths: [3, 0, 2]), mask: .none),
        Case(name: "GQA 4/2 T=129", layout: .uniform(batch: 1, tokens: 129), mask: .none, heads: 4, kvHeads: 2),
        Case(name: "GQA 4/2 causal packed", layout: .packed(lengths: [129, 7]), mask: .causal, heads: 4, kvHeads: 2),
        Case(name: "MQA 4/1 window 6", layout: .padded(tokens: 129, lengths: [129, 40]), mask: AttentionMask(window: 6), heads: 4, kvHeads: 1),
    ]

    static func withSharing(_ g: GridMask, _ axes: GridAxes) -> GridMask {
        var g = g
        g.sharing = axes
        return g
    }

    @Test(arguments: cases)
    func fusedKernelMatchesReference(_ c: Case) {
        var rng = TestRandom(seed: 41)
        let dh = 8, rows = c.layout.rows
        // q | k | v side by side, as the encoder's fused projection writes them.
        let width = (c.heads + 2 * c.kvHeads) * dh
        let qkv = rng.tensor([max(rows, 1), width], scale: 2)
        let q = qkv.data, k = qkv.data + c.heads * dh, v = qkv.data + (c.heads + c.kvHeads) * dh
        let g = AttentionHeads(heads: c.heads, keyValueHeads: c.kvHeads, headDim: dh, queryStride: width, keyValueStride: width)
        let S = c.layout.count, T = c.layout.maxLength
        let slow = Tensor(zeros: [max(rows, 1), c.heads * dh]), slowP = Tensor(zeros: [S, c.heads, T, T])
        Attention.reference(q: q, k: k, v: v, out: slow.data, layout: c.layout, heads: g, scale: 0.35, mask: c.mask, probs: slowP.data)
        let fast = Tensor(zeros: slow.shape), fastP = Tensor(zeros: slowP.shape), withP = Tensor(zeros: slow.shape)
        // Both outputs must be written entirely: start them as NaN.
        fast.data.update(repeating: .nan, count: fast.count)
        withP.data.update(repeating: .nan, count: withP.count)
        fastP.data.update(repeating: .nan, count: fastP.count)
        Attention.compute(q: q, k: k, v: v, out: fast.data, layout: c.layout, heads: g, scale: 0.35, mask: c.mask)
        Attention.compute(q: q, k: k, v: v, out: withP.data, layout: c.layout, heads: g, scale: 0.35, mask: c.mask, probs: fastP.data)
        // Measured at most 4.8e-7 over these cases (outputs and probabilities); the issue asks for 1e-5.
        #expect(maxAbsDiff(fast, slow) <= 2e-6, "\(c.name): outputs")
        #expect(maxAbsDiff(withP, slow) <= 2e-6, "\(c.name): outputs of the probabilities path")
        #expect(maxAbsDiff(fastP, slowP) <= 2e-6, "\(c.name): probabilities")
    }

    /// A packed batch gives each sequence what it gives alone, and the padded layout of the same
    /// sequences gives the same rows (attention never crosses sequences).
    @Test func packedEqualsPaddedEqualsAlone() {
        var rng = TestRandom(seed: 43)
        let lengths = [9, 1, 70], T = 70, dh = 8, H = 2, D = H * dh
        let padded = rng.tensor([3 * T, 3 * D])  // rows of q | k | v
        let packed = Tensor(zeros: [lengths.reduce(0, +), 3 * D])
        var row = 0
        for (b, n) in lengths.enumerated() {
            (packed.data + row * 3 * D).update(from: padded.data + b * T * 3 * D, count: n * 3 * D)
            row += n
        }
        func run(_ x: Tensor, _ layout: SequenceLayout) -> Tensor {
            let out = Tensor(zeros: [layout.rows, D])
            let strided = AttentionHeads(heads: H, headDim: dh, queryStride: 3 * D, keyValueStride: 3 * D)
            Attention.compute(q: x.data, k: x.data + D, v: x.data + 2 * D, out: out.data, layout: layout, heads: strided,
                              scale: 0.35, mask: .causal)
            return out
        }
        let a = run(padded, .padded(tokens: T, lengths: lengths)), b = run(packed, .packed(lengths: lengths))
        row = 0
        for (s, n) in lengths.enumerated() {
            let alone = run(packed.rows(row..<(row + n)), .uniform(batch: 1, tokens: n))
            for i in 0..<n {
                for d in 0..<D {
                    #expect(a.data[(s * T + i) * D + d] == b.data[(row + i) * D + d])
                    #expect(alone.data[i * D + d] == b.data[(row + i) * D + d])
                }
            }
            for i in n..<T {
                for d in 0..<D { #expect(a.data[(s * T + i) * D + d] == 0) }
            }
            row += n
        }
    }

    /// Keys laid out apart from the queries: cross-attention (queries from one sequence, keys and
    /// values from another, of other lengths) and a decoder's cache (the queries are the last
    /// positions of the keys' sequences, so a causal mask lets them see every earlier key).
    @Test(arguments: [
        ("cross, packed [3, 1] over [300, 17]", SequenceLayout.packed(lengths: [3, 1]), SequenceLayout.packed(lengths: [300, 17]), AttentionMask.none),
        ("cross, more queries than keys", SequenceLayout.uniform(batch: 1, tokens: 40), SequenceLayout.uniform(batch: 1, tokens: 5), AttentionMask.none),
        ("cache: 1 new of 10 positions", SequenceLayout.uniform(batch: 2, tokens: 1), SequenceLayout.padded(tokens: 16, lengths: [10, 10]), AttentionMask.causal),
        ("cache: 4 new of 300 positions", SequenceLayout.uniform(batch: 1, tokens: 4), SequenceLayout.padded(tokens: 448, lengths: [300]), AttentionMask.causal),
        ("cache: prefill of 3", SequenceLayout.uniform(batch: 1, tokens: 3), SequenceLayout.padded(tokens: 8, lengths: [3]), AttentionMask.causal),
    ])
    func separateKeysMatchReference(_ name: String, _ queries: SequenceLayout, _ keys: SequenceLayout, _ mask: AttentionMask) {
        var rng = TestRandom(seed: 47)
        let H = 4, G = 2, dh = 8
        let q = rng.tensor([queries.rows, H * dh], scale: 2)   // [query rows, H·dh]
        let kv = rng.tensor([keys.rows, 2 * G * dh], scale: 2)  // [key rows, k | v]
        let g = AttentionHeads(heads: H, keyValueHeads: G, headDim: dh, queryStride: H * dh, keyValueStride: 2 * G * dh)
        let S = queries.count, Tq = queries.maxLength, Tk = keys.maxLength
        let slow = Tensor(zeros: [queries.rows, H * dh]), slowP = Tensor(zeros: [S, H, Tq, Tk])
        Attention.reference(q: q.data, k: kv.data, v: kv.data + G * dh, out: slow.data, layout: queries, keys: keys, heads: g,
                            scale: 0.35, mask: mask, probs: slowP.data)
        let fast = Tensor(zeros: slow.shape), withP = Tensor(zeros: slow.shape), fastP = Tensor(zeros: slowP.shape)
        fast.data.update(repeating: .nan, count: fast.count)
        fastP.data.update(repeating: .nan, count: fastP.count)
        Attention.compute(q: q.data, k: kv.data, v: kv.data + G * dh, out: fast.data, layout: queries, keys: keys, heads: g,
                          scale: 0.35, mask: mask)
        Attention.compute(q: q.data, k: kv.data, v: kv.data + G * dh, out: withP.data, layout: queries, keys: keys, heads: g,
                          scale: 0.35, mask: mask, probs: fastP.data)
        // Same bound as the self-attention cases above.
        #expect(maxAbsDiff(fast, slow) <= 2e-6, "\(name): outputs")
        #expect(maxAbsDiff(withP, slow) <= 2e-6, "\(name): outputs of the probabilities path")
        #expect(maxAbsDiff(fastP, slowP) <= 2e-6, "\(name): probabilities")
        if mask.causal {
            // The last query sees every key; the one before it all but the last.
            let last = Tq - 1, n = keys.lengths[0]
            #expect(fastP.data[last * Tk + n - 1] > 0)
            if Tq > 1 { #expect(fastP.data[(last - 1) * Tk + n - 1] == 0) }
        }
    }

    @Test func layoutsNumberRowsAndPositions() {
        let padded = SequenceLayout.padded(tokens: 4, lengths: [4, 2, 7, -1])
        #expect(padded.rows == 16 && padded.starts == [0, 4, 8, 12] && padded.lengths == [4, 2, 4, 0])
        #expect(padded.positions == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
        let packed = SequenceLayout.packed(lengths: [3, 0, 2])
        #expect(packed.rows == 5 && packed.starts == [0, 3, 3] && packed.paddedTokens == nil)
        #expect(packed.positions == [0, 1, 2, 0, 1])
        #expect(packed.maxLength == 3 && packed.count == 3)
    }

    /// The mask rules as documented: windows both ways, grids with their prefix.
    @Test func maskRules() {
        let symmetric = AttentionMask(window: 4)
        #expect((0..<10).filter { symmetric.allows(5, $0, 10) } == [3, 4, 5, 6, 7])
        let causal = AttentionMask(causal: true, window: 4)
        #expect((0..<10).filter { causal.allows(5, $0, 10) } == [2, 3, 4, 5])
        let frame = AttentionMask(grid: GridMask(prefix: 1, frames: 2, height: 2, width: 2, sharing: [.time]))
        #expect((0..<9).filter { frame.allows(6, $0, 9) } == [0, 5, 6, 7, 8])
        #expect((0..<9).filter { frame.allows(0, $0, 9) } == Array(0..<9))
        let place = AttentionMask(grid: GridMask(prefix: 1, frames: 2, height: 2, width: 2, sharing: [.row, .column]))
        #expect((0..<9).filter { place.allows(2, $0, 9) } == [0, 2, 6])
        // Whole tiles of other frames are skipped before their GEMM (frames of 320 tokens).
        let frames = GridMask(frames: 3, height: 16, width: 20, sharing: [.time])
        #expect(frames.excludes(queries: 0, 256, keys: 512, 768) && frames.excludes(queries: 768, 960, keys: 0, 256))
        #expect(!frames.excludes(queries: 256, 512, keys: 512, 768))
        #expect(!GridMask(prefix: 1, frames: 3, height: 16, width: 20, sharing: [.time]).excludes(queries: 0, 256, keys: 512, 768))
        #expect(!GridMask(frames: 3, height: 16, width: 20, sharing: [.row]).excludes(queries: 0, 256, keys: 512, 768))
    }
}

/// The C online-softmax step on each instruction set this CPU has (AVX-512, AVX2, scalar), against
/// its definition in Double: rows with masked entries, a row with nothing visible yet, a row whose
/// maximum moves, and lengths that leave vector tails.
@Suite struct OnlineSoftmaxTests {
    @Test func scalarMatchesTheDefinition() { check(level: 0) }

    @Test(.enabled(if: mmattn_kernels_level() >= 1, "this CPU has no AVX2+FMA"))
    func avx2MatchesTheDefinition() { check(level: 1) }

    @Test(.enabled(if: mmattn_kernels_level() >= 2, "this CPU has no AVX-512"))
    func avx512MatchesTheDefinition() { check(level: 2) }

    func check(level: Int32) {
        var rng = TestRandom(seed: 47)
        for n in [1, 7, 8, 15, 16, 17, 33, 256] {
            let m = 4, ld = n + 3
            let scores = rng.tensor([m, ld], scale: 30)
            for c in stride(from: 0, to: n, by: 3) { scores.data[c] = -.infinity }   // row 0: some masked
            (scores.data + ld).update(repeating: -.infinity, count: n)               // row 1: all masked
            let rowMax: [Float] = [-.infinity, -.infinity, 5, 1e3]                     // row 3: max does not move
            let rowSum: [Float] = [0, 0, 2, 7]
            let s = scores.copy()
            var mx = rowMax, sum = rowSum, alpha = [Float](repeating: .nan, count: m)
            mmattn_online_softmax_at(level, s.data, m, n, ld, &mx, &sum, &alpha)
            for r in 0..<m {
                let row = (0..<n).map { Double(scores.data[r * ld + $0]) }
                let new = max(Double(rowMax[r]), row.max()!)
                if new == -.infinity {
                    #expect(alpha[r] == 1 && mx[r] == rowMax[r] && sum[r] == rowSum[r], "level \(level) n \(n) row \(r)")
                    #expect((0..<n).allSatisfy { s.data[r * ld + $0] == 0 })
                    continue
                }
                // The difference is taken in Float, as the kernel (and PyTorch) takes it.
                let e = row.map { Foundation.exp(Double(Float($0) - Float(new))) }
                let a = Foundation.exp(Double(rowMax[r]) - new)
                for c in 0..<n {
                    // VMath.exp's polynomial: a few ulp (measured 7.4e-8 relative).
                    #expect(abs(Double(s.data[r * ld + c]) - e[c]) <= 1e-6 * max(e[c], 1e-30) + 1e-37, "level \(level) n \(n) row \(r) col \(c)")
                }
                #expect(abs(Double(alpha[r]) - a) <= 1e-6 * a + 1e-37)
                #expect(abs(Double(sum[r]) - (Double(rowSum[r]) * a + e.reduce(0, +))) <= 1e-5 * Double(sum[r]))
                #expect(Double(mx[r]) == new)
            }
        }
    }
}

/// The multi-input commands run their images, windows and clips as packed batches: each item
/// gets what it gets alone (images of different sizes in one batch included).
@Suite struct PackedModelBatchTests {
    // Measured 7.2e-7 (ViT), 1.4e-6 (Whisper), 1.0e-6 (AST): GEMM blocking differs with the row count.
    static let tolerance: Float = 1e-5

    @Test func vitImagesOfDifferentSizesInOneBatch() throws {
        let (folder, weights) = try fixtureModel("vit")
        let vit = try ViT(config: folder.config, weights: weights)
        var rng = TestRandom(seed: 51)
        let P = vit.config.patchSize, size = vit.config.imageSize
        let images = [rng.tensor([3, size.height, size.width]), rng.tensor([3, 2 * P, 3 * P]), rng.tensor([3, size.height, size.width])]
        let batch = try vit.forward(batch: images)
        for (image, hidden) in zip(images, batch) {
            expectClose(hidden, try vit.forward(image).lastHiddenState, tolerance: Self.tolerance, "ViT image \(image.shape)")
        }
    }

    @Test func whisperWindowsAndASTClipsInOneBatch() throws {
        var rng = TestRandom(seed: 52)
        let (wf, ww) = try fixtureModel("whisper")
        let whisper = try WhisperEncoder(config: wf.config, weights: ww)
        let windows = (0..<3).map { _ in rng.tensor([whisper.numMelBins, whisper.inputFrames]) }
        for (w, hidden) in zip(windows, try whisper.forward(windows: windows)) {
            expectClose(hidden, try whisper.forward(features: w), tolerance: Self.tolerance, "Whisper window")
        }
        let (af, aw) = try fixtureModel("ast")
        let ast = try AST(config: af.config, weights: aw)
        let clips = (0..<2).map { _ in rng.tensor([ast.maxLength, ast.numMelBins]) }
        for (c, hidden) in zip(clips, try ast.forward(batch: clips)) {
            expectClose(hidden, try ast.forward(features: c), tolerance: Self.tolerance, "AST clip")
        }
    }
}

/// A whole encoder with every new option (GQA, head width ≠ width/heads, per-head q/k RMSNorm,
/// a gated MLP, RMSNorm, a window layer, causal, rotary) on a packed batch: the fused kernel
/// gives what the scalar reference gives inside the same encoder.
@Suite struct EncoderOptionTests {
    @Test func encoderWithEveryOptionMatchesTheReferenceAttention() throws {
        var rng = TestRandom(seed: 53)
        let D = 16, H = 4, G = 2, dh = 6, I = 20
        func rms(_ n: Int) -> RMSNorm { RMSNorm(weight: rng.tensor([n]), eps: 1e-6) }
        func layer(_ mask: AttentionMask) -> EncoderLayer {
            EncoderLayer(attentionNorm: .rms(rms(D)),
                         projections: [Linear(weight: rng.tensor([H * dh, D]), bias: nil),
                                       Linear(weight: rng.tensor([2 * G * dh, D]), bias: rng.tensor([2 * G * dh]))],
                         queryNorm: rms(dh), keyNorm: rms(dh),
                         attentionOutput: Linear(weight: rng.tensor([D, H * dh]), bias: nil),
                         mlpNorm: .rms(rms(D)),
                         intermediate: [Linear(weight: rng.tensor([2 * I, D]), bias: nil)],
                         output: Linear(weight: rng.tensor([D, I]), bias: nil), mask: mask)
        }
        let config = EncoderConfig(hiddenSize: D, numHeads: H, keyValueHeads: G, headDim: dh, intermediateSize: I,
                                   layerNormEps: 1e-6, activation: .silu, normPlacement: .pre, mlp: .gated,
                                   rotary: Rotary(headDim: dh, base: 1e6), causal: true)
        let encoder = Encoder(config: config, layers: [layer(.none), layer(AttentionMask(window: 5))])
        let lengths = [9, 1, 70]
        let x = rng.tensor([lengths.reduce(0, +), D])
        let layout = SequenceLayout.packed(lengths: lengths)
        let fast = try encoder(x, layout: layout).lastHiddenState
        let slow = try encoder(x, layout: layout, options: EncoderOptions(referenceAttention: true)).lastHiddenState
        // Measured 5.7e-6 on both checks (random weights give activations in the tens).
        expectClose(fast, slow, tolerance: 5e-5, "encoder with every option")
        // Each sequence alone gives its rows of the packed run.
        var row = 0
        for n in lengths {
            let alone = try encoder(x.rows(row..<(row + n))).lastHiddenState
            expectClose(alone, fast.rows(row..<(row + n)), tolerance: 5e-5, "sequence of \(n) alone")
            row += n
        }
    }
}

/// A causal decoder run token by token through a key/value cache gives, row for row, what one
/// pass over the whole sequence gives; layers with cross-attention see the memory either way.
@Suite struct DecoderCacheTests {
    static func decoder(cross: Bool) -> Encoder {
        var rng = TestRandom(seed: 53)
        let D = 16, I = 24
        func linear(_ o: Int, _ i: Int, bias: Bool = true) -> Linear {
            Linear(weight: rng.tensor([o, i], scale: 0.3), bias: bias ? rng.tensor([o], scale: 0.1) : nil)
        }
        func norm() -> LayerNorm {
            let weight = rng.tensor([D], scale: 0.2)  // [D], around 1
            for i in 0..<D { weight.data[i] += 1 }
            return LayerNorm(weight: weight, bias: rng.tensor([D], scale: 0.1), eps: 1e-5)
        }
        let config = EncoderConfig(hiddenSize: D, numHeads: 4, intermediateSize: I, layerNormEps: 1e-5, activation: .gelu,
                                   normPlacement: .pre, causal: true)
        return Encoder(config: config, layers: (0..<2).map { _ in
            EncoderLayer(attentionNorm: norm(), query: linear(D, D), key: linear(D, D, bias: false), value: linear(D, D),
                         attentionOutput: linear(D, D),
                         crossAttention: cross ? CrossAttention(norm: .layerNorm(norm()), query: linear(D, D), key: linear(D, D, bias: false),
                                                                value: linear(D, D), output: linear(D, D)) : nil,
                         mlpNorm: norm(), intermediate: linear(I, D), output: linear(D, I))
        })
    }

    @Test(arguments: [false, true])
    func stepsEqualOnePass(cross: Bool) throws {
        let encoder = Self.decoder(cross: cross)
        var rng = TestRandom(seed: 59)
        let T = 9, D = 16, B = 2
        let x = rng.tensor([B, T, D])                      // [B, T, D]
        let memory = cross ? encoder.crossMemory(rng.tensor([B, 30, D])) : nil
        let whole = try encoder(x, memory: memory).lastHiddenState  // [B, T, D]
        let cache = KeyValueCache(config: encoder.config, layers: 2, batch: B, capacity: 12)
        // A prefill of 4 positions, then one at a time.
        var t = 0
        for n in [4, 1, 1, 1, 1, 1] {
            let part = Tensor(zeros: [B, n, D])  // positions t..<t+n of each sequence
            for b in 0..<B { (part.data + b * n * D).update(from: x.pointer + (b * T + t) * D, count: n * D) }
            let out = try encoder(part, memory: memory, cache: cache).lastHiddenState
            var worst: Float = 0
            for b in 0..<B {
                for i in 0..<(n * D) { worst = max(worst, abs(out.data[b * n * D + i] - whole.data[(b * T + t) * D + i])) }
            }
            #expect(worst <= 2e-6)  // measured 4.8e-7
            t += n
        }
        #expect(cache.length == T)
        // A step past the capacity is refused before it runs.
        #expect(throws: MMAttnError.self) { try encoder(rng.tensor([B, 4, D]), memory: memory, cache: cache) }
    }

    @Test func decoderLayersNeedTheirMemory() {
        let encoder = Self.decoder(cross: true)
        #expect(throws: MMAttnError.self) { try encoder(Tensor(zeros: [1, 3, 16])) }
    }
}
