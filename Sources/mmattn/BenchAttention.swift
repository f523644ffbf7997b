import ArgumentParser
import CBLAS
import Foundation
import MMAttn

/// `bench attention`: the fused kernel at each length, against this run's sgemm rate and the
/// materialising kernel it replaced (one T×T score matrix per head between two GEMMs).
struct BenchAttention: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "The fused attention kernel per length: ms, GFLOP/s, extra memory, against sgemm and a naive kernel.",
        usage: """
        mmattn bench attention [--seq <T,...>] [--heads <H>] [--kv-heads <G>]
               [--head-dim <D>] [--causal] [--window <W>] [--threads <N>]
               [--runs <n>] [--json]
        """,
        discussion: """
        One sequence of each length with H query heads of width D (random values). FLOPs are \
        counted as 4·T²·D·H, halved for --causal, 4·T·W·D·H for a window of W. `sgemm_gflops` is \
        a 2048³ GEMM split over the same threads, measured in the same run. `naive_gflops` is the \
        materialising kernel (a T×T score matrix per head, a GEMM, a softmax, a GEMM), run where \
        its matrices fit in 1 GB (10⁹ bytes); null elsewhere. `extra_bytes` is what the kernel allocates \
        besides its inputs and output: one tile per thread and its job list.

          swift build -c release
          .build/release/mmattn bench attention --seq 197,1024 --causal
          .build/release/mmattn bench attention --seq 4096 --heads 16 --kv-heads 8 --json
        """
    )
    @Option(help: ArgumentHelp("Sequence lengths, comma-separated.", valueName: "T,..."))
    var seq = "128,256,512,1024,2048,4096,8192,16384"
    @Option(help: "Query heads.") var heads = 12
    @Option(name: .customLong("kv-heads"), help: "Key/value heads (fewer than --heads: grouped-query attention; default: as many).")
    var kvHeads: Int?
    @Option(name: .customLong("head-dim"), help: "Width of each head.") var headDim = 64
    @Flag(help: "Causal attention (token i sees tokens 0...i).") var causal = false
    @Option(help: "Sliding window of W keys (with --causal: i−W+1...i; without: |i−j| ≤ W/2).") var window: Int?
    @Option(help: "Threads (default: all cores, or MMATTN_NUM_THREADS).") var threads: Int?
    @Option(help: "Timed repetitions per length (fewer for long ones: at least 1, about 2 s each).") var runs = 10
    @Flag(help: "Print one JSON object.") var json = false

    struct Result: Encodable {
        let seq: Int
        let causal: Bool
        let ms: Double
        let gflops: Double
        let extra_bytes: Int
        let naive_gflops: Double?

        enum CodingKeys: String, CodingKey { case seq, causal, ms, gflops, extra_bytes, naive_gflops }

        /// As synthesised, except that a missing naive figure is written as null, not left out.
        func encode(to encoder: any Swift.Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(seq, forKey: .seq)
            try c.encode(causal, forKey: .causal)
            try c.encode(ms, forKey: .ms)
            try c.encode(gflops, forKey: .gflops)
            try c.encode(extra_bytes, forKey: .extra_bytes)
            try c.encode(naive_gflops, forKey: .naive_gflops)
        }
    }

    struct Report: Encodable {
        let sgemm_gflops: Double
        let results: [Result]
    }

    func validate() throws {
        let lengths = seq.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !lengths.isEmpty, lengths.allSatisfy({ ($0 ?? 0) > 0 && ($0 ?? 0) <= 1 << 20 }) else {
            throw ValidationError("--seq takes positive lengths up to 1048576, comma-separated (for example 128,1024), not \"\(seq)\"")
        }
        guard heads > 0, heads <= 1024, headDim > 0, headDim <= 1024 else { throw ValidationError("--heads and --head-dim must be between 1 and 1024") }
        if let g = kvHeads, g <= 0 || heads % g != 0 {
            throw ValidationError("--kv-heads must divide --heads (\(heads)); \(g) does not")
        }
        if let w = window, w <= 0 { throw ValidationError("--window must be positive") }
        if let t = threads, t <= 0 { throw ValidationError("--threads must be positive") }
    }

    func run() throws {
        let lengths = seq.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        try Threads.withCount(threads ?? Threads.count) {
            let report = Report(sgemm_gflops: sgemmRate(), results: try lengths.map(measure))
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                let mask = [causal ? "causal" : nil, window.map { "window \($0)" }].compactMap { $0 }.joined(separator: ", ")
                print("attention: \(heads) heads (\(kvHeads ?? heads) key/value) of \(headDim), \(Threads.count) threads\(mask.isEmpty ? "" : ", \(mask)")")
                print(String(format: "sgemm: %.1f GFLOP/s", report.sgemm_gflops))
                for r in report.results {
                    let naive = r.naive_gflops.map { String(format: "naive %6.1f GFLOP/s", $0) } ?? "naive  (does not fit)"
                    print(String(format: "  T=%6d  %9.3f ms  %6.1f GFLOP/s (%3.0f%% of sgemm)  extra %7.1f KB  %@",
                                 r.seq, r.ms, r.gflops, 100 * r.gflops / report.sgemm_gflops, Double(r.extra_bytes) / 1024, naive as NSString))
                }
            }
        }
    }

    /// GFLOP/s of a 2048³ GEMM through the library's threaded Linear.
    func sgemmRate() -> Double {
        let n = 2048
        let x = randomTensor([n, n], seed: 11), w = randomTensor([n, n], seed: 12), y = Tensor(zeros: [n, n])
        let linear = Linear(weight: w, bias: nil)
        let s = medianSeconds(runs: 3) { linear.apply(x.data, rows: n, into: y.data) }
        return 2 * Double(n * n * n) / s / 1e9
    }

    func flops(_ T: Int) -> Double {
        let dh = Double(headDim), h = Double(heads), t = Double(T)
        if let w = window { return 4 * t * Double(min(w, T)) * dh * h }
        return 4 * t * t * dh * h / (causal ? 2 : 1)
    }

    func measure(_ T: Int) throws -> Result {
        let G = kvHeads ?? heads
        let q = randomTensor([T, heads * headDim], seed: 1), k = randomTensor([T, G * headDim], seed: 2)
        let v = randomTensor([T, G * headDim], seed: 3), out = Tensor(zeros: [T, heads * headDim])
        let shape = AttentionHeads(heads: heads, keyValueHeads: G, headDim: headDim)
        let mask = AttentionMask(causal: causal, window: window)
        let layout = SequenceLayout.uniform(batch: 1, tokens: T)
        let scale = 1 / Float(headDim).squareRoot()
        let workspace = AttentionWorkspace()
        func fused() { Attention.compute(q: q.data, k: k.data, v: v.data, out: out.data, layout: layout, heads: shape,
                                         scale: scale, mask: mask, workspace: workspace) }
        let once = timedOnce(fused).1  // also the warm-up
        let repeats = max(1, min(runs, Int(2 / max(once, 1e-6))))
        let seconds = (0..<repeats).map { _ in timedOnce(fused).1 }.sorted()[repeats / 2]
        let extra = Attention.scratchBytes(layout: layout, mask: mask, workers: workspace.workers)
        var naive: Double? = nil
        let naiveBytes = Double(T * T) * 4 * Double(Threads.count)
        if window == nil && naiveBytes <= 1e9 {
            let s = medianSeconds(runs: max(1, repeats / 2)) {
                naiveAttention(q: q.data, k: k.data, v: v.data, out: out.data, tokens: T, heads: shape, scale: scale)
            }
            naive = flops(T) / s / 1e9
        }
        return Result(seq: T, causal: causal, ms: seconds * 1e3, gflops: flops(T) / seconds / 1e9, extra_bytes: extra,
                      naive_gflops: naive)
    }

    /// The materialising kernel: per head a [T, T] score matrix (S = α·Q·Kᵀ, causal entries set to
    /// −∞), a row softmax, then O = S·V; heads spread over the threads, one matrix each.
    func naiveAttention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                        out: UnsafeMutablePointer<Float>, tokens T: Int, heads g: AttentionHeads, scale: Float) {
        let dh = g.headDim, group = g.heads / g.keyValueHeads
        let workers = min(Threads.count, g.heads)
        Threads.forEachWorker(workers) { w in
            let s = UnsafeMutablePointer<Float>.allocate(capacity: T * T)  // [T, T]
            defer { s.deallocate() }
            for h in stride(from: w, to: g.heads, by: workers) {
                let kv = (h / group) * dh
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(T), Int32(dh), scale,
                            q + h * dh, Int32(g.queryStride), k + kv, Int32(g.keyValueStride), 0, s, Int32(T))
                for i in 0..<T {
                    let row = s + i * T
                    if causal { (row + i + 1).update(repeating: -.infinity, count: T - i - 1) }
                    var m = -Float.infinity
                    for j in 0..<T { m = max(m, row[j]) }
                    var sum: Float = 0
                    for j in 0..<T { row[j] = Foundation.exp(row[j] - m); sum += row[j] }
                    for j in 0..<T { row[j] /= sum }
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(T), Int32(dh), Int32(T), 1,
                            s, Int32(T), v + kv, Int32(g.keyValueStride), 0, out + h * dh, Int32(g.outputStride))
            }
        }
    }
}
