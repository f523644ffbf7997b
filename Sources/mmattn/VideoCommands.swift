import ArgumentParser
import Foundation
import MMAttn
import MMAttnVideo

struct ClassifyVideo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify-video",
        abstract: "Label a video clip with a TimeSformer or VideoMAE video classifier.",
        usage: "mmattn classify-video <frames> ... [--model <model>] [options]",
        discussion: """
        The clip is one video file (MP4, WebM, MKV, MOV: anything FFmpeg reads),
        one folder of PNG frames (its .png files sorted by name), or PNG files in
        order. The model takes exactly num_frames frames (config.json): a clip
        with more is sampled at round(linspace(0, n - 1, num_frames)), and only
        those frames are decoded; fewer is an error. Each frame is preprocessed
        as the checkpoint's preprocessor_config.json (or transformers 5's
        video_preprocessor_config.json) says, else with the family's defaults.
        Scores are softmax probabilities; labels come from the checkpoint's
        id2label.

        \(DefaultModel.help(DefaultModel.video, DefaultModel.videoReason))

        Examples (from the repository root; the models in Fixtures are tiny
        and random, so their labels mean nothing):
          mmattn classify-video Fixtures/video/pan.mp4 \\
              --model Fixtures/models/videomae
          mmattn classify-video Fixtures/video/frames/pan \\
              --model Fixtures/models/timesformer --top-k 3 --json \\
              --output logits.npy
          mmattn classify-video clip.mp4 \\
              --model facebook/timesformer-base-finetuned-k400
        """
    )

    @Argument(help: ArgumentHelp("A video file, a folder of PNG frames, or PNG files.", valueName: "frames")) var frames: [String]
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(name: .customLong("top-k"), help: "How many labels to show.") var topK = 5
    @Flag(help: "Print one JSON object on stdout instead of a table.") var json = false
    @Option(help: ArgumentHelp("Also write the logits, [num_labels], as .npy, .safetensors or .json.", valueName: "file"))
    var output: String?

    func validate() throws {
        guard !frames.isEmpty else { throw ValidationError("give a video file, a folder of PNG frames, or PNG files") }
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
    }

    func run() throws {
        try checkOutputPath(output)
        let clip = try openClip(frames)
        let model = try modelOptions.resolve(default: DefaultModel.video)
        let classifier = try VideoClassifier(model: model, dtype: compute.dtype)
        let result = try classifier.classify(clip, topK: topK)
        try writeLogits([result], to: output)
        Stdout.write(json ? ResultsJSON.predictions(model: model, results: [result]) : predictionsTable(results: [result]))
    }
}

struct EmbedVideo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-video",
        abstract: "Embed a video clip with a TimeSformer or VideoMAE model.",
        usage: "mmattn embed-video <frames> ... [--model <model>] [options]",
        discussion: """
        The clip and its frames are taken as classify-video takes them. Pooling:
        cls is the first token of the last hidden state, [D] (TimeSformer's
        default: [CLS] after the final layer norm, what its classifier reads);
        mean is the model's pooled output, the mean of the tokens, then fc_norm
        where the checkpoint has one, [D] (VideoMAE's default); none keeps the
        whole last hidden state, [T, D] (TimeSformer: [CLS], then each patch's
        frames in order; VideoMAE: tubelets by time, row, column). Without
        --output, the shape and first values are printed (--json: the vector).

        \(DefaultModel.help(DefaultModel.video, DefaultModel.videoReason))

        Examples (from the repository root):
          mmattn embed-video Fixtures/video/zoom.webm \\
              --model Fixtures/models/videomae
          mmattn embed-video Fixtures/video/frames/fade \\
              --model Fixtures/models/timesformer --pooling none --output fade.npy
          mmattn embed-video clip.mp4 \\
              --model MCG-NJU/videomae-base-finetuned-kinetics --output clip.npy
        """
    )

    @Argument(help: ArgumentHelp("A video file, a folder of PNG frames, or PNG files.", valueName: "frames")) var frames: [String]
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(help: "How to reduce the last hidden state: cls, mean or none (default: TimeSformer cls, VideoMAE mean).")
    var pooling: Pooling?
    @OptionGroup var output: EmbeddingOutput

    func validate() throws {
        guard !frames.isEmpty else { throw ValidationError("give a video file, a folder of PNG frames, or PNG files") }
        try output.validate()
    }

    func run() throws {
        try checkOutputPath(output.file)
        let clip = try openClip(frames)
        let model = try modelOptions.resolve(default: DefaultModel.video)
        let encoder = try VideoEncoder(model: model, dtype: compute.dtype)
        let pooling = pooling ?? encoder.backbone.defaultPooling
        var embeddings = Embeddings(name: pooling == .none ? "last_hidden_state" : "embedding")
        embeddings.append(try encoder.embed(clip, pooling: pooling), input: clip.name)
        try output.deliver(embeddings, model: model)
    }
}
