import ArgumentParser
import Foundation
import MMAttn

/// Benchmarks: most print times and a ratio against a baseline measured in the same run; `bench model`
/// prints a model's load time, forward time and peak memory (`--json` for scripts comparing builds).
/// Build in release mode (`swift build -c release`); debug builds are many times slower.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure kernels and models (run a release build).",
        discussion: """
        Build in release mode first (debug builds are many times slower); the \
        examples run as written from the repository root, on the small test \
        models in Fixtures/models:

          swift build -c release
          .build/release/mmattn bench gemm
          .build/release/mmattn bench attention --seq 197,1024 --causal
          .build/release/mmattn bench image --model Fixtures/models/vit \\
              Fixtures/images/cat.png
          .build/release/mmattn bench audio --model Fixtures/models/whisper \\
              Fixtures/audio/arctic_a0007.wav
          .build/release/mmattn bench protein --model Fixtures/models/esm2 \\
              --lengths 64,256 --fasta Fixtures/protein/LuxC.faa --contacts
          .build/release/mmattn bench tokenize \\
              --model Fixtures/tokenizers/gpt2-whisper --input Fixtures/text/corpus.txt
          .build/release/mmattn bench text --model Fixtures/models/bert --seq 32
          .build/release/mmattn bench model --model Fixtures/models/vit --json

        Real-size models with random weights (ViT-B/16, Whisper-base, ESM-2 \
        650M and 35M) are made by `python Fixtures/make_large.py` (needs torch \
        and transformers) in Fixtures/large, for example:

          .build/release/mmattn bench image \\
              --model Fixtures/large/vit-base-patch16-224 Fixtures/images/cat.png
          .build/release/mmattn bench protein \\
              --model Fixtures/large/esm2_t12_35M_UR50D --lengths 1022 --contacts
          .build/release/mmattn bench model \\
              --model Fixtures/large/whisper-base --runs 3 --json

        bench model times any model (load, forward, peak memory) on random \
        inputs of its shape and prints one JSON object with --json, for \
        scripts comparing builds.
        """,
        subcommands: [BenchGemm.self, BenchAttention.self, BenchImage.self, BenchAudio.self, BenchProtein.self, BenchText.self,
                      BenchTokenize.self, BenchModel.self, BenchVideo.self, BenchTranscribe.self]
    )
}

/// The middle value, or the mean of the two middle values of an even number of them.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted(), mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
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
    return median(times)
}

/// The result of `body` and its wall time in seconds (one run: load times).
func timedOnce<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let value = try body()
    return (value, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
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
        abstract: "GFLOP/s of Linear layers in f32 (the BLAS) and bf16 (own kernel) on model shapes, against a naive loop.",
        discussion: """
        Each shape is a Linear layer, x [m×k] times a weight [n×k] transposed, into
        an output allocated once, on the library's threads (MMATTN_NUM_THREADS):
        in f32 through the BLAS and,
        where the CPU has AVX-512 BF16, in bf16 (weights packed once, the input
        rounded to bf16 on every call, fp32 sums) with its ratio to f32. Rows:
        the three ViT-B/16 layer shapes, the first MLP layer of Whisper-base
        (30 s), ESM-2 650M (1,024 residues) and MiniLM (32 × 128 tokens), and
        square products of 1024 and 2048.
        """
    )
    @Option(help: "Timed repetitions per shape.") var runs = 20

    func run() throws {
        let T = 197, D = 768, I = 3072
        let shapes: [(String, Int, Int, Int)] = [
            ("ViT-B q/k/v/out", T, D, D), ("ViT-B mlp fc1", T, I, D), ("ViT-B mlp fc2", T, D, I),
            ("Whisper-base fc1", 1500, 2048, 512), ("ESM-2 650M fc1", 1026, 5120, 1280), ("MiniLM fc1", 4096, 1536, 384),
            ("square 1024", 1024, 1024, 1024), ("square 2048", 2048, 2048, 2048),
        ]
        print("BLAS: \(BLAS.description); bf16: \(BF16.isAvailable ? "own AVX-512 BF16 kernel" : "not available on this CPU")")
        var peak = 0.0
        for (name, m, n, k) in shapes {
            let x = randomTensor([m, k], seed: 1), w = randomTensor([n, k], seed: 2)
            let y = Tensor(zeros: [m, n])  // [m, n], written by every run (allocated once, as a model's buffers are)
            let f32 = Linear(weight: w, bias: nil)
            let s = medianSeconds(runs: runs) { f32.apply(x.pointer, rows: m, into: y.data) }
            let gflops = 2.0 * Double(m * n * k) / s / 1e9
            peak = max(peak, gflops)
            var line = "  " + name.padding(toLength: 18, withPad: " ", startingAt: 0)
                + String(format: "[%4d×%4d]·[%4d×%4d]ᵀ  f32 %8.3f ms %6.1f GFLOP/s", m, k, n, k, s * 1e3, gflops)
            if BF16.isAvailable {
                let bf16 = Linear(weight: w, bias: nil, dtype: .bf16)
                let t = medianSeconds(runs: runs) { bf16.apply(x.pointer, rows: m, into: y.data) }
                line += String(format: "  bf16 %8.3f ms %6.1f GFLOP/s (%.2f× f32's time)", t * 1e3, 2.0 * Double(m * n * k) / t / 1e9, t / s)
            }
            print(line)
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
        print(String(format: "  naive loop on the first shape (baseline) %7.3f ms  %6.1f GFLOP/s  → the BLAS's best is %.0f× faster",
                     naive * 1e3, naiveGflops, peak / naiveGflops))
    }
}

struct BenchImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Load time and classify-image time of a ViT/DeiT model, and its GFLOP/s against this machine's GEMM peak."
    )
    @Argument(help: "A PNG image to decode, preprocess and classify.") var image: String
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Timed repetitions.") var runs = 10

    func run() throws {
        let model = try modelOptions.resolve(default: DefaultModel.image)
        let (classifier, load) = try timedOnce { try ImageClassifier(model: model) }
        let decode = medianSeconds(runs: runs) { _ = try? PNGImage.decode(path: image) }
        let decoded = try PNGImage.decode(path: image)
        let preprocess = try medianSeconds(runs: runs) { _ = try classifier.encoder.pixels(path: image) }
        let total = try medianSeconds(runs: runs) { _ = try classifier.logits(image: decoded) }
        let c = classifier.encoder.vit.config
        let T = classifier.encoder.vit.prefixTokens + (c.imageSize.height / c.patchSize) * (c.imageSize.width / c.patchSize)
        let flops = encoderFlops(c.encoder, layers: c.numLayers, tokens: T)
            + 2.0 * Double(T * c.encoder.hiddenSize * c.numChannels * c.patchSize * c.patchSize)
        print(String(format: "load %.1f ms; decode %.1f ms; decode+preprocess %.1f ms", load * 1e3, decode * 1e3, preprocess * 1e3))
        print(modelLine("forward+head", seconds: total, flops: flops, gemmRate: gemmRate(m: T, n: c.encoder.intermediateSize, k: c.encoder.hiddenSize, runs: runs)))
    }
}

/// GEMM rate of the BLAS on an [m, k]·[n, k]ᵀ product: the same-run baseline for model benchmarks.
func gemmRate(m: Int, n: Int, k: Int, runs: Int) -> Double {
    let x = randomTensor([m, k], seed: 1), w = randomTensor([n, k], seed: 2)
    let linear = Linear(weight: w, bias: nil)
    let s = medianSeconds(runs: runs) { _ = linear(x) }
    return 2.0 * Double(m * n * k) / s / 1e9
}

/// "what: time (GFLOP/s = share of the GEMM rate measured in this run)".
func modelLine(_ what: String, seconds: Double, flops: Double, gemmRate peak: Double) -> String {
    String(format: "%@ %.1f ms (%.1f GFLOP/s = %.0f%% of this run's GEMM rate, %.1f GFLOP/s)",
           what as NSString, seconds * 1e3, flops / seconds / 1e9, 100 * flops / seconds / 1e9 / peak, peak)
}

/// FLOPs of an encoder forward over T tokens (projections, MLP, attention scores and mixing).
func encoderFlops(_ c: EncoderConfig, layers: Int, tokens T: Int) -> Double {
    let D = c.hiddenSize, I = c.intermediateSize
    return Double(layers) * (2.0 * Double(T * D) * Double(4 * D + 2 * I) + 4.0 * Double(T * T * D))
}

struct BenchAudio: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audio",
        abstract: "Feature extraction and encoder time of a Whisper or AST model, against this run's GEMM rate."
    )
    @Argument(help: "An audio file (WAV, FLAC, Ogg); Whisper runs it repeated to 30 s.") var clip: String
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Timed repetitions.") var runs = 5

    func run() throws {
        let model = try modelOptions.resolve(default: DefaultModel.audio)
        let (encoder, load) = try timedOnce { try AudioEncoder(model: model) }
        let samples = try encoder.samples(path: clip)
        switch encoder.backbone {
        case .whisper(let whisper, let extractor):
            let thirty = (0..<extractor.nSamples).map { samples[$0 % samples.count] }  // the clip repeated to 30 s
            let features = medianSeconds(runs: runs * 4) { _ = extractor.features(thirty) }
            let input = extractor.features(thirty)
            let forward = try medianSeconds(runs: runs) { _ = try whisper.forward(features: input) }
            let c = whisper.config
            let flops = encoderFlops(c, layers: whisper.numLayers, tokens: whisper.maxSourcePositions)
                + 2.0 * Double(whisper.inputFrames * c.hiddenSize * whisper.numMelBins * 3)
                + 2.0 * Double(whisper.maxSourcePositions * c.hiddenSize * c.hiddenSize * 3)
            let peak = gemmRate(m: whisper.maxSourcePositions, n: c.intermediateSize, k: c.hiddenSize, runs: runs)
            print(String(format: "load %.1f ms; 30 s log-mel %.2f ms; ", load * 1e3, features * 1e3) + modelLine("encoder forward", seconds: forward, flops: flops, gemmRate: peak))
        case .ast(let ast, let extractor):
            let features = medianSeconds(runs: runs * 4) { _ = extractor.features(samples) }
            let input = extractor.features(samples)
            var tokens = 0
            let forward = try medianSeconds(runs: runs) { tokens = try ast.forward(features: input).shape[0] }
            let flops = encoderFlops(ast.config, layers: ast.numLayers, tokens: tokens)
            let peak = gemmRate(m: tokens, n: ast.config.intermediateSize, k: ast.config.hiddenSize, runs: runs)
            print(String(format: "load %.1f ms; fbank %.2f ms; ", load * 1e3, features * 1e3) + modelLine("encoder forward", seconds: forward, flops: flops, gemmRate: peak))
        }
    }
}

struct BenchProtein: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "protein",
        abstract: "ESM-2 residues per second at given lengths, batched throughput on a FASTA file against the sum of single runs.",
        usage: """
        mmattn bench protein [--model <folder-or-id>] [--lengths <lengths>]
               [--fasta <file>] [--toks-per-batch <n>] [--runs <n>] [--contacts]
        """
    )
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Sequence lengths to time alone (comma-separated).") var lengths = "256,1024"
    @Option(help: "A FASTA file for the batched run (optional).") var fasta: String?
    @Option(name: .customLong("toks-per-batch"), help: "Tokens per batch for the --fasta run, as esm-extract.")
    var toksPerBatch = 4096
    @Option(help: "Timed repetitions.") var runs = 3
    @Flag(help: "Also time each length with contact maps, against the plain forward.") var contacts = false

    func run() throws {
        let encoder = try ProteinEncoder(model: try modelOptions.resolve(default: DefaultModel.protein))
        let esm = encoder.esm
        let residues = Array("ACDEFGHIKLMNPQRSTVWY")
        for text in lengths.split(separator: ",") {
            guard let n = Int(text), n > 0 else { throw ValidationError("--lengths: \(text) is not a length") }
            let seq = String((0..<n).map { residues[($0 * 7 + $0 / 3) % residues.count] })
            let tokens = encoder.alphabet.encode(seq, maxResidues: nil)
            let s = try medianSeconds(runs: runs) { _ = try esm.forward(tokens: [tokens], repr: [esm.numLayers], contacts: false) }
            let flops = encoderFlops(esm.config, layers: esm.numLayers, tokens: n + 2)
            let peak = gemmRate(m: n + 2, n: esm.config.intermediateSize, k: esm.config.hiddenSize, runs: 2)
            print(String(format: "L=%d: %.0f residues/s; ", n, Double(n) / s) + modelLine("forward", seconds: s, flops: flops, gemmRate: peak))
            if contacts {
                guard esm.hasContactHead else { throw ValidationError("--contacts: this model has no contact head") }
                let c = try medianSeconds(runs: runs) { _ = try esm.forward(tokens: [tokens], repr: [esm.numLayers], contacts: true) }
                print(String(format: "L=%d: with contacts %.1f ms → %.2f × the forward without", n, c * 1e3, c / s))
            }
        }
        guard let fasta else { return }
        var records: [(String, Int)] = []
        let options = ProteinEmbeddingOptions(include: [.mean], batch: ProteinBatchOptions(toksPerBatch: toksPerBatch))
        let ((), batched) = try timedOnce { try encoder.embed(fasta: fasta, options: options) { e in records.append((e.id, e.length)) } }
        let reader = try FastaReader(path: fasta, alphabet: encoder.alphabet)
        var single = 0.0, total = 0
        while let r = try reader.next() {
            let tokens = encoder.alphabet.encode(r.sequence, maxResidues: 1022)
            total += tokens.count - 2
            single += try timedOnce { _ = try esm.forward(tokens: [tokens], repr: [esm.numLayers], contacts: false) }.1
        }
        print(String(format: "%@: %d records, %d residues: batched %.2f s (%.0f residues/s); single runs summed %.2f s → batched/single = %.2f",
                     fasta as NSString, records.count, total, batched, Double(total) / batched, single, batched / single))
    }
}
