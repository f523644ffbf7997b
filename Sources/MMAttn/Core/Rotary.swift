import Foundation

/// Rotary position embeddings in the rotate-half form (GPT-NeoX, ESM-2, ModernBERT, Qwen): for
/// position t and pair (i, i + dh/2), x is rotated by the angle t·θᵢ with θᵢ = base^(−2i/dh).
public struct Rotary: Sendable, Equatable {
    public let headDim: Int
    /// The inverse frequency of each rotated pair, [dh/2].
    public let inverseFrequencies: [Float]

    /// Frequencies base^(−2i/dh), as transformers computes them (in Float, from an int64 arange).
    public init(headDim: Int, base: Double = 10000) {
        self.headDim = headDim
        inverseFrequencies = (0..<(headDim / 2)).map { i in 1 / Float(pow(base, Double(Float(2 * i) / Float(headDim)))) }
    }

    /// Frequencies a checkpoint stores (`inv_freq`, which transformers uses instead of recomputing).
    public init(headDim: Int, inverseFrequencies: [Float]) {
        precondition(inverseFrequencies.count == headDim / 2, "\(inverseFrequencies.count) rotary frequencies for head size \(headDim)")
        self.headDim = headDim
        self.inverseFrequencies = inverseFrequencies
    }

    /// cos and sin for every position and frequency, computed once per forward pass.
    public struct Tables: Sendable {
        public let tokens: Int
        let cos: [Float]  // [T, dh/2]
        let sin: [Float]  // [T, dh/2]
    }

    /// cos and sin tables for positions 0..<tokens, computed in Float as the reference does.
    public func tables(tokens: Int) -> Tables {
        let half = headDim / 2
        var c = [Float](repeating: 0, count: tokens * half), s = c
        for i in 0..<half {
            let invFreq = inverseFrequencies[i]
            for t in 0..<tokens {
                let angle = Float(t) * invFreq
                c[t * half + i] = Foundation.cos(angle)
                s[t * half + i] = Foundation.sin(angle)
            }
        }
        return Tables(tokens: tokens, cos: c, sin: s)
    }

    /// Rotate `heads` heads of every row of `x` ([rows, ≥ heads·dh] at row stride `stride`) in
    /// place, row r by the angle of `positions[r]` (< `tables.tokens`).
    public func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, stride: Int, heads: Int,
                      positions: UnsafePointer<Int32>, tables: Tables) {
        let half = headDim / 2
        tables.cos.withUnsafeBufferPointer { cp in
            tables.sin.withUnsafeBufferPointer { sp in
                Threads.parallelFor(rows, grain: 32) { start, end in
                    for r in start..<end {
                        let t = Int(positions[r])
                        let cr = cp.baseAddress! + t * half, sr = sp.baseAddress! + t * half
                        for h in 0..<heads {
                            let p = x + r * stride + h * headDim
                            for i in 0..<half {
                                let x1 = p[i], x2 = p[i + half]
                                p[i] = x1 * cr[i] - x2 * sr[i]
                                p[i + half] = x2 * cr[i] + x1 * sr[i]
                            }
                        }
                    }
                }
            }
        }
    }
}
