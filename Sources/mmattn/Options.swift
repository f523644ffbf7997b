import ArgumentParser
import Foundation
import MMAttn
import MMAttnHub

/// The Hub ids the commands use when `--model` is left out (CONTRACT.md), and why each was chosen.
enum DefaultModel {
    /// classify-image and embed-image: one download serves both.
    static let image = "google/vit-base-patch16-224"
    static let imageReason = "the original ViT-B/16 fine-tuned on ImageNet-1k (1,000 labels, 86M parameters), the checkpoint transformers' image-classification pipeline uses"
    static let audio = "openai/whisper-base"
    static let audioReason = "Whisper's encoder, trained on 680,000 hours of speech, gives robust general speech features; base (74M parameters) is small and fast and is also transcribe's default"
    static let audioClassifier = "MIT/ast-finetuned-audioset-10-10-0.4593"
    static let audioClassifierReason = "the Audio Spectrogram Transformer fine-tuned on AudioSet (527 sound classes, mAP 0.459), the checkpoint transformers' audio-classification pipeline uses"
    static let protein = "facebook/esm2_t33_650M_UR50D"
    static let proteinReason = "ESM-2 650M, the size fair-esm's esm-extract examples and most published work use: near the largest models' quality at a fraction of their cost"
    /// classify-video and embed-video.
    static let video = "MCG-NJU/videomae-base-finetuned-kinetics"
    static let videoReason = "VideoMAE-B fine-tuned on Kinetics-400 (400 human actions, 87M parameters, 16 frames of 224×224), the checkpoint transformers' video-classification pipeline uses"
    static let text = "sentence-transformers/all-MiniLM-L6-v2"
    static let textReason = "the most used sentence-embedding model: 384 dimensions, 22M parameters, fast on a CPU, good for search and clustering"

    /// The `--help` paragraph that names a command's default model.
    static func help(_ id: String, _ reason: String) -> String {
        "Without --model: \(id), downloaded into the Hugging Face cache on first use; \(reason)."
    }
}

/// Options every model command takes.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A model folder in Hugging Face layout, or a Hub id (org/name[@revision]) found in the "
                                            + "Hugging Face cache or downloaded into it.",
                                            valueName: "model"))
    var model: String?

    /// `--model`, or `fallback` when it is left out, made available on this machine: a folder is used
    /// as it is; a Hub id comes from the Hugging Face cache, downloaded there first when missing.
    /// Returns the name to load and to report (the id or folder as the person gave it).
    func resolve(default fallback: String) throws -> String {
        let spec = model ?? fallback
        try fetchModel(spec)
        return spec
    }

    /// `--model` for commands without a default model (a usage error when it is left out), made
    /// available as `resolve(default:)` does.
    func resolveRequired() throws -> String {
        guard let model else { throw ValidationError("give --model: a model folder or a Hub id") }
        try fetchModel(model)
        return model
    }
}

extension DType: ExpressibleByArgument {}

/// `--dtype` of the commands that run a model.
struct ComputeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Number type to compute in: f32, or bf16 (bf16 weights and matrix products, fp32 sums; "
                               + "0.33–0.44 of f32's time on the benchmark models where the CPU has AVX-512 BF16; "
                               + "f32 with a warning elsewhere).",
                               valueName: "f32|bf16"))
    var dtype: DType = .f32

    /// What the type adds to a run's description (`--resume`, `merge` and the outputs' metadata
    /// compare it): the type that runs, when it is not f32, so f32 runs read as before.
    var runOptions: [String: String] {
        let runs = dtype.runnable
        return runs == .f32 ? [:] : ["dtype": runs.rawValue]
    }
}

/// Make `spec` (a folder or a Hub id) available on this machine with `Hub.resolve`, drawing a
/// progress line while it downloads; `needsWeights: false` fetches only the config and tokenizer.
func fetchModel(_ spec: String, needsWeights: Bool = true) throws {
    let bar = ByteProgressBar()
    defer { bar.finish() }
    _ = try Hub().resolve(spec, needsWeights: needsWeights, progress: { bar.update($0) })
}

/// `--output` and `--json` of the embedding commands: write a file, or print each input's shape and
/// first values (`--json`: CONTRACT.md's object with the vectors) when no file is given.
struct EmbeddingOutput: ParsableArguments {
    @Option(name: .customLong("output"),
            help: ArgumentHelp("Where to write the embeddings: .npy, .safetensors or .json (without it they are printed).",
                               valueName: "file"))
    var file: String?
    @Flag(help: "Without --output: print {\"model\", \"results\": [{\"input\", \"shape\", \"embedding\"}]}.") var json = false

    func validate() throws {
        if json && file != nil { throw ValidationError("--json prints the vectors; with --output they go to the file instead (give one of them)") }
    }

    /// Write `embeddings` to the file and say so on stderr, or print them on stdout.
    func deliver(_ embeddings: Embeddings, model: String) throws {
        guard let file else {
            Stdout.write(json ? ResultsJSON.embeddings(embeddings, model: model) : embeddingsSummary(embeddings))
            return
        }
        reportWritten(file, try embeddings.write(to: file))
    }
}

/// The values of a list option given as repeated flags and/or comma-separated lists (CONTRACT.md),
/// blanks dropped. An empty result is a usage error naming the option.
func parseList(_ values: [String], option: String, expected: String) throws -> [String] {
    let items = values.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
    guard !items.isEmpty else { throw ValidationError("\(option) needs at least one value (\(expected))") }
    return items
}

/// Output on stdout: exactly one JSON object for `--json`, text otherwise.
enum Stdout {
    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// Progress and reports for a person, on stderr.
enum Stderr {
    static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

extension Pooling: ExpressibleByArgument {}
extension Scoring: ExpressibleByArgument {}

/// Fail before any work when `--output` cannot be written: an unknown extension, a missing folder,
/// or a folder where no file can be created (a probe file tells, where permission bits do not).
func checkOutputPath(_ path: String?) throws {
    guard let path else { return }
    _ = try OutputFile.format(of: path)
    try OutputFile.checkWritable(path)
}

/// A small human-readable table of predictions.
func predictionsTable(results: [Classification]) -> String {
    var out = ""
    for r in results {
        out += "\(r.input)\n"
        for p in r.predictions {
            out += String(format: "  %6.2f%%  %@\n", Double(p.score) * 100, "\(p.label) (\(p.index))")
        }
    }
    return out
}

/// Write the logits of classification results: [L] for one input, [N, L] for several.
func writeLogits(_ results: [Classification], to output: String?) throws {
    guard let output else { return }
    var logits = Embeddings(name: "logits")
    for r in results { logits.append(r.logits, input: r.input) }
    try OutputFile.write(try logits.stacked(), primaryName: "logits", to: output)
}

/// Parse `--image-size N` or `HxW`.
func parseImageSize(_ text: String?) throws -> (height: Int, width: Int)? {
    guard let text else { return nil }
    let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
    let sides = parts.compactMap { $0 }
    guard sides.count == parts.count, (1...2).contains(sides.count), sides.allSatisfy({ $0 > 0 }) else {
        throw ValidationError("--image-size must be N or HxW (for example 384 or 224x320), got \(text)")
    }
    guard sides.allSatisfy({ $0 <= 8192 }) else {
        throw ValidationError("--image-size \(text): sides up to 8192 pixels are accepted; use a smaller size")
    }
    return sides.count == 1 ? (sides[0], sides[0]) : (sides[0], sides[1])
}

/// Tell the person (on stderr) what was written where.
func reportWritten(_ path: String, _ what: String) {
    Stderr.write("wrote \(path): \(what)\n")
}

/// One line per embedding for a person: input, shape and the first values.
func embeddingsSummary(_ embeddings: Embeddings) -> String {
    embeddings.items.map { item in
        let values = (0..<min(4, item.tensor.count)).map { String(format: "%.4f", item.tensor.pointer[$0]) }
        return "\(item.input)  \(item.tensor.shape)  [\(values.joined(separator: ", "))\(item.tensor.count > 4 ? ", ..." : "")]\n"
    }.joined()
}
