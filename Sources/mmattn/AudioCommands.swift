import ArgumentParser
import Foundation
import MMAttn

struct EmbedAudio: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-audio",
        abstract: "Embed audio clips (WAV, FLAC, Ogg Vorbis/Opus, ...) with a Whisper encoder or AST.",
        discussion: """
        Audio is mixed to mono and resampled (soxr, high quality) to the model's sampling rate.

        Whisper: --pooling mean (default) averages the encoder frames that cover the audio,
        min(1500, ceil(samples / 320)) per 30 s window, [D]. --pooling none gives the encoder's
        last hidden state, [1500, D] for up to 30 s; longer audio is cut into consecutive 30 s
        windows encoded one by one, [windows, 1500, D].
        AST: --pooling mean (default) is the pooled output (mean of the two leading tokens after the
        final layer norm), [D]; none is the last hidden state [T, D]. AST sees the first max_length
        frames (10.24 s for AudioSet checkpoints), as its feature extractor does.
        Several clips stack along a new first axis.

        Example:
          mmattn embed-audio speech.wav --model openai/whisper-tiny --output speech.npy
          mmattn embed-audio a.flac b.ogg --model ./ast --pooling none --output hidden.safetensors
        """
    )

    @Argument(help: "Audio files.") var clips: [String]
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "mean or none (cls: the first token).") var pooling: Pooling = .mean
    @Option(help: "Output file (.npy, .safetensors or .json).") var output: String

    func validate() throws {
        guard !clips.isEmpty else { throw ValidationError("give at least one audio file") }
    }

    func run() throws {
        try checkOutputPath(output)
        let encoder = try AudioEncoder(model: modelOptions.model)
        let embeddings = try clips.map { path in try attributing(to: path) { try encoder.embed(path: path, pooling: pooling) } }
        if embeddings.count > 1, Set(embeddings.map(\.shape)).count > 1 {
            throw MMAttnError("the clips give outputs of different shapes (\(embeddings.map(\.shape))); with --pooling none, embed clips of different window counts one at a time")
        }
        let result = embeddings.count == 1 ? embeddings[0] : Tensor.stack(embeddings)
        try OutputFile.write(result, primaryName: pooling == .none ? "last_hidden_state" : "embedding", to: output)
        reportWritten(output, result)
    }
}

struct ClassifyAudio: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify-audio",
        abstract: "Label audio clips with an AST classifier (AudioSet and others).",
        discussion: """
        Scores are sigmoids for multi-label checkpoints (AudioSet's 527 classes), softmax otherwise.

        Example:
          mmattn classify-audio bell.oga --model MIT/ast-finetuned-audioset-10-10-0.4593 --top-k 3
          mmattn classify-audio a.wav b.wav --model ./ast --json --output logits.npy
        """
    )

    @Argument(help: "Audio files.") var clips: [String]
    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .customLong("top-k"), help: "How many labels to show per clip.") var topK = 5
    @Flag(help: "Print one JSON object on stdout instead of a table.") var json = false
    @Option(help: "Write the logits: [num_labels], or [N, num_labels] for several clips.") var output: String?

    func validate() throws {
        guard !clips.isEmpty else { throw ValidationError("give at least one audio file") }
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
    }

    func run() throws {
        try checkOutputPath(output)
        let classifier = try AudioClassifier(model: modelOptions.model)
        var results: [(input: String, predictions: [Prediction])] = []
        var logits: [Tensor] = []
        for path in clips {
            let l = try attributing(to: path) { try classifier.logits(path: path) }
            logits.append(l)
            results.append((path, Scores.top(topK, logits: l, labels: classifier.labels, multiLabel: classifier.multiLabel)))
        }
        if let output {
            try OutputFile.write(logits.count == 1 ? logits[0] : Tensor.stack(logits), primaryName: "logits", to: output)
        }
        Stdout.write(json ? predictionsJSON(model: modelOptions.model, results: results) : predictionsTable(results: results))
    }
}
