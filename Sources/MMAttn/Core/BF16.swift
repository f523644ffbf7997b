import CKernels

/// The number type a model computes in, chosen when it loads.
public enum DType: String, Sendable, CaseIterable {
    /// 32-bit floats throughout: the default, and where parity with the reference is defined.
    case f32
    /// bfloat16 weights (rounded once at load, to nearest even) and bf16 inputs to every
    /// Linear layer's GEMM and to attention's Q·Kᵀ and P·V, accumulated in fp32. Layer norms,
    /// softmax statistics, residuals, activations and outputs stay fp32. Needs AVX-512 BF16;
    /// see `runnable`.
    case bf16

    /// The type this CPU runs for a request of `self`: bf16 where the CPU has AVX-512 BF16
    /// (`BF16.isAvailable`), else f32 after one warning line on stderr.
    public var runnable: DType {
        guard self == .bf16, !BF16.isAvailable else { return self }
        BF16.unavailableWarning.fire()
        return .f32
    }
}

/// The bf16 kernels (C, AVX-512 BF16 `vdpbf16ps`, chosen at run time).
public enum BF16 {
    /// Whether this CPU and OS run the bf16 kernels, and the environment does not turn them off
    /// (`MMATTN_DISABLE_BF16=1` makes a CPU that has them behave like one that does not).
    public static var isAvailable: Bool { mmattn_bf16_available() != 0 }

    static let unavailableWarning = WarnOnce(
        "bf16: this CPU has no AVX-512 BF16 instructions (or MMATTN_DISABLE_BF16 is set); running in f32")

    /// Output columns per packed panel.
    static let panel = Int(MMATTN_BF16_PANEL)

    /// Elements of a bf16 row of depth k: k rounded up to even (the kernel reads k in pairs).
    @inline(__always)
    static func rowStride(_ k: Int) -> Int { (k + 1) & ~1 }

    /// Round `rows` rows of x ([rows, k]) to bf16 rows of stride `rowStride(k)` in `out`, split
    /// over the library's threads.
    static func convert(_ x: UnsafePointer<Float>, rows: Int, k: Int, into out: UnsafeMutablePointer<UInt16>) {
        let ldo = rowStride(k)
        Threads.parallelFor(rows, grain: max(1, (1 << 16) / max(k, 1))) { r0, r1 in
            mmattn_bf16_convert_rows(x + r0 * k, k, r1 - r0, k, out + r0 * ldo, ldo)
        }
    }
}

/// The right operand B of bf16 products C = A·B, packed once in the kernel's layout: a Linear
/// layer's weight W [n, k] for x·Wᵀ (`BF16Matrix(rows:)`). Half the bytes of the fp32 weight.
public final class BF16Matrix: @unchecked Sendable {
    // Safe to share: written only by the initializer, read-only afterwards.
    /// The packed elements, `mmattn_bf16_packed_count(n, k)` bf16 values.
    let base: UnsafeMutablePointer<UInt16>
    /// Output columns n.
    public let columns: Int
    /// Depth k (the inner dimension).
    public let depth: Int

    /// Pack the rows of w ([n, k], row major): the product is then A·wᵀ. Only where
    /// `BF16.isAvailable`. The panels are packed in parallel.
    public init(rows w: UnsafePointer<Float>, n: Int, k: Int) {
        precondition(BF16.isAvailable, "BF16Matrix needs AVX-512 BF16: check BF16.isAvailable (DType.runnable)")
        columns = n
        depth = k
        base = .allocate(capacity: max(1, mmattn_bf16_packed_count(n, k)))
        let panels = (n + BF16.panel - 1) / BF16.panel, stride = panelStride, base = base
        Threads.parallelFor(panels, grain: max(1, (1 << 18) / max(k * BF16.panel, 1))) { p0, p1 in
            let n0 = p0 * BF16.panel, n1 = min(n, p1 * BF16.panel)
            mmattn_bf16_pack_rows(w + n0 * k, k, n1 - n0, k, base + p0 * stride)
        }
    }

    /// Elements of one panel of 64 columns.
    var panelStride: Int { mmattn_bf16_packed_count(BF16.panel, depth) }

    /// Bytes held.
    public var bytes: Int { mmattn_bf16_packed_count(columns, depth) * 2 }

    /// C[m, columns j0..<j1] = A · B[:, j0..<j1] + bias[j0..<j1] (when given) on the calling
    /// thread: A is bf16 [m, depth] at row stride `BF16.rowStride(depth)`, j0 a multiple of 64,
    /// bias [columns]; C at row stride ldc need not be initialised.
    func multiply(_ a: UnsafePointer<UInt16>, rows m: Int, columns j0: Int, _ j1: Int, bias: UnsafePointer<Float>?,
                  into c: UnsafeMutablePointer<Float>, ldc: Int) {
        mmattn_bf16_gemm(m, j1 - j0, depth, 1, a, BF16.rowStride(depth), base + j0 / BF16.panel * panelStride,
                         bias.map { $0 + j0 }, c + j0, ldc, 0)
    }

    deinit { base.deallocate() }
}
