import Foundation
import Testing
@testable import MMAttn

/// Deterministic pseudo-random numbers for kernel tests.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E3779B97F4A7C15 | 1 }
    mutating func next() -> Float {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return Float(state % 2_000_001) / 1_000_000 - 1
    }
    mutating func tensor(_ shape: [Int], scale: Float = 1) -> Tensor {
        let t = Tensor(zeros: shape)
        for i in 0..<t.count { t.data[i] = next() * scale }
        return t
    }
}

func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a.data[i] - b.data[i])) }
    return m
}

@Suite struct CoreTests {
    @Test func vectorMathMatchesLibm() {
        var worstExp: Float = 0, worstErf: Float = 0, worstTanh: Float = 0
        var x: Float = -20
        while x < 20 {
            worstExp = max(worstExp, abs(VMath.exp(x) - Foundation.exp(x)) / Foundation.exp(x))
            worstErf = max(worstErf, abs(VMath.erf(x) - Foundation.erf(x)))
            worstTanh = max(worstTanh, abs(VMath.tanh(x) - Foundation.tanh(x)))
            x += 0.01
        }
        #expect(worstExp < 3e-7)
        #expect(worstErf < 5e-7)  // 1.5e-7 from the approximation, the rest float rounding
        #expect(worstTanh < 3e-7)
        #expect(VMath.exp(-.infinity) == 0)
    }

    @Test func activationsMatchDefinitions() {
        let xs: [Float] = (0..<37).map { Float($0) / 4 - 4.5 }
        for act in Activation.allCases {
            let t = Tensor(shape: [xs.count], values: xs)
            Kernels.activate(t.data, count: t.count, act)
            for (i, x) in xs.enumerated() {
                let d = Double(x)
                let expected: Double
                switch act {
                case .gelu: expected = 0.5 * d * (1 + Foundation.erf(d / 2.0.squareRoot()))
                case .geluTanh: expected = 0.5 * d * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)))
                case .quickGelu: expected = d / (1 + Foundation.exp(-1.702 * d))
                case .relu: expected = max(0, d)
                case .silu: expected = d / (1 + Foundation.exp(-d))
                }
                #expect(abs(Double(t.data[i]) - expected) < 1e-6, "\(act) at \(x)")
            }
        }
    }

    @Test func layerNormMatchesDefinition() {
        var rng = TestRandom(seed: 1)
        let x = rng.tensor([5, 24], scale: 3)
        let norm = LayerNorm(weight: rng.tensor([24]), bias: rng.tensor([24]), eps: 1e-5)
        let y = norm(x)
        for r in 0..<5 {
            let row = (0..<24).map { Double(x.data[r * 24 + $0]) }
            let mean = row.reduce(0, +) / 24
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 24
            for i in 0..<24 {
                let e = (row[i] - mean) / (variance + 1e-5).squareRoot() * Double(norm.weight.data[i]) + Double(norm.bias!.data[i])
                #expect(abs(Double(y.data[r * 24 + i]) - e) < 1e-5)
            }
        }
    }

    /// RMSNorm over rows and per head, and the gated MLP's act(a)·b, against their definitions.
    @Test func rmsNormAndGateMatchDefinitions() {
        var rng = TestRandom(seed: 8)
        let x = rng.tensor([3, 16], scale: 3), w = rng.tensor([8])
        let norm = RMSNorm(weight: w, eps: 1e-6)
        let y = x.copy()
        norm.applyPerHead(y.data, rows: 3, stride: 16, heads: 2)  // two heads of 8 per row
        for r in 0..<3 {
            for h in 0..<2 {
                let part = (0..<8).map { Double(x.data[r * 16 + h * 8 + $0]) }
                let rms = (part.map { $0 * $0 }.reduce(0, +) / 8 + 1e-6).squareRoot()
                for i in 0..<8 {
                    #expect(abs(Double(y.data[r * 16 + h * 8 + i]) - part[i] / rms * Double(w.data[i])) < 1e-5)
                }
            }
        }
        let gated = Tensor(zeros: [3, 8])
        let input = x.copy()
        Kernels.gate(input.data, rows: 3, width: 8, .silu, into: gated.data)
        for r in 0..<3 {
            for i in 0..<8 {
                let a = Double(x.data[r * 16 + i]), b = Double(x.data[r * 16 + 8 + i])
                #expect(abs(Double(gated.data[r * 8 + i]) - a / (1 + Foundation.exp(-a)) * b) < 1e-5)
            }
        }
    }

    @Test func linearMatchesDefinition() {
        var rng = TestRandom(seed: 2)
        let x = rng.tensor([3, 7]), w = rng.tensor([5, 7]), b = rng.tensor([5])
        let y = Linear(weight: w, bias: b)(x)
        #expect(y.shape == [3, 5])
        for r in 0..<3 {
            for o in 0..<5 {
                var e = b.data[o]
                for i in 0..<7 { e += x.data[r * 7 + i] * w.data[o * 7 + i] }
                #expect(abs(y.data[r * 5 + o] - e) < 1e-5)
            }
        }
    }

    /// A small random rotary encoder (width 16, 2 heads) for encoder-level tests.
    static func randomEncoder(layers: Int, rng: inout TestRandom) -> Encoder {
        let D = 16
        func layer() -> EncoderLayer {
            EncoderLayer(attentionNorm: LayerNorm(weight: rng.tensor([D]), bias: rng.tensor([D]), eps: 1e-5),
                         query: Linear(weight: rng.tensor([D, D]), bias: rng.tensor([D])),
                         key: Linear(weight: rng.tensor([D, D]), bias: rng.tensor([D])),
                         value: Linear(weight: rng.tensor([D, D]), bias: rng.tensor([D])),
                         attentionOutput: Linear(weight: rng.tensor([D, D]), bias: rng.tensor([D])),
                         mlpNorm: LayerNorm(weight: rng.tensor([D]), bias: rng.tensor([D]), eps: 1e-5),
                         intermediate: Linear(weight: rng.tensor([32, D]), bias: rng.tensor([32])),
                         output: Linear(weight: rng.tensor([D, 32]), bias: rng.tensor([D])))
        }
        let config = EncoderConfig(hiddenSize: D, numHeads: 2, intermediateSize: 32, layerNormEps: 1e-5,
                                   activation: .gelu, normPlacement: .pre, rotary: Rotary(headDim: 8))
        return Encoder(config: config, layers: (0..<layers).map { _ in layer() })
    }

    /// A padded batch gives each item exactly the outputs it gives alone (ESM batching relies on it).
    @Test func paddedBatchMatchesSingleRuns() throws {
        var rng = TestRandom(seed: 4)
        let D = 16
        let encoder = CoreTests.randomEncoder(layers: 2, rng: &rng)
        let batch = rng.tensor([2, 9, D])
        let together = try encoder(batch, layout: .padded(tokens: 9, lengths: [9, 5])).lastHiddenState
        let alone = try encoder(batch.rows(1..<2).sliceTokens(5)).lastHiddenState
        for t in 0..<5 {
            for d in 0..<D {
                // Same arithmetic up to GEMM blocking order: float rounding only.
                #expect(abs(together.data[(9 + t) * D + d] - alone.data[t * D + d]) < 1e-5)
            }
        }
    }

    /// Asking for some states keeps those and copies no others; they equal the full run's.
    @Test func encoderKeepsOnlyRequestedStates() throws {
        var rng = TestRandom(seed: 5)
        let encoder = CoreTests.randomEncoder(layers: 3, rng: &rng)
        let x = rng.tensor([1, 7, 16])
        let all = try encoder(x, options: EncoderOptions(hiddenStates: true))
        let some = try encoder(x, options: EncoderOptions(keptStates: [0, 2]))
        #expect(all.hiddenStates.count == 4)
        #expect(some.hiddenStates.isEmpty)
        #expect(Set(some.keptStates.keys) == [0, 2])
        for l in [0, 2] { #expect(maxAbsDiff(try #require(some.keptStates[l]), all.hiddenStates[l]) == 0) }
        #expect(maxAbsDiff(some.lastHiddenState, all.lastHiddenState) == 0)
    }

    /// Attention needs no memory that grows with T² unless a sink asks for the probabilities; maps
    /// past the limit, and sequences past `Encoder.maxTokens`, are refused before anything is
    /// allocated.
    @Test func attentionRefusalsAreDecidedBeforeAllocating() throws {
        var rng = TestRandom(seed: 6)
        let encoder = CoreTests.randomEncoder(layers: 1, rng: &rng)
        for (B, T) in [(1, 128), (4, 20_000), (1, 50_000)] {
            #expect(encoder.attentionBytes(batch: B, tokens: T, keepsProbabilities: false) == 0)
            #expect(encoder.attentionBytes(batch: B, tokens: T, keepsProbabilities: true) == Double(B * 2 * T * T * 4))
        }
        #expect(encoder.refusal(batch: 1, tokens: Encoder.maxTokens, keepsProbabilities: false) == nil)
        #expect(encoder.refusal(batch: 1, tokens: Encoder.maxTokens + 1, keepsProbabilities: false) != nil)
        // 50 000 tokens of maps for 2 heads are 20 GB.
        #expect(throws: MMAttnError.self) {
            _ = try encoder(Tensor(zeros: [1, 50_000, 16]), options: EncoderOptions(attentionSink: { _, _ in }))
        }
    }

    /// The probabilities buffer handed to an attention sink is reused across layers, but a sink
    /// that keeps a layer's tensor keeps that layer's values.
    @Test func keptAttentionProbabilitiesAreNotOverwritten() throws {
        var rng = TestRandom(seed: 7)
        let encoder = CoreTests.randomEncoder(layers: 3, rng: &rng)
        let x = rng.tensor([2, 6, 16])
        var copies: [[Float]] = [], kept: [Tensor] = []
        _ = try encoder(x, layout: .padded(tokens: 6, lengths: [6, 4]), options: EncoderOptions(attentionSink: { _, probs in
            copies.append(probs.values)
            kept.append(probs)
        }))
        for (copy, tensor) in zip(copies, kept) { #expect(copy == tensor.values) }
        // Padded rows and masked keys are zeros even in a reused, uninitialised buffer.
        let last = try #require(kept.last)  // [2, 2, 6, 6]
        for h in 0..<2 {
            for i in 0..<6 {
                for j in 0..<6 where i >= 4 || j >= 4 { #expect(last.data[((2 + h) * 6 + i) * 6 + j] == 0) }
            }
        }
    }

    /// The ESM contact reduction matches its definition, Σₕ wₕ·APC(Aₕ + Aₕᵀ) over the residue
    /// block, and gives the same bits at any thread count (rows are reduced in fixed chunks).
    @Test func contactReductionMatchesDefinitionAtAnyThreadCount() throws {
        var rng = TestRandom(seed: 9)
        let H = 3, T = 72, L = 70  // three row chunks, the last one partial
        let probs = rng.tensor([H, T, T])  // [H, T, T]; any values will do for the algebra
        for i in 0..<probs.count { probs.data[i] = abs(probs.data[i]) }
        let weights = rng.tensor([H])
        func reduce(threads: Int) -> Tensor {
            let out = Tensor(zeros: [L, L])
            let scratch = ESM2.ContactScratch(residues: L + 5, heads: H)  // sized for a longer record
            Threads.withCount(threads) {
                ESM2.accumulateContactFeatures(probs.data, tokens: T, length: L + 2, weights: weights.data, into: out, scratch: scratch)
            }
            return out
        }
        let one = reduce(threads: 1), three = reduce(threads: 3)
        #expect(maxAbsDiff(one, three) == 0)
        var worst = 0.0
        var expected = [Double](repeating: 0, count: L * L)
        for h in 0..<H {
            func a(_ i: Int, _ j: Int) -> Double { Double(probs.data[(h * T + i + 1) * T + j + 1]) }
            let r = (0..<L).map { i in (0..<L).reduce(0.0) { $0 + a(i, $1) + a($1, i) } }
            let total = r.reduce(0, +)
            for i in 0..<L {
                for j in 0..<L { expected[i * L + j] += Double(weights.data[h]) * (a(i, j) + a(j, i) - r[i] * r[j] / total) }
            }
        }
        for i in 0..<(L * L) { worst = max(worst, abs(Double(one.data[i]) - expected[i])) }
        #expect(worst < 1e-4)
    }

    /// Linear with and without bias, split over several threads, matches the definition.
    @Test func linearSplitOverThreadsMatchesDefinition() {
        var rng = TestRandom(seed: 8)
        let x = rng.tensor([64, 40]), w = rng.tensor([70, 40]), b = rng.tensor([70])
        for bias in [b, nil] {
            let y = Threads.withCount(3) { Linear(weight: w, bias: bias)(x) }  // [64, 70]
            var worst: Float = 0
            for r in 0..<64 {
                for o in 0..<70 {
                    var e = bias?.data[o] ?? 0
                    for i in 0..<40 { e += x.data[r * 40 + i] * w.data[o * 40 + i] }
                    worst = max(worst, abs(y.data[r * 70 + o] - e))
                }
            }
            #expect(worst < 1e-4)
        }
    }

    /// Configuring BLAS threading after the first BLAS call changes nothing and says so.
    @Test func blasConfigurationIsFixedByFirstUse() {
        let x = Tensor(shape: [2], values: [1, 2]), y = Tensor(zeros: [2])
        Kernels.add(x.data, into: y.data, count: 2)
        #expect(BLAS.configure(threading: .leaveAsIs) == false)
        #expect(BLAS.threading == .singleThreadedCalls)
    }
}

extension Tensor {
    /// The first `n` tokens of a [1, T, D] tensor.
    func sliceTokens(_ n: Int) -> Tensor {
        let d = shape[2]
        let out = Tensor(zeros: [1, n, d])
        out.data.update(from: data, count: n * d)
        return out
    }
}
