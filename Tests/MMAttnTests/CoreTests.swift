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
                let e = (row[i] - mean) / (variance + 1e-5).squareRoot() * Double(norm.weight.data[i]) + Double(norm.bias.data[i])
                #expect(abs(Double(y.data[r * 24 + i]) - e) < 1e-5)
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

    @Test(arguments: [AttentionMask.none, .causal, .keyLengths([13, 6, 0])])
    func fastAttentionMatchesReference(mask: AttentionMask) {
        var rng = TestRandom(seed: 3)
        let g = AttentionGeometry(batch: 3, tokens: 13, heads: 4, headDim: 8)
        let q = rng.tensor([3 * 13, 32], scale: 2), k = rng.tensor([3 * 13, 32], scale: 2), v = rng.tensor([3 * 13, 32])
        let fast = Tensor(zeros: [3 * 13, 32]), slow = Tensor(zeros: [3 * 13, 32])
        let fastP = Tensor(zeros: [3, 4, 13, 13]), slowP = Tensor(zeros: [3, 4, 13, 13])
        Attention.multiHead(q: q.data, k: k.data, v: v.data, out: fast.data, geometry: g, scale: 0.35, mask: mask, probs: fastP.data)
        Attention.reference(q: q.data, k: k.data, v: v.data, out: slow.data, geometry: g, scale: 0.35, mask: mask, probs: slowP.data)
        #expect(maxAbsDiff(fast, slow) < 1e-5)
        #expect(maxAbsDiff(fastP, slowP) < 1e-6)
    }

    /// A padded batch gives each item exactly the outputs it gives alone (ESM batching relies on it).
    @Test func paddedBatchMatchesSingleRuns() throws {
        var rng = TestRandom(seed: 4)
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
        let encoder = Encoder(config: config, layers: [layer(), layer()])
        let batch = rng.tensor([2, 9, D])
        let together = try encoder(batch, mask: .keyLengths([9, 5])).lastHiddenState
        let alone = try encoder(batch.rows(1..<2).sliceTokens(5)).lastHiddenState
        for t in 0..<5 {
            for d in 0..<D {
                // Same arithmetic up to GEMM blocking order: float rounding only.
                #expect(abs(together.data[(9 + t) * D + d] - alone.data[t * D + d]) < 1e-5)
            }
        }
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
