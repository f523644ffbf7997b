import Foundation
import CBLAS

/// Which keys each query may attend to.
public enum AttentionMask: Sendable, Equatable {
    /// Every token attends to every token.
    case none
    /// Right-padded batch: item b has `lengths[b]` real tokens; later keys are masked and later
    /// queries produce zeros. A padded item gives exactly the outputs it gives alone.
    case keyLengths([Int])
    /// Token i attends to tokens 0...i.
    case causal
    /// Both: a right-padded batch of causal sequences (GPT-2 batches). Item b has `lengths[b]` real
    /// tokens, token i attends to tokens 0...i of its own item, later queries produce zeros.
    case causalKeyLengths([Int])

    /// Whether token i may attend only to tokens 0...i.
    public var isCausal: Bool {
        switch self {
        case .causal, .causalKeyLengths: return true
        case .none, .keyLengths: return false
        }
    }

    /// The same padding, with causal attention added (what an encoder with `causal` set runs).
    public var addingCausal: AttentionMask {
        switch self {
        case .none, .causal: return .causal
        case .keyLengths(let l), .causalKeyLengths(let l): return .causalKeyLengths(l)
        }
    }
}

/// Multi-head scaled dot-product attention over row-major projections, heads side by side in the
/// columns (as a fused `Linear` produces them): q, k, v and out are [B·T, H·dh].
public struct AttentionGeometry: Sendable {
    public let batch: Int
    public let tokens: Int
    public let heads: Int
    public let headDim: Int
    public var width: Int { heads * headDim }

    public init(batch: Int, tokens: Int, heads: Int, headDim: Int) {
        self.batch = batch
        self.tokens = tokens
        self.heads = heads
        self.headDim = headDim
    }

    /// Number of real tokens in batch item `b` under `mask`.
    func length(_ b: Int, _ mask: AttentionMask) -> Int {
        switch mask {
        case .keyLengths(let l), .causalKeyLengths(let l): return min(max(l[b], 0), tokens)
        case .none, .causal: return tokens
        }
    }
}

public enum Attention {
    /// Attention through GEMM: per (batch item, head) the scores S = α·Q·Kᵀ ([T, T]), a masked row
    /// softmax, then O = S·V. Padding rows and columns are never computed. `probs`, when given,
    /// receives the probabilities, [B, H, T, T] (zeros where masked; it need not be initialised),
    /// and the scores are computed in place there; otherwise each worker has one [T, T] scratch
    /// matrix, and `scoreWorkers` bounds how many run at once.
    public static func multiHead(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                 out: UnsafeMutablePointer<Float>, geometry g: AttentionGeometry, scale: Float,
                                 mask: AttentionMask, probs: UnsafeMutablePointer<Float>? = nil) {
        let T = g.tokens, D = g.width, dh = g.headDim
        let jobs = g.batch * g.heads
        let workers = probs == nil ? scoreWorkers(tokens: T, jobs: jobs) : min(Threads.count, jobs)
        BLAS.prepare()  // heads run in parallel on the library's threads
        Threads.forEachWorker(workers) { w in
            let scores = probs == nil ? UnsafeMutablePointer<Float>.allocate(capacity: T * T) : nil  // [T, T]
            defer { scores?.deallocate() }
            var job = w
            while job < jobs {
                let b = job / g.heads, h = job % g.heads
                let n = g.length(b, mask)
                let base = b * T * D + h * dh
                let s = probs.map { $0 + job * T * T } ?? scores!  // [T, T], rows and columns 0..<n used
                if probs != nil && n < T {
                    // Masked keys of real queries, then the padding queries' rows.
                    for i in 0..<n { (s + i * T + n).update(repeating: 0, count: T - n) }
                    (s + n * T).update(repeating: 0, count: (T - n) * T)
                }
                if n > 0 {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(dh),
                                scale, q + base, Int32(D), k + base, Int32(D), 0, s, Int32(T))
                    if mask.isCausal {
                        for i in 0..<n { (s + i * T + i + 1).update(repeating: -.infinity, count: n - i - 1) }
                    }
                    for i in 0..<n { Kernels.softmax(s + i * T, n) }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(dh), Int32(n),
                                1, s, Int32(T), v + base, Int32(D), 0, out + base, Int32(D))
                }
                for i in n..<T { (out + base + i * D).update(repeating: 0, count: dh) }
                job += workers
            }
        }
    }

    /// How many (item, head) pairs `multiHead` runs at once when each needs its own [T, T] score
    /// matrix: one per thread, but no more than fit in `Encoder.attentionMemoryLimit`. Long inputs
    /// thus run with fewer threads rather than needing memory that grows with the core count.
    static func scoreWorkers(tokens T: Int, jobs: Int) -> Int {
        let fit = Int(Encoder.attentionMemoryLimit / (Double(T) * Double(T) * 4))
        return max(1, min(Threads.count, jobs, fit))
    }

    /// The textbook definition with scalar loops, kept as the reference the fast kernels are tested against.
    public static func reference(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                 out: UnsafeMutablePointer<Float>, geometry g: AttentionGeometry, scale: Float,
                                 mask: AttentionMask, probs: UnsafeMutablePointer<Float>? = nil) {
        let T = g.tokens, D = g.width, dh = g.headDim, causal = mask.isCausal
        var row = [Double](repeating: 0, count: T)
        for b in 0..<g.batch {
            let n = g.length(b, mask)
            for h in 0..<g.heads {
                for i in 0..<T {
                    let o = out + (b * T + i) * D + h * dh
                    for d in 0..<dh { o[d] = 0 }
                    if let probs { for j in 0..<T { probs[((b * g.heads + h) * T + i) * T + j] = 0 } }
                    if i >= n { continue }
                    var m = -Double.infinity
                    for j in 0..<T {
                        let allowed = j < n && !(causal && j > i)
                        if !allowed { row[j] = -.infinity; continue }
                        var dot = 0.0
                        for d in 0..<dh { dot += Double(q[(b * T + i) * D + h * dh + d]) * Double(k[(b * T + j) * D + h * dh + d]) }
                        row[j] = dot * Double(scale)
                        m = max(m, row[j])
                    }
                    var sum = 0.0
                    for j in 0..<T { row[j] = row[j] == -.infinity ? 0 : Foundation.exp(row[j] - m); sum += row[j] }
                    for j in 0..<T {
                        let p = row[j] / sum
                        if let probs { probs[((b * g.heads + h) * T + i) * T + j] = Float(p) }
                        for d in 0..<dh { o[d] += Float(p * Double(v[(b * T + j) * D + h * dh + d])) }
                    }
                }
            }
        }
    }
}

/// Rotary position embeddings in the rotate-half form (GPT-NeoX, ESM-2): for position t and pair
/// (i, i + dh/2), x is rotated by the angle t·θᵢ with θᵢ = base^(−2i/dh).
public struct Rotary: Sendable {
    public let headDim: Int
    /// The inverse frequency of each rotated pair, [dh/2].
    public let inverseFrequencies: [Float]

    /// Frequencies base^(−2i/dh), as transformers computes them.
    public init(headDim: Int, base: Float = 10000) {
        self.headDim = headDim
        inverseFrequencies = (0..<(headDim / 2)).map { i in 1 / Float(pow(Double(base), Double(Float(2 * i) / Float(headDim)))) }
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

    /// cos and sin tables for `tokens` positions, computed in Float as the reference does.
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

    /// Rotate every head of `q` and `k` ([B·T, H·dh] each, T = `tables.tokens`) in place.
    public func apply(q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, batch: Int, heads: Int, tables: Tables) {
        let half = headDim / 2, tokens = tables.tokens, width = heads * headDim
        tables.cos.withUnsafeBufferPointer { cp in
            tables.sin.withUnsafeBufferPointer { sp in
                Threads.parallelFor(batch * tokens, grain: 32) { start, end in
                    for r in start..<end {
                        let t = r % tokens
                        let cr = cp.baseAddress! + t * half, sr = sp.baseAddress! + t * half
                        for which in 0..<2 {
                            let x = which == 0 ? q : k
                            for h in 0..<heads {
                                let p = x + r * width + h * headDim
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
}
