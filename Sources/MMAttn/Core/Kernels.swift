import Foundation
import CBLAS
import CKernels

/// Activation functions by their `hidden_act` names in Hugging Face configs.
public enum Activation: String, Sendable, CaseIterable {
    /// Exact GELU, 0.5·x·(1 + erf(x/√2)) ("gelu").
    case gelu
    /// Tanh-approximated GELU ("gelu_new", "gelu_pytorch_tanh", "gelu_fast").
    case geluTanh
    /// x·sigmoid(1.702·x) ("quick_gelu").
    case quickGelu
    case relu
    /// x·sigmoid(x) ("silu", "swish").
    case silu

    /// Parse a config's `hidden_act` / `activation_function`.
    public init?(configName: String) {
        switch configName {
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "quick_gelu": self = .quickGelu
        case "relu": self = .relu
        case "silu", "swish": self = .silu
        default: return nil
        }
    }
}

extension Activation {
    /// The C kernel's code for this activation (ReLU needs none).
    var kernelKind: Int32? {
        switch self {
        case .gelu: Int32(MMATTN_GELU)
        case .geluTanh: Int32(MMATTN_GELU_TANH)
        case .quickGelu: Int32(MMATTN_QUICK_GELU)
        case .silu: Int32(MMATTN_SILU)
        case .relu: nil
        }
    }
}

/// Element kernels over raw buffers. All operate in place or into caller-owned memory.
public enum Kernels {
    /// Apply `activation` in place to `n` floats, split over the library's threads.
    public static func activate(_ x: UnsafeMutablePointer<Float>, count n: Int, _ activation: Activation) {
        Threads.parallelFor(n, grain: 1 << 15) { s, e in activateSerially(x + s, count: e - s, activation) }
    }

    /// Apply `activation` in place to `m` floats on the calling thread: the C kernel on AVX-512
    /// (16 lanes; these loops, compiled for baseline x86-64, run 4), else the loops below.
    @inline(__always)
    static func activateSerially(_ p: UnsafeMutablePointer<Float>, count m: Int, _ activation: Activation) {
        if let kind = activation.kernelKind, mmattn_activate(kind, p, m) != 0 { return }
        switch activation {
        case .gelu: for i in 0..<m { let v = p[i]; p[i] = 0.5 * v * (1 + VMath.erf(v * 0.7071067811865476)) }
        case .geluTanh:
            for i in 0..<m {
                let v = p[i]
                p[i] = 0.5 * v * (1 + VMath.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
            }
        case .quickGelu: for i in 0..<m { let v = p[i]; p[i] = v / (1 + VMath.exp(-1.702 * v)) }
        case .relu: for i in 0..<m { p[i] = max(p[i], 0) }
        case .silu: for i in 0..<m { let v = p[i]; p[i] = v / (1 + VMath.exp(-v)) }
        }
    }

    /// Softmax of `n` floats in place. Entries equal to -infinity get probability 0; a row that is
    /// entirely -infinity becomes all zeros. Each pass is its own loop so that release builds
    /// vectorise it: the reductions keep eight partial results (a single running max or sum is a
    /// serial dependency that strict floating point forbids reordering).
    @inline(__always)
    static func softmax(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        let m = maximum(p, n)
        if m == -.infinity {
            p.update(repeating: 0, count: n)
            return
        }
        for i in 0..<n { p[i] = VMath.exp(p[i] - m) }
        let inv = 1 / sum(p, n)
        for i in 0..<n { p[i] *= inv }
    }

    /// The largest of `n` floats (−∞ when n is 0; NaNs are skipped), in eight lanes.
    @inline(__always)
    static func maximum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var m0 = -Float.infinity, m1 = m0, m2 = m0, m3 = m0, m4 = m0, m5 = m0, m6 = m0, m7 = m0
        let n8 = n & ~7
        var i = 0
        while i < n8 {
            m0 = max(m0, p[i]); m1 = max(m1, p[i + 1]); m2 = max(m2, p[i + 2]); m3 = max(m3, p[i + 3])
            m4 = max(m4, p[i + 4]); m5 = max(m5, p[i + 5]); m6 = max(m6, p[i + 6]); m7 = max(m7, p[i + 7])
            i += 8
        }
        while i < n { m0 = max(m0, p[i]); i += 1 }
        return max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
    }

    /// The sum of `n` floats, in eight lanes.
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0, s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
        let n8 = n & ~7
        var i = 0
        while i < n8 {
            s0 += p[i]; s1 += p[i + 1]; s2 += p[i + 2]; s3 += p[i + 3]
            s4 += p[i + 4]; s5 += p[i + 5]; s6 += p[i + 6]; s7 += p[i + 7]
            i += 8
        }
        while i < n { s0 += p[i]; i += 1 }
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    }

    /// out = act(x[0..<n])·x[n..<2n] for each row of `x` ([rows, 2n]): the gated MLPs (GeGLU,
    /// SwiGLU), with the activated half first as ModernBERT's `Wi` and Qwen's [gate; up] give it.
    public static func gate(_ x: UnsafeMutablePointer<Float>, rows: Int, width n: Int, _ activation: Activation,
                            into out: UnsafeMutablePointer<Float>) {
        Threads.parallelFor(rows, grain: 8) { s, e in
            for r in s..<e {
                let a = x + r * 2 * n, g = a + n, o = out + r * n
                activateSerially(a, count: n, activation)
                for i in 0..<n { o[i] = a[i] * g[i] }
            }
        }
    }

    /// Σ f(p[i]) over `n` floats, accumulated in Double in eight lanes (one running Double sum is a
    /// serial chain of dependent adds, four cycles each, that cannot be vectorised).
    @inline(__always)
    static func sumInDouble(_ p: UnsafePointer<Float>, _ n: Int, _ f: (Float) -> Float) -> Double {
        var s0: Double = 0, s1: Double = 0, s2: Double = 0, s3: Double = 0
        var s4: Double = 0, s5: Double = 0, s6: Double = 0, s7: Double = 0
        let n8 = n & ~7
        var i = 0
        while i < n8 {
            s0 += Double(f(p[i])); s1 += Double(f(p[i + 1])); s2 += Double(f(p[i + 2])); s3 += Double(f(p[i + 3]))
            s4 += Double(f(p[i + 4])); s5 += Double(f(p[i + 5])); s6 += Double(f(p[i + 6])); s7 += Double(f(p[i + 7]))
            i += 8
        }
        while i < n { s0 += Double(f(p[i])); i += 1 }
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    }

    /// y += x, elementwise.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        BLAS.prepare()
        cblas_saxpy(Int32(n), 1, x, 1, y, 1)
    }
}

/// A fully connected layer in PyTorch's layout: y = x·Wᵀ + b.
public struct Linear: Sendable {
    public let weight: Tensor  // [out, in]
    public let bias: Tensor?   // [out]
    /// The weight packed for the bf16 kernel when the layer computes in bf16; `weight` is then
    /// not read by `apply`.
    public let packed: BF16Matrix?

    /// A layer computing in `dtype`: bf16 packs the weight once, here (where the CPU runs bf16,
    /// see `DType.runnable`; elsewhere the layer computes in f32).
    public init(weight: Tensor, bias: Tensor?, dtype: DType = .f32) {
        self.weight = weight
        self.bias = bias
        packed = dtype == .bf16 && BF16.isAvailable
            ? BF16Matrix(rows: weight.pointer, n: weight.shape[0], k: weight.shape[1]) : nil
        // The layer no longer reads the mapped fp32 pages: stop holding them (a tied embedding
        // table that is also read for lookups faults its rows in again from the file).
        if packed != nil { weight.storage.releaseResidentPages() }
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }
    /// The number type the layer computes in.
    public var dtype: DType { packed == nil ? .f32 : .bf16 }

    /// Up to this many rows are multiplied as matrix-vector products (see `apply`).
    static let vectorRows = 2

    /// Apply to `rows` rows of `x` ([rows, in]) writing `out` ([rows, out] at row stride
    /// `outStride`, default `out`), then `activation` on the result while it is in cache. `out`
    /// need not be initialised (every element of the written columns is overwritten).
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>,
                      outStride: Int? = nil, activation: Activation? = nil) {
        let ldo = outStride ?? outFeatures
        if packed != nil {
            Self.applyBF16([self], x, rows: rows, into: out, ldo: ldo, activation: activation)
            return
        }
        let n = outFeatures, k = inFeatures, bias = bias?.pointer
        // Each thread multiplies by a slice of the weight's rows (output columns, in multiples of the
        // GEMM kernel's 16-column unroll) with a single-threaded BLAS call, after broadcasting the
        // bias into its own columns, and activates those columns.
        let units = (n + 15) / 16
        let grain = max(1, (1 << 21) / max(rows * k * 16, 1))  // about 2 MFLOP per thread at least
        BLAS.prepare()
        Threads.parallelFor(units, grain: grain) { u0, u1 in
            let j0 = u0 * 16, j1 = min(u1 * 16, n)
            if let bias {
                for r in 0..<rows { (out + r * ldo + j0).update(from: bias + j0, count: j1 - j0) }
            }
            if rows <= Linear.vectorRows {
                // A few rows (a decoder step): matrix-vector products read the weight once per row
                // without packing it, which a GEMM does on every call. The output starts at zero
                // without a bias (some OpenBLAS sgemv kernels have read it despite beta 0).
                for r in 0..<rows {
                    if bias == nil { (out + r * ldo + j0).update(repeating: 0, count: j1 - j0) }
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(j1 - j0), Int32(k), 1, weight.pointer + j0 * k, Int32(k),
                                x + r * k, 1, bias == nil ? 0 : 1, out + r * ldo + j0, 1)
                }
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(j1 - j0), Int32(k),
                            1, x, Int32(k), weight.pointer + j0 * k, Int32(k), bias == nil ? 0 : 1, out + j0, Int32(ldo))
            }
            if let activation {
                for r in 0..<rows { Kernels.activateSerially(out + r * ldo + j0, count: j1 - j0, activation) }
            }
        }
    }

    /// Apply `parts` (layers of one input width) side by side: part p writes its columns of `out`
    /// ([rows, Σ out] at row stride `stride`), then `activation` on them. In bf16 the input is
    /// rounded once for all parts and their panels are split over the threads as one product.
    public static func apply(_ parts: [Linear], _ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>,
                             stride: Int, activation: Activation? = nil) {
        if parts.count > 1, parts.allSatisfy({ $0.packed != nil && $0.inFeatures == parts[0].inFeatures }) {
            applyBF16(parts, x, rows: rows, into: out, ldo: stride, activation: activation)
            return
        }
        var column = 0
        for part in parts {
            part.apply(x, rows: rows, into: out + column, outStride: stride, activation: activation)
            column += part.outFeatures
        }
    }

    /// `apply` in bf16 for bf16 `parts` of one input width: x rounded to bf16 once (shared by the
    /// threads), then each thread multiplies by its own panels of 64 output columns, counted over
    /// all parts (the kernel adds each part's bias as it stores them), and activates them. A few
    /// rows go through the same kernel (it streams each weight once).
    private static func applyBF16(_ parts: [Linear], _ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>,
                                  ldo: Int, activation: Activation?) {
        let k = parts[0].inFeatures, panel = BF16.panel
        let a = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, rows * BF16.rowStride(k)))  // [rows, k] bf16
        defer { a.deallocate() }
        BF16.convert(x, rows: rows, k: k, into: a)
        // Panels of all parts in order: (part, its first output column in `out`, its panel count).
        var firstPanel = [0], firstColumn = [0]
        for part in parts {
            firstPanel.append(firstPanel.last! + (part.outFeatures + panel - 1) / panel)
            firstColumn.append(firstColumn.last! + part.outFeatures)
        }
        let grain = max(1, (1 << 22) / max(rows * k * panel, 1))  // about 4 MFLOP per thread at least
        Threads.parallelFor(firstPanel.last!, grain: grain) { p0, p1 in
            for (i, part) in parts.enumerated() {
                let lo = max(p0, firstPanel[i]), hi = min(p1, firstPanel[i + 1])
                guard lo < hi, let packed = part.packed else { continue }
                let j0 = (lo - firstPanel[i]) * panel, j1 = min((hi - firstPanel[i]) * panel, part.outFeatures)
                let o = out + firstColumn[i]
                packed.multiply(a, rows: rows, columns: j0, j1, bias: part.bias?.pointer, into: o, ldc: ldo)
                if let activation {
                    for r in 0..<rows { Kernels.activateSerially(o + r * ldo + j0, count: j1 - j0, activation) }
                }
            }
        }
    }

    /// y = x·Wᵀ + b over the last axis of `x`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let rows = x.count / inFeatures
        let out = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])  // [..., out]
        apply(x.data, rows: rows, into: out.data)
        return out
    }
}
