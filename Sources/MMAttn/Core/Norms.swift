import Foundation

/// Layer normalisation over the last axis: (x − mean)/√(var + ε)·γ + β, statistics in Double.
public struct LayerNorm: Sendable {
    public let weight: Tensor  // [D]
    public let bias: Tensor?   // [D]; nil for the bias-free norms of ModernBERT
    public let eps: Float

    public init(weight: Tensor, bias: Tensor?, eps: Float) {
        self.weight = weight
        self.bias = bias
        self.eps = eps
    }

    public var width: Int { weight.count }

    /// Normalise one row of `width` floats into `o` (which may be `x`).
    @inline(__always)
    func row(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>) {
        let n = width, w = weight.pointer
        let mean = Float(Kernels.sumInDouble(x, n) { $0 } / Double(n))
        let variance = Float(Kernels.sumInDouble(x, n) { let d = $0 - mean; return d * d } / Double(n))
        let inv = 1 / (variance + eps).squareRoot()
        if let b = bias?.pointer {
            for i in 0..<n { o[i] = (x[i] - mean) * inv * w[i] + b[i] }
        } else {
            for i in 0..<n { o[i] = (x[i] - mean) * inv * w[i] }
        }
    }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        Norm.layerNorm(self).apply(x, rows: rows, width: width, into: out)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let out = Tensor(uninitialized: x.shape)  // [..., D]
        apply(x.data, rows: x.count / width, into: out.data)
        return out
    }
}

/// Root-mean-square normalisation (Llama, Qwen): x/√(mean(x²) + ε)·γ, statistics in Double.
public struct RMSNorm: Sendable {
    public let weight: Tensor  // [D]
    public let eps: Float

    public init(weight: Tensor, eps: Float) {
        self.weight = weight
        self.eps = eps
    }

    public var width: Int { weight.count }

    @inline(__always)
    func row(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>) {
        let n = width, w = weight.pointer
        let meanSquare = Float(Kernels.sumInDouble(x, n) { $0 * $0 } / Double(n))
        let inv = 1 / (meanSquare + eps).squareRoot()
        for i in 0..<n { o[i] = w[i] * (x[i] * inv) }
    }

    /// Normalise each of `heads` slices of `width` floats in every row of `x` ([rows, ≥ heads·width]
    /// at row stride `stride`) in place: Qwen3's per-head q and k norms.
    public func applyPerHead(_ x: UnsafeMutablePointer<Float>, rows: Int, stride: Int, heads: Int) {
        Threads.parallelFor(rows, grain: 16) { s, e in
            for r in s..<e {
                for h in 0..<heads {
                    let p = x + r * stride + h * width
                    row(p, p)
                }
            }
        }
        withExtendedLifetime(weight) {}
    }
}

/// The normalisations a layer may use before or after its sub-layers.
public enum Norm: Sendable {
    case layerNorm(LayerNorm)
    case rms(RMSNorm)
    /// No normalisation (ModernBERT's first layer has none before attention).
    case identity

    @inline(__always)
    func row(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, width: Int) {
        switch self {
        case .layerNorm(let n): n.row(x, o)
        case .rms(let n): n.row(x, o)
        case .identity: if UnsafePointer(o) != x { o.update(from: x, count: width) }
        }
    }

    /// Normalise each row of `x` ([rows, width]) into `out` (which may be `x`).
    public func apply(_ x: UnsafePointer<Float>, rows: Int, width: Int, into out: UnsafeMutablePointer<Float>) {
        Threads.parallelFor(rows, grain: 16) { s, e in
            for r in s..<e { row(x + r * width, out + r * width, width: width) }
        }
        withExtendedLifetime(self) {}
    }

    /// The residual step and the next normalisation in one pass over each row: x += delta, then
    /// out = norm(x). `out` may be `x` (post-LN: x = LN(x + f(x))).
    public func addThenApply(_ delta: UnsafePointer<Float>, to x: UnsafeMutablePointer<Float>, rows: Int, width: Int,
                             into out: UnsafeMutablePointer<Float>) {
        Threads.parallelFor(rows, grain: 16) { s, e in
            for r in s..<e {
                let xr = x + r * width, dr = delta + r * width
                for i in 0..<width { xr[i] += dr[i] }
                row(xr, out + r * width, width: width)
            }
        }
        withExtendedLifetime(self) {}
    }
}
