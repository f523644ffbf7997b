import ArgumentParser
import Foundation
import MMAttn

struct EmbedAudio: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-audio",
        abstract: "Embed audio clips (WAV, FLAC, Ogg Vorbis/Opus, ...) with a Whisper encoder or AST.",
        usage: "mmattn embed-audio <clip> ... [--model <model>] [options]",
        discussion: """
        Audio is mixed to mono and resampled (soxr, high quality) to the model's
        sampling rate.

        Whisper: --pooling mean (default) averages the encoder frames that cover
        the audio, min(1500, ceil(samples / 320)) per 30 s window, [D]. --pooling
        none gives the encoder's last hidden state, [1500, D] up to 30 s; longer
        audio is cut into consecutive 30 s windows, [windows, 1500, D].
        AST: mean is the pooled output (the mean of the two leading tokens after
        the final layer norm), [D]; none is the last hidden state, [T, D]. AST
        sees the first max_length frames (10.24 s for AudioSet checkpoints), as
        its feature extractor does.

        Several clips stack along a new first axis. Clips whose outputs differ in
        shape (--pooling none over clips of different window counts) go into a
        .safetensors output one tensor per clip, named by the clip's path; other
        formats refuse them before any clip is encoded. Without --output, each
        clip's shape and first values are printed (--json: the vectors).
        --input-list names the clips in a file, one path per line.

        Large runs: --output is written as batches finish (memory stays flat)
        with the row ids beside it (NAME.ids.jsonl); --shard K/N takes the K-th
        of N parts of the input (mmattn merge joins the parts); --resume
        continues an interrupted run into the same --output.

        \(DefaultModel.help(DefaultModel.audio, DefaultModel.audioReason))

        Examples (from the repository root):
          mmattn embed-audio Fixtures/audio/arctic_a0007.wav
          mmattn embed-audio Fixtures/audio/arctic_a0007.wav \\
              --model Fixtures/models/whisper --output speech.npy
          mmattn embed-audio Fixtures/audio/cards-001.wav Fixtures/audio/bell.oga \\
              --model Fixtures/models/ast --pooling none --output hidden.safetensors
          mmattn embed-audio clip.wav --model openai/whisper-base --output clip.npy
          mmattn embed-audio --input-list Fixtures/lists/clips.txt \\
              --model Fixtures/models/whisper --output clips.npy
        """
    )

    @Argument(help: ArgumentHelp("Audio files.", valueName: "clip")) var clips: [String] = []
    @OptionGroup var inputList: InputListOption
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(help: "How to reduce the last hidden state: mean, none or cls (the first frame).") var pooling: Pooling = .mean
    @OptionGroup var output: EmbeddingOutput
    @OptionGroup var runOptions: RunOptions
    @Flag(help: "Do not draw a progress bar.") var quiet = false

    func validate() throws {
        try inputList.validate(arguments: clips, what: "audio file")
        try output.validate()
        try runOptions.validate(output: output.file)
    }

    func run() throws {
        try checkOutputPath(output.file)
        let model = try modelOptions.resolve(default: DefaultModel.audio)
        let encoder = try AudioEncoder(model: model, dtype: compute.dtype)
        try embedFiles(command: "embed-audio", files: clips, list: inputList.inputList, model: model, modelFolder: encoder.model.path,
                       pooling: pooling, rowShape: encoder.outputShape(sampleCount: 1, pooling: pooling),
                       options: compute.runOptions, output: output, runOptions: runOptions, quiet: quiet, chunk: 16,
                       checkSameShapes: { try encoder.checkSameShapes(paths: $0, pooling: pooling) }) { group, body in
            try encoder.forEachEmbedding(paths: group, pooling: pooling, body)
        }
    }
}

struct ClassifyAudio: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify-audio",
        abstract: "Label audio clips with an AST classifier (AudioSet and others).",
        usage: "mmattn classify-audio <clip> ... [--model <model>] [options]",
        discussion: """
        Scores follow the checkpoint's problem_type, as transformers' audio
        classification pipeline does: sigmoid for multi_label_classification,
        softmax for single_label_classification, the raw logits for regression.
        Checkpoints without problem_type (the original AudioSet ones) get sigmoid
        when they classify AudioSet's 527 classes, softmax otherwise;
        --function-to-apply overrides all of this.

        \(DefaultModel.help(DefaultModel.audioClassifier, DefaultModel.audioClassifierReason))

        Examples (from the repository root; the models in Fixtures are tiny
        and random, so their labels mean nothing):
          mmattn classify-audio Fixtures/audio/cards-001.wav
          mmattn classify-audio Fixtures/audio/cards-001.wav \\
              --model Fixtures/models/ast --top-k 3
          mmattn classify-audio Fixtures/audio/cards-001.wav \\
              Fixtures/audio/cards-005.wav --model Fixtures/models/ast --json \\
              --output logits.npy
          mmattn classify-audio bell.wav \\
              --model MIT/ast-finetuned-audioset-10-10-0.4593
        """
    )

    @Argument(help: ArgumentHelp("Audio files.", valueName: "clip")) var clips: [String]
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(name: .customLong("top-k"), help: "How many labels to show per clip.") var topK = 5
    @Option(name: .customLong("function-to-apply"),
            help: "Turn logits into scores with sigmoid, softmax or none instead of what the checkpoint says.")
    var functionToApply: Scoring?
    @Flag(help: "Print one JSON object on stdout instead of a table.") var json = false
    @Option(help: ArgumentHelp("Also write the logits, [num_labels] for one clip or [N, num_labels] for N, as .npy, .safetensors or .json.",
                               valueName: "file"))
    var output: String?

    func validate() throws {
        guard !clips.isEmpty else { throw ValidationError("give at least one audio file") }
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
    }

    func run() throws {
        try checkOutputPath(output)
        let model = try modelOptions.resolve(default: DefaultModel.audioClassifier)
        let classifier = try AudioClassifier(model: model, dtype: compute.dtype)
        let results = try classifier.classify(paths: clips, topK: topK, scoring: functionToApply)
        try writeLogits(results, to: output)
        Stdout.write(json ? ResultsJSON.predictions(model: model, results: results) : predictionsTable(results: results))
    }
}
