import ArgumentParser
import Foundation
import MMAttn

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Load time, forward time and peak memory of any model, on random inputs of its shape (run a release build).",
        usage: """
        mmattn bench model --model <model> [--batch <n>] [--seq <n>]
               [--dtype f32|bf16] [--runs <n>] [--json]
        """,
        discussion: """
        Build in release mode first (swift build -c release); debug builds are
        many times slower. The model is loaded as the command that runs it loads
        it (embed-image, embed-audio, embed-protein: config, weights,
        preprocessor files, building the model; text models: config and weights
        only, since the inputs are random ids): that is the load time. The
        forward time is the median of --runs timed passes after one warm-up, on
        random inputs of the model's shape, one packed batch as the commands run:
          ViT, DeiT: --batch images of the preprocessor's size (224×224 for
            ViT-B/16), as normalised pixel values (no PNG decoding);
          TimeSformer, VideoMAE: --batch clips of num_frames frames of
            image_size pixels, one after another (no decoding);
          Whisper: the encoder on --batch 30 s windows of log-mel features;
          AST: --batch inputs of max_length fbank frames;
          ESM-2: one batch of --batch sequences of --seq random residues
            (256 unless given, at most 1022) between <cls> and <eos>;
          BERT, RoBERTa, DistilBERT, GPT-2, ModernBERT, Qwen3: --batch sequences of
            --seq random token ids (128 unless given, or the model's maximum
            when smaller; at most max_position_embeddings).
        Classification and language-model heads are not run. The peak resident
        memory is the process's (getrusage), read after the timed passes.

        --json prints {"model", "family", "dtype", "batch", "seq", "load_ms",
        "forward_ms", "peak_rss_bytes"}; seq is null for image, audio and video
        models.

        Examples (from the repository root; use .build/release/mmattn):
          mmattn bench model --model Fixtures/models/vit
          mmattn bench model --model Fixtures/models/esm2 --seq 64 --batch 2 \\
              --runs 3 --json
          mmattn bench model --model Fixtures/models/whisper --runs 2 --json
          mmattn bench model --model sentence-transformers/all-MiniLM-L6-v2 \\
              --batch 8 --seq 64 --runs 3
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: ArgumentHelp("Inputs per forward: images, audio windows or sequences.", valueName: "n"))
    var batch = 1
    @Option(help: ArgumentHelp("Tokens per text sequence (128 unless given, or the model's maximum when smaller) or residues "
                               + "per protein (256 unless given); image and audio models have fixed input shapes.", valueName: "n"))
    var seq: Int?
    @OptionGroup var compute: ComputeOptions
    @Option(help: ArgumentHelp("Timed forward passes after one warm-up; the median is reported.", valueName: "n"))
    var runs = 10
    @Flag(help: "Print one JSON object: {\"model\", \"family\", \"dtype\", \"batch\", \"seq\", \"load_ms\", \"forward_ms\", \"peak_rss_bytes\"}.")
    var json = false

    /// The default `--seq`: tokens per text sequence, residues per protein.
    static let defaultTextTokens = 128
    static let defaultProteinResidues = 256
    /// The longest protein `--seq`: ESM-2 was trained on up to 1022 residues (1024 tokens with
    /// <cls> and <eos>), and embed-protein truncates there by default.
    static let maxProteinResidues = 1022

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        if let seq, seq < 1 { throw ValidationError("--seq must be at least 1") }
    }

    func run() throws {
        #if DEBUG
        Diagnostics.warn("this is a debug build: times are many times slower than a release build's (swift build -c release)")
        #endif
        let spec = try modelOptions.resolveRequired()
        let family = try ModelFolder(spec).family()
        let dtype = compute.dtype.runnable  // what runs: f32 after a warning where bf16 cannot
        let (workload, load) = try timedOnce { try BenchWorkload(family: family, model: spec, dtype: dtype) }
        let input = try workload.input(batch: batch, seq: seq)
        let forward = try medianSeconds(runs: runs) { try input.forward() }
        let result = BenchModelResult(model: spec, family: family, dtype: dtype, batch: batch, seq: input.seq,
                                      loadMilliseconds: load * 1e3, forwardMilliseconds: forward * 1e3,
                                      peakResidentBytes: peakResidentBytes(), inputDescription: input.description, runs: runs)
        Stdout.write(json ? result.json : result.summary)
    }
}

/// A loaded model of any family, as the command that runs it loads it.
enum BenchWorkload {
    case image(ImageEncoder)
    case audio(AudioEncoder)
    case protein(ProteinEncoder)
    case video(VideoEncoder)
    case text(any TextModel, ModelFolder)

    init(family: ModelFamily, model spec: String, dtype: DType) throws {
        switch family {
        case .vit, .deit: self = .image(try ImageEncoder(model: spec, dtype: dtype))
        case .whisper, .ast: self = .audio(try AudioEncoder(model: spec, dtype: dtype))
        case .esm: self = .protein(try ProteinEncoder(model: spec, dtype: dtype))
        case .timesformer, .videomae: self = .video(try VideoEncoder(model: spec, dtype: dtype))
        case .bert, .roberta, .distilbert, .gpt2, .modernbert, .qwen3:
            let folder = try ModelFolder(spec)
            self = .text(try loadTextModel(folder, weights: try folder.checkpoint().computing(in: dtype)), folder)
        }
    }

    /// Random inputs of the model's shape and the forward pass over them. `seq` is used by text
    /// and protein models only (a warning says so otherwise); too long a `seq` is an error.
    func input(batch: Int, seq: Int?) throws -> BenchInput {
        switch self {
        case .image(let encoder):
            let vit = encoder.vit
            let size = encoder.preprocessor.fixedOutputSize ?? vit.config.imageSize
            let C = vit.config.numChannels
            warnFixedShape(seq, "image models take \(C)×\(size.height)×\(size.width) pixel values")
            let pixels = (0..<batch).map { randomTensor([C, size.height, size.width], seed: UInt64($0 + 1)) }
            return BenchInput(seq: nil, description: "\(batch) × \(C)×\(size.height)×\(size.width) pixel values") {
                _ = try vit.forward(batch: pixels)
            }
        case .audio(let encoder):
            switch encoder.backbone {
            case .whisper(let whisper, _):
                let shape = [whisper.numMelBins, whisper.inputFrames]
                warnFixedShape(seq, "Whisper takes 30 s windows of \(shape[0])×\(shape[1]) log-mel features")
                let features = (0..<batch).map { randomTensor(shape, seed: UInt64($0 + 1)) }
                return BenchInput(seq: nil, description: "\(batch) × 30 s window (\(shape[0]) mel bins × \(shape[1]) frames)") {
                    _ = try whisper.forward(windows: features)
                }
            case .ast(let ast, _):
                let shape = [ast.maxLength, ast.numMelBins]
                warnFixedShape(seq, "AST takes \(shape[0]) frames × \(shape[1]) mel bins of fbank features")
                let features = (0..<batch).map { randomTensor(shape, seed: UInt64($0 + 1)) }
                return BenchInput(seq: nil, description: "\(batch) × \(shape[0]) fbank frames × \(shape[1]) mel bins") {
                    _ = try ast.forward(batch: features)
                }
            }
        case .protein(let encoder):
            let residues = seq ?? BenchModel.defaultProteinResidues
            guard residues <= BenchModel.maxProteinResidues else {
                throw MMAttnError("--seq \(residues): ESM-2 was trained on up to \(BenchModel.maxProteinResidues) residues per sequence "
                                  + "(embed-protein truncates there); give --seq \(BenchModel.maxProteinResidues) or less",
                                  file: encoder.model.name)
            }
            let letters = Array("ACDEFGHIKLMNPQRSTVWY")  // the 20 standard amino acids
            var random = RandomIndices()
            let tokens = (0..<batch).map { _ in
                encoder.alphabet.encode(String((0..<residues).map { _ in letters[random.next(below: letters.count)] }))
            }
            let esm = encoder.esm
            return BenchInput(seq: residues, description: "\(batch) × \(residues) residues (+ <cls>, <eos>)") {
                _ = try esm.forward(tokens: tokens, repr: [esm.numLayers], contacts: false)
            }
        case .video(let encoder):
            let model = encoder.backbone
            let shape = [model.numFrames, model.numChannels, model.frameSize.height, model.frameSize.width]
            warnFixedShape(seq, "\(model.family.displayName) takes clips of \(shape[0]) frames of \(shape[2])×\(shape[3]) pixels")
            let clips = (0..<batch).map { randomTensor(shape, seed: UInt64($0 + 1)) }
            return BenchInput(seq: nil, description: "\(batch) × \(shape[0]) frames of \(shape[1])×\(shape[2])×\(shape[3]) pixel values") {
                for clip in clips { _ = try model.forward(clip, options: EncoderOptions()) }
            }
        case .text(let model, let folder):
            let T = seq ?? min(BenchModel.defaultTextTokens, model.maxTokens)
            guard T <= model.maxTokens else {
                throw MMAttnError("--seq \(T): this \(model.family.displayName) model takes at most \(model.maxTokens) tokens per sequence "
                                  + "(max_position_embeddings); give --seq \(model.maxTokens) or less", file: folder.name)
            }
            var random = RandomIndices()
            let ids = (0..<batch).map { _ in (0..<T).map { _ in Int32(random.next(below: model.vocabSize)) } }
            return BenchInput(seq: T, description: "\(batch) × \(T) tokens") {
                _ = try model.forward(ids: ids)
            }
        }
    }

    /// Say that `--seq` does not apply to a model whose input shape is fixed.
    private func warnFixedShape(_ seq: Int?, _ what: String) {
        if let seq { Diagnostics.warn("--seq \(seq) is ignored: \(what)") }
    }
}

/// Reproducible pseudo-random indices (a 64-bit LCG's high bits) for benchmark inputs.
struct RandomIndices {
    private var state: UInt64 = 0x9E3779B97F4A7C15

    mutating func next(below n: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(n))
    }
}

/// The inputs of one benchmark and the forward pass over them.
struct BenchInput {
    /// Tokens (text) or residues (protein) per sequence; nil for image and audio models.
    let seq: Int?
    /// The inputs, for the human summary ("2 × 128 tokens").
    let description: String
    let forward: () throws -> Void
}

/// What `bench model` reports.
struct BenchModelResult {
    let model: String
    let family: ModelFamily
    let dtype: DType
    let batch: Int
    let seq: Int?
    let loadMilliseconds: Double
    let forwardMilliseconds: Double
    let peakResidentBytes: Int
    let inputDescription: String
    let runs: Int

    /// CONTRACT.md's object, one line.
    var json: String {
        "{\"model\": \(JSON.quote(model)), \"family\": \(JSON.quote(family.rawValue)), \"dtype\": \(JSON.quote(dtype.rawValue)), "
            + "\"batch\": \(batch), \"seq\": \(seq.map(String.init) ?? "null"), "
            + "\"load_ms\": \(String(format: "%.3f", loadMilliseconds)), \"forward_ms\": \(String(format: "%.3f", forwardMilliseconds)), "
            + "\"peak_rss_bytes\": \(peakResidentBytes)}\n"
    }

    /// For a person: what ran, and the three measurements.
    var summary: String {
        """
        model     \(model) (\(family.displayName), \(dtype.rawValue))
        inputs    \(inputDescription)
        load      \(String(format: "%.1f", loadMilliseconds)) ms
        forward   \(String(format: "%.1f", forwardMilliseconds)) ms (median of \(runs) after a warm-up)
        peak RSS  \(String(format: "%.1f", Double(peakResidentBytes) / 1e6)) MB

        """
    }
}

/// The process's peak resident set size in bytes (`getrusage`; Linux counts kilobytes, macOS bytes).
func peakResidentBytes() -> Int {
    var usage = rusage()
    #if os(Linux)
    // Glibc's RUSAGE_SELF comes in as an enum case; getrusage takes its raw value.
    guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
    return Int(usage.ru_maxrss) * 1024
    #else
    guard getrusage(RUSAGE_SELF, &usage) == 0 else { return 0 }
    return Int(usage.ru_maxrss)
    #endif
}
