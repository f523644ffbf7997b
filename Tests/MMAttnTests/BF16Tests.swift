import CKernels
import Foundation
import Testing
@testable import MMAttn

/// The value x rounds to in bf16 (nearest even), as a Float: the reference the kernels are held to.
private func bf16(_ x: Float) -> Float {
    let bits = x.bitPattern
    return Float(bitPattern: (bits &+ 0x7fff &+ ((bits >> 16) & 1)) & 0xffff_0000)
}

/// Cosine similarity and max abs difference of two tensors of one size.
func agreement(_ a: Tensor, _ b: Tensor) -> (cosine: Double, maxAbs: Float) {
    precondition(a.count == b.count)
    var dot = 0.0, na = 0.0, nb = 0.0
    var worst: Float = 0
    for i in 0..<a.count {
        let x = Double(a.pointer[i]), y = Double(b.pointer[i])
        dot += x * y; na += x * x; nb += y * y
        worst = max(worst, abs(a.pointer[i] - b.pointer[i]))
    }
    return (dot / max((na * nb).squareRoot(), .leastNonzeroMagnitude), worst)
}

private func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var g = SeededGenerator(state: seed)
    return Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -scale...scale, using: &g) })
}

/// The kernels themselves, where the CPU has AVX-512 BF16 (skipped elsewhere).
@Suite(.enabled(if: BF16.isAvailable, "this CPU has no AVX-512 BF16"))
struct BF16KernelTests {
    @Test func roundsToNearestEven() {
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: even is 1. 1 + 3·2⁻⁸ is halfway between
        // 1 + 2⁻⁷ (odd) and 1 + 2⁻⁶: even is the latter. Just above halfway rounds up.
        let values: [Float] = [1 + 0x1p-8, 1 + 3 * 0x1p-8, 1 + 0x1p-8 + 0x1p-20, -2.5, .infinity, .nan, 0x1p-130, 3, -0x1p100]
        var out = [UInt16](repeating: 0xffff, count: values.count + 1)
        values.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBufferPointer { mmattn_bf16_convert_rows(v.baseAddress!, values.count, 1, values.count, $0.baseAddress!, values.count + 1) }
        }
        let back = out.map { Float(bitPattern: UInt32($0) << 16) }
        #expect(back[0] == 1)
        #expect(back[1] == 1 + 0x1p-6)
        #expect(back[2] == 1 + 0x1p-7)
        #expect(back[3] == -2.5)
        #expect(back[4] == .infinity)
        #expect(back[5].isNaN)
        #expect(back[6] == 0, "the instruction flushes subnormals to zero")
        #expect(back[7] == 3 && back[8] == -0x1p100)
        #expect(out[9] == 0, "an odd row is padded with a zero")
    }

    /// C = alpha·A·B (+ C) against Double sums of the bf16-rounded inputs, at sizes that leave
    /// partial register tiles, partial panels, an odd depth and several depth blocks.
    @Test(arguments: [(1, 1, 1), (5, 3, 7), (6, 64, 64), (7, 65, 33), (13, 130, 257), (127, 70, 300), (20, 200, 600)])
    func productMatchesReference(_ shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let a = random([m, k], seed: 1), w = random([n, k], seed: 2), b = random([k, n], seed: 3)
        let lda = BF16.rowStride(k)
        var aBF = [UInt16](repeating: 0, count: m * lda)
        var fromRows = [UInt16](repeating: 0, count: mmattn_bf16_packed_count(n, k))
        var fromColumns = fromRows
        mmattn_bf16_convert_rows(a.pointer, k, m, k, &aBF, lda)
        mmattn_bf16_pack_rows(w.pointer, k, n, k, &fromRows)
        mmattn_bf16_pack_columns(b.pointer, n, k, n, &fromColumns)
        for (packed, element) in [(fromRows, { (p: Int, j: Int) in w.pointer[j * k + p] }),
                                  (fromColumns, { (p: Int, j: Int) in b.pointer[p * n + j] })] {
            let c = Tensor(shape: [m, n], values: [Float](repeating: 0.5, count: m * n))
            mmattn_bf16_gemm(m, n, k, 0.25, aBF, lda, packed, nil, c.data, n, 1)
            var worst = 0.0
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k { s += Double(bf16(a.pointer[i * k + p])) * Double(bf16(element(p, j))) }
                    worst = max(worst, abs(0.25 * s + 0.5 - Double(c.pointer[i * n + j])))
                }
            }
            // fp32 accumulation of k products of size ≤ 1: measured ≤ 1.33e-6 (k = 600).
            #expect(worst < 4e-6, "\(m)×\(n)×\(k): max abs difference \(worst)")
        }
    }

    /// Without accumulating, C = alpha·A·B + bias over several depth blocks (k > 512), and C =
    /// bias when k is 0.
    @Test func biasWithoutAccumulating() {
        for (m, n, k) in [(9, 70, 700), (3, 20, 0)] {
            let a = random([m, k], seed: 12), w = random([n, k], seed: 13), bias = random([n], seed: 14)
            let lda = max(BF16.rowStride(k), 2)
            var aBF = [UInt16](repeating: 0, count: m * lda)
            var packed = [UInt16](repeating: 0, count: max(1, mmattn_bf16_packed_count(n, k)))
            if k > 0 {
                mmattn_bf16_convert_rows(a.pointer, k, m, k, &aBF, lda)
                mmattn_bf16_pack_rows(w.pointer, k, n, k, &packed)
            }
            let c = Tensor(shape: [m, n], values: [Float](repeating: .nan, count: m * n))  // [m, n], overwritten
            mmattn_bf16_gemm(m, n, k, 2, aBF, lda, packed, bias.pointer, c.data, n, 0)
            var worst = 0.0
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k { s += Double(bf16(a.pointer[i * k + p])) * Double(bf16(w.pointer[j * k + p])) }
                    worst = max(worst, abs(2 * s + Double(bias.pointer[j]) - Double(c.pointer[i * n + j])))
                }
            }
            // fp32 sums of 700 products, doubled by alpha: measured 1.26e-5.
            #expect(worst < 4e-5, "\(m)×\(n)×\(k): max abs difference \(worst)")
        }
    }

    /// A bf16 Linear against the fp32 one: only the rounding of x and W to 8 significant bits.
    @Test func linearAgreesWithF32() {
        let w = random([200, 96], seed: 4, scale: 0.1), bias = random([200], seed: 5)
        let x = random([37, 96], seed: 6)
        let f32 = Linear(weight: w, bias: bias), bf16 = Linear(weight: w, bias: bias, dtype: .bf16)
        #expect(f32.dtype == .f32 && bf16.dtype == .bf16)
        let (cosine, worst) = agreement(f32(x), bf16(x))
        // Measured: cosine 0.9999994, max abs 0.0027 (sums of 96 products of ±1 × ±0.1).
        #expect(cosine > 0.99999 && worst < 0.008, "cosine \(cosine), max abs \(worst)")
        let gelu = Tensor(uninitialized: [37, 200])  // [37, 200]
        bf16.apply(x.pointer, rows: 37, into: gelu.data, activation: .gelu)
        let plain = bf16(x)
        Kernels.activate(plain.data, count: plain.count, .gelu)
        #expect(gelu.values == plain.values, "the fused activation is the activation of the product")
    }

    /// Parts applied side by side as one product (one rounding of x, panels of all parts split
    /// over the threads) give each part's own output, bit for bit, in its columns.
    @Test func partsAsOneProductEqualEachPart() {
        let x = random([23, 40], seed: 11)
        let parts = [(64, true), (70, false), (128, true)].enumerated().map { i, part in
            Linear(weight: random([part.0, 40], seed: UInt64(20 + i)), bias: part.1 ? random([part.0], seed: UInt64(30 + i)) : nil, dtype: .bf16)
        }
        let width = 64 + 70 + 128
        let together = Tensor(zeros: [23, width]), apart = Tensor(zeros: [23, width])  // [23, 262]
        Linear.apply(parts, x.pointer, rows: 23, into: together.data, stride: width, activation: .silu)
        var column = 0
        for part in parts {
            part.apply(x.pointer, rows: 23, into: apart.data + column, outStride: width, activation: .silu)
            column += part.outFeatures
        }
        #expect(together.values == apart.values)
    }

    /// The fused kernel on bf16 tiles against the Double reference, over every mask kind, grouped
    /// heads, cross-attention lengths and sequences longer than a key block.
    @Test func attentionAgreesWithReference() {
        let cases: [(SequenceLayout, SequenceLayout?, AttentionHeads, AttentionMask)] = [
            (.uniform(batch: 2, tokens: 300), nil, AttentionHeads(heads: 4, headDim: 64), .none),
            (.packed(lengths: [530, 40, 17]), nil, AttentionHeads(heads: 4, keyValueHeads: 2, headDim: 32), .causal),
            (.padded(tokens: 260, lengths: [260, 100]), nil, AttentionHeads(heads: 2, headDim: 80), AttentionMask(window: 64)),
            (.uniform(batch: 1, tokens: 1 + 2 * 4 * 4), nil, AttentionHeads(heads: 3, headDim: 16),
             AttentionMask(grid: GridMask(prefix: 1, frames: 2, height: 4, width: 4, sharing: [.time]))),
            (.uniform(batch: 2, tokens: 20), .uniform(batch: 2, tokens: 700), AttentionHeads(heads: 2, headDim: 64), .none),
        ]
        for (layout, keys, heads, mask) in cases {
            let kv = keys ?? layout
            let q = random([layout.rows, heads.queryStride], seed: 7)
            let k = random([kv.rows, heads.keyValueStride], seed: 8), v = random([kv.rows, heads.keyValueStride], seed: 9)
            let fast = Tensor(zeros: [layout.rows, heads.outputStride]), exact = Tensor(zeros: [layout.rows, heads.outputStride])
            let scale = 1 / Float(heads.headDim).squareRoot()
            Attention.compute(q: q.pointer, k: k.pointer, v: v.pointer, out: fast.data, layout: layout, keys: keys, heads: heads,
                              scale: scale, mask: mask, dtype: .bf16)
            Attention.reference(q: q.pointer, k: k.pointer, v: v.pointer, out: exact.data, layout: layout, keys: keys, heads: heads,
                                scale: scale, mask: mask)
            let (cosine, worst) = agreement(fast, exact)
            // Measured: cosine ≥ 0.999997, max abs ≤ 0.0021 (outputs are averages of ±1 values).
            #expect(cosine > 0.99999 && worst < 0.006, "\(layout.lengths) \(mask): cosine \(cosine), max abs \(worst)")
        }
    }
}

/// Every family's fixture model in bf16 against itself in f32, on the fixtures' real inputs
/// (random inputs for video). The bar for bf16 is cosine ≥ 0.999; these models measure ≥ 0.99997,
/// so the tests ask 0.9999. Each bound on the max abs difference (outputs reach ±3 to ±7) is about
/// three times the measured value, given beside it.
@Suite(.enabled(if: BF16.isAvailable, "this CPU has no AVX-512 BF16"))
struct BF16ModelTests {
    static let cat = Paths.fixture("images/cat.png")
    static let speech = Paths.fixture("audio/arctic_a0007.wav")
    static let sentences = ["A man is playing a guitar on the stage.", "Proteins fold into three-dimensional shapes.",
                            "short"]

    /// Run `output` in f32 and in bf16; check the bf16 model really runs bf16 and agrees.
    func expectAgreement(_ name: String, maxAbs bound: Float, _ output: (DType) throws -> Tensor,
                         sourceLocation: SourceLocation = #_sourceLocation) throws {
        let f32 = try output(.f32), bf16 = try output(.bf16)
        #expect(f32.shape == bf16.shape, "\(name)", sourceLocation: sourceLocation)
        let (cosine, worst) = agreement(f32, bf16)
        #expect(cosine >= 0.9999 && worst <= bound, "\(name): cosine \(cosine), max abs \(worst)", sourceLocation: sourceLocation)
    }

    @Test func imageModels() throws {
        let image = try PNGImage.decode(path: Self.cat)
        for (name, bound) in [("vit", Float(0.04)), ("deit", 0.045)] {  // measured 0.0137, 0.0145
            try expectAgreement(name, maxAbs: bound) { d in
                let encoder = try ImageEncoder(model: Paths.model(name), dtype: d)
                #expect(encoder.vit.encoder.dtype == d)
                return try encoder.lastHiddenState(image: image)
            }
        }
    }

    @Test func audioModels() throws {
        for (name, bound) in [("whisper", Float(0.05)), ("ast", 0.05)] {  // measured 0.0157, 0.0162
            try expectAgreement(name, maxAbs: bound) { d in
                try AudioEncoder(model: Paths.model(name), dtype: d).embed(path: Self.speech, pooling: .none)
            }
        }
    }

    @Test func proteinModel() throws {
        let sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEG"
        try expectAgreement("esm2", maxAbs: 0.06) { d in  // measured 0.0205
            let encoder = try ProteinEncoder(model: Paths.model("esm2"), dtype: d)
            let layers = encoder.esm.numLayers
            return try #require(try encoder.esm.forward(tokens: [encoder.alphabet.encode(sequence)], repr: [layers], contacts: false)
                                    .representations[layers])
        }
    }

    /// Measured max abs: BERT 0.0096, RoBERTa 0.0152, DistilBERT 0.0180, GPT-2 0.0150, ModernBERT
    /// 0.0473, Qwen3 0.0363.
    @Test(arguments: [("bert", Float(0.03)), ("roberta", 0.045), ("distilbert", 0.055), ("gpt2", 0.045),
                      ("modernbert", 0.15), ("qwen3-embedding", 0.11)])
    func textModels(_ model: (name: String, bound: Float)) throws {
        let name = model.name
        try expectAgreement(name, maxAbs: model.bound) { d in
            let encoder = try TextEncoder(model: Paths.model(name), dtype: d)
            let ids = try encoder.encode(Self.sentences).map { $0.ids }
            return try encoder.model.forward(ids: ids).lastHiddenState
        }
    }

    @Test(arguments: [("timesformer", Float(0.06)), ("videomae", 0.06)])  // measured 0.0190, 0.0198
    func videoModels(_ model: (name: String, bound: Float)) throws {
        let name = model.name
        try expectAgreement(name, maxAbs: model.bound) { d in
            let model = try VideoEncoder(model: Paths.model(name), dtype: d).backbone
            let clip = random([model.numFrames, model.numChannels, model.frameSize.height, model.frameSize.width], seed: 10)
            return try model.forward(clip, options: EncoderOptions()).lastHiddenState
        }
    }
}

/// `--dtype` through the command line.
@Suite struct BF16CLITests {
    static let cat = Paths.fixture("images/cat.png")

    /// Where bf16 cannot run (forced here with MMATTN_DISABLE_BF16), `--dtype bf16` warns in one
    /// line and gives the f32 output, byte for byte; `bench model` reports the dtype that ran.
    @Test func withoutBF16TheCommandsWarnOnceAndRunF32() throws {
        let off = ["MMATTN_DISABLE_BF16": "1"]
        let f32 = try CLI.run(["embed-image", Self.cat, "--model", Paths.model("vit"), "--json"])
        let fallback = try CLI.run(["embed-image", Self.cat, "--model", Paths.model("vit"), "--json", "--dtype", "bf16"], environment: off)
        #expect(f32.status == 0 && fallback.status == 0, "\(fallback.stderr)")
        #expect(fallback.stdout == f32.stdout)
        let warnings = fallback.stderr.split(separator: "\n").filter { $0.hasPrefix("warning: ") }
        #expect(warnings == ["warning: bf16: this CPU has no AVX-512 BF16 instructions (or MMATTN_DISABLE_BF16 is set); running in f32"])
        let bench = try CLI.run(["bench", "model", "--model", Paths.model("vit"), "--dtype", "bf16", "--runs", "1", "--json"], environment: off)
        #expect(bench.status == 0)
        #expect(try JSON.parse(Data(bench.stdout.utf8)).object?["dtype"]?.string == "f32", "\(bench.stderr)")
    }

    @Test func unknownDTypeIsAUsageError() throws {
        let r = try CLI.run(["embed-image", Self.cat, "--model", Paths.model("vit"), "--dtype", "f16"])
        #expect(r.status == 64 && r.stderr.contains("f32") && r.stderr.contains("bf16"), "\(r.stderr)")
    }

    /// Every model command runs in bf16 and says nothing about it; `bench model` reports bf16.
    @Test(.enabled(if: BF16.isAvailable, "this CPU has no AVX-512 BF16"))
    func everyModelCommandRunsBF16() throws {
        let speech = Paths.fixture("audio/arctic_a0007.wav"), fasta = Paths.fixture("protein/LuxC.faa")
        let runs: [[String]] = [
            ["classify-image", Self.cat, "--model", Paths.model("vit")],
            ["embed-image", Self.cat, "--model", Paths.model("deit")],
            ["embed-audio", speech, "--model", Paths.model("whisper")],
            ["classify-audio", speech, "--model", Paths.model("ast")],
            ["embed-protein", fasta, "--model", Paths.model("esm2"), "--quiet"],
            ["embed-text", "A cat sat on the mat.", "--model", Paths.model("st-bert-mean")],
            ["transcribe", speech, "--model", Paths.model("whisper-gen")],
            ["classify-video", Paths.fixture("video/pan.mp4"), "--model", Paths.model("videomae")],
            ["attention", Self.cat, "--model", Paths.model("vit"), "--output", CLI.tempDir() + "/maps.npy"],
        ]
        for arguments in runs {
            let r = try CLI.run(arguments + ["--dtype", "bf16"])
            #expect(r.status == 0 && !r.stderr.contains("warning: bf16"), "\(arguments[0]): \(r.stderr)")
        }
        let bench = try CLI.run(["bench", "model", "--model", Paths.model("esm2"), "--dtype", "bf16", "--seq", "20", "--runs", "1", "--json"])
        #expect(try JSON.parse(Data(bench.stdout.utf8)).object?["dtype"]?.string == "bf16", "\(bench.stderr)")
    }
}

extension BF16CLITests {
    /// The type is part of a run: a finished f32 output is not "done" for a bf16 run, which
    /// runs (and records its type) instead of leaving the f32 rows under a bf16 run's name.
    @Test(.enabled(if: BF16.isAvailable, "this CPU has no AVX-512 BF16"))
    func theDTypeIsPartOfTheRun() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = ["embed-protein", Paths.fixture("protein/LuxC.faa"), "--model", Paths.model("esm2"), "--quiet", "--output", dir + "/m.npy"]
        #expect(try CLI.run(args).status == 0)
        let f32 = try String(contentsOfFile: dir + "/m.ids.jsonl", encoding: .utf8)
        #expect(!f32.contains("\"dtype\""), "an f32 run is described as before")
        let bf16 = try CLI.run(args + ["--resume", "--dtype", "bf16"])
        #expect(bf16.status == 0 && !bf16.stderr.contains("already complete"), "\(bf16.stderr)")
        let ids = try String(contentsOfFile: dir + "/m.ids.jsonl", encoding: .utf8)
        #expect(ids.split(separator: "\n").first?.contains("\"dtype\": \"bf16\"") == true, "\(ids.prefix(400))")
        #expect(try CLI.run(args + ["--resume", "--dtype", "bf16"]).stderr.contains("already complete"))
    }
}

/// Real weights in bf16, where `Fixtures/large` has them (skipped otherwise): transcripts of the
/// real clips unchanged, sentence embeddings within the bar.
@Suite(.enabled(if: BF16.isAvailable, "this CPU has no AVX-512 BF16"))
struct BF16RealWeightsTests {
    @Test(.enabled(if: !WhisperRealWeightsTests.models.isEmpty, "no converted Whisper weights in Fixtures/large (see Fixtures/convert_ct2_whisper.py)"),
          arguments: WhisperRealWeightsTests.models)
    func transcriptsUnchanged(_ model: String) throws {
        let f32 = try Transcriber(model: Paths.fixture("large/\(model)"))
        let bf16 = try Transcriber(model: Paths.fixture("large/\(model)"), dtype: .bf16)
        for (name, path) in WhisperRealWeightsTests.clips {
            let file = Paths.fixture(path)
            let (a, b) = (try f32.transcribe(path: file), try bf16.transcribe(path: file))
            #expect(a.text == b.text, "\(model) \(name)")
            #expect(a.segments.flatMap(\.tokens) == b.segments.flatMap(\.tokens), "\(model) \(name): token ids")
        }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: SentenceEmbeddingTests.miniLM + "/model.safetensors"),
                   "needs Fixtures/large/all-MiniLM-L6-v2 (make_large.py)"))
    func miniLMSentenceEmbeddings() throws {
        let json = try JSON.load(contentsOf: Paths.reference("text/minilm/sentences.json"))
        let sentences = (json.object?["sentences"]?.array ?? []).compactMap(\.string)
        try #require(sentences.count == 16)
        let f32 = try TextEncoder(model: SentenceEmbeddingTests.miniLM).embed(sentences).vectors
        let bf16 = try TextEncoder(model: SentenceEmbeddingTests.miniLM, dtype: .bf16).embed(sentences).vectors
        for (i, (a, b)) in zip(f32, bf16).enumerated() {
            let (cosine, worst) = agreement(a, b)
            // Unit vectors of 384: measured cosine ≥ 0.99997, max abs ≤ 0.0013.
            #expect(cosine >= 0.9999 && worst < 0.004, "sentence \(i): cosine \(cosine), max abs \(worst)")
        }
    }
}
