import ArgumentParser
import Foundation
import MMAttn

/// Benchmarks: each prints times and a ratio against a baseline measured in the same run.
/// Build in release mode (`swift build -c release`); debug builds are many times slower.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure kernels and models (run a release build).",
        discussion: """
        Example:
          swift build -c release
          .build/release/mmattn bench gemm
          .build/release/mmattn bench attention --tokens 197 --heads 12 --head-dim 64
          .build/release/mmattn bench image --model Fixtures/large/vit-base-patch16-224 Fixtures/images/cat.png
        """,
        subcommands: [BenchGemm.self, BenchAttention.self, BenchImage.self]
    )
}

/// Median wall time in seconds of `runs` calls after one warm-up call.
func medianSeconds(runs: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var times: [Double] = []
    for _ in 0..<max(runs, 1) {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return times.sorted()[times.count / 2]
}

func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var state = seed | 1
    let t = Tensor(zeros: shape)
    for i in 0..<t.count {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        t.data[i] = Float(Int(state % 2001) - 1000) / 1000
    }
    return t
}

struct BenchGemm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "GFLOP/s of the BLAS on the GEMM shapes of a ViT-B/16 layer, against a naive loop."
    )
    @Option(help: "Timed repetitions per shape.") var runs = 20

    func run() throws {
        let T = 197, D = 768, I = 3072
        let shapes: [(String, Int, Int, Int)] = [("q/k/v/out projection", T, D, D), ("mlp fc1", T, I, D), ("mlp fc2", T, D, I)]
        print("BLAS: \(Threads.blasDescription)")
        var peak = 0.0
        for (name, m, n, k) in shapes {
            let x = randomTensor([m, k], seed: 1), w = randomTensor([n, k], seed: 2)
            let linear = Linear(weight: w, bias: nil)
            let s = medianSeconds(runs: runs) { _ = linear(x) }
            let gflops = 2.0 * Double(m * n * k) / s / 1e9
            peak = max(peak, gflops)
            print(String(format: "  %-22@ [%d×%d]·[%d×%d]ᵀ  %7.3f ms  %6.1f GFLOP/s", name as NSString, m, k, n, k, s * 1e3, gflops))
        }
        // Baseline: the textbook triple loop on the first shape.
        let (m, n, k) = (T, D, D)
        let x = randomTensor([m, k], seed: 1), w = randomTensor([n, k], seed: 2), y = Tensor(zeros: [m, n])
        let naive = medianSeconds(runs: 1) {
            for i in 0..<m {
                for j in 0..<n {
                    var acc: Float = 0
                    for p in 0..<k { acc += x.data[i * k + p] * w.data[j * k + p] }
                    y.data[i * n + j] = acc
                }
            }
        }
        let naiveGflops = 2.0 * Double(m * n * k) / naive / 1e9
        print(String(format: "  naive loop (baseline)   %7.3f ms  %6.1f GFLOP/s  → BLAS is %.0f× faster", naive * 1e3, naiveGflops, peak / naiveGflops))
    }
}

struct BenchAttention: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "The attention kernel against the scalar reference, and its share of GEMM peak."
    )
    @Option var tokens = 197
    @Option var heads = 12
    @Option(name: .customLong("head-dim")) var headDim = 64
    @Option(help: "Timed repetitions.") var runs = 10

    func run() throws {
        let D = heads * headDim
        let q = randomTensor([tokens, D], seed: 1), k = randomTensor([tokens, D], seed: 2), v = randomTensor([tokens, D], seed: 3)
        let out = Tensor(zeros: [tokens, D])
        let g = AttentionGeometry(batch: 1, tokens: tokens, heads: heads, headDim: headDim)
        let scale = 1 / Float(headDim).squareRoot()
        let fast = medianSeconds(runs: runs) {
            Attention.multiHead(q: q.data, k: k.data, v: v.data, out: out.data, geometry: g, scale: scale, mask: .none)
        }
        let reference = medianSeconds(runs: 1) {
            Attention.reference(q: q.data, k: k.data, v: v.data, out: out.data, geometry: g, scale: scale, mask: .none)
        }
        let flops = 4.0 * Double(tokens * tokens * D)
        print(String(format: "attention T=%d H=%d dh=%d: kernel %.3f ms (%.1f GFLOP/s), reference %.3f ms → %.1f× faster",
                     tokens, heads, headDim, fast * 1e3, flops / fast / 1e9, reference * 1e3, reference / fast))
    }
}

struct BenchImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Load time and classify-image time of a ViT/DeiT model, and its GFLOP/s against this machine's GEMM peak."
    )
    @Argument var image: String
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Timed repetitions.") var runs = 10

    func run() throws {
        let loadStart = DispatchTime.now().uptimeNanoseconds
        let classifier = try ImageClassifier(model: modelOptions.model)
        let load = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
        let decode = medianSeconds(runs: runs) { _ = try? PNGImage.decode(path: image) }
        let decoded = try PNGImage.decode(path: image)
        let preprocess = try medianSeconds(runs: runs) { _ = try classifier.encoder.pixels(path: image) }
        let total = try medianSeconds(runs: runs) { _ = try classifier.logits(image: decoded) }
        let c = classifier.encoder.vit.config
        let D = c.encoder.hiddenSize, I = c.encoder.intermediateSize
        let T = classifier.encoder.vit.prefixTokens + (c.imageSize.height / c.patchSize) * (c.imageSize.width / c.patchSize)
        let flops = Double(c.numLayers) * (2.0 * Double(T * D) * Double(4 * D + 2 * I) + 4.0 * Double(T * T * D))
            + 2.0 * Double(T * D * 3 * c.patchSize * c.patchSize)
        // Baseline in the same run: BLAS on the layer's largest GEMM.
        let x = randomTensor([T, D], seed: 1), w = randomTensor([I, D], seed: 2)
        let gemm = medianSeconds(runs: runs) { _ = Linear(weight: w, bias: nil)(x) }
        let peak = 2.0 * Double(T * I * D) / gemm / 1e9
        print(String(format: "load %.1f ms; decode %.1f ms; decode+preprocess %.1f ms; forward+head %.1f ms", load * 1e3, decode * 1e3, preprocess * 1e3, total * 1e3))
        print(String(format: "model %.1f GFLOP/s = %.0f%% of this run's GEMM rate (%.1f GFLOP/s)", flops / total / 1e9, 100 * flops / total / 1e9 / peak, peak))
    }
}
