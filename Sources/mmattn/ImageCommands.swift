import ArgumentParser
import Foundation
import MMAttn

/// `--image-size`, shared by the image commands.
struct ImageSizeOption: ParsableArguments {
    @Option(name: .customLong("image-size"),
            help: ArgumentHelp("Resize to N×N or H×W pixels instead of the checkpoint's size; position embeddings are interpolated.",
                               valueName: "N|HxW"))
    var imageSize: String?
}

struct ClassifyImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify-image",
        abstract: "Label PNG images with a ViT or DeiT image classifier.",
        usage: "mmattn classify-image <image> ... [--model <model>] [options]",
        discussion: """
        Scores are softmax probabilities; labels come from the checkpoint's
        id2label.

        \(DefaultModel.help(DefaultModel.image, DefaultModel.imageReason))

        Examples (from the repository root; the models in Fixtures are tiny
        and random, so their labels mean nothing):
          mmattn classify-image Fixtures/images/cat.png
          mmattn classify-image Fixtures/images/cat.png --model Fixtures/models/vit
          mmattn classify-image Fixtures/images/cat.png Fixtures/images/horse.png \\
              --model Fixtures/models/deit --top-k 3 --json --output logits.npy
          mmattn classify-image cat.png --model google/vit-base-patch16-224
        """
    )

    @Argument(help: ArgumentHelp("PNG images.", valueName: "image")) var images: [String]
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(name: .customLong("top-k"), help: "How many labels to show per image.") var topK = 5
    @Flag(help: "Print one JSON object on stdout instead of a table.") var json = false
    @Option(help: ArgumentHelp("Also write the logits, [num_labels] for one image or [N, num_labels] for N, as .npy, .safetensors or .json.",
                               valueName: "file"))
    var output: String?
    @OptionGroup var size: ImageSizeOption

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one PNG image") }
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
    }

    func run() throws {
        try checkOutputPath(output)
        let imageSize = try parseImageSize(size.imageSize)
        let model = try modelOptions.resolve(default: DefaultModel.image)
        let classifier = try ImageClassifier(model: model, imageSize: imageSize, dtype: compute.dtype)
        let results = try classifier.classify(paths: images, topK: topK)
        try writeLogits(results, to: output)
        Stdout.write(json ? ResultsJSON.predictions(model: model, results: results) : predictionsTable(results: results))
    }
}

struct EmbedImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-image",
        abstract: "Embed PNG images with a ViT or DeiT model.",
        usage: "mmattn embed-image <image> ... [--model <model>] [options]",
        discussion: """
        Pooling: cls is the first token of the last hidden state after the final
        layer norm, [D]; mean averages all tokens, [D]; none keeps the whole last
        hidden state, [T, D]. Several images stack along a new first axis. Images
        whose outputs differ in shape (--pooling none with a processor that keeps
        aspect ratios) go into a .safetensors output one tensor per image, named
        by the image's path. Without --output, each image's shape and first values
        are printed (--json: the vectors). --input-list names the images in a
        file, one path per line.

        Large runs: --output is written as batches finish (memory stays flat)
        with the row ids beside it (NAME.ids.jsonl); --shard K/N takes the K-th
        of N parts of the input (mmattn merge joins the parts); --resume
        continues an interrupted run into the same --output.

        \(DefaultModel.help(DefaultModel.image, DefaultModel.imageReason))

        Examples (from the repository root):
          mmattn embed-image Fixtures/images/cat.png
          mmattn embed-image Fixtures/images/cat.png --model Fixtures/models/vit \\
              --output cat.npy
          mmattn embed-image Fixtures/images/cat.png Fixtures/images/camera.png \\
              --model Fixtures/models/deit --pooling mean --output both.safetensors
          mmattn embed-image cat.png --model google/vit-base-patch16-224 \\
              --output cat.npy
          mmattn embed-image --input-list Fixtures/lists/images.txt \\
              --model Fixtures/models/vit --shard 0/2 --output part-0.npy
        """
    )

    @Argument(help: ArgumentHelp("PNG images.", valueName: "image")) var images: [String] = []
    @OptionGroup var inputList: InputListOption
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(help: "How to reduce the last hidden state: cls, mean or none.") var pooling: Pooling = .cls
    @OptionGroup var output: EmbeddingOutput
    @OptionGroup var size: ImageSizeOption
    @OptionGroup var runOptions: RunOptions
    @Flag(help: "Do not draw a progress bar.") var quiet = false

    func validate() throws {
        try inputList.validate(arguments: images, what: "PNG image")
        try output.validate()
        try runOptions.validate(output: output.file)
    }

    func run() throws {
        try checkOutputPath(output.file)
        let imageSize = try parseImageSize(size.imageSize)
        let model = try modelOptions.resolve(default: DefaultModel.image)
        let encoder = try ImageEncoder(model: model, imageSize: imageSize, dtype: compute.dtype)
        try embedFiles(command: "embed-image", files: images, list: inputList.inputList, model: model, modelFolder: encoder.model.path,
                       pooling: pooling, rowShape: pooling == .none ? encoder.tokenShape : [encoder.vit.hiddenSize],
                       options: ["image-size": size.imageSize ?? "checkpoint"].merging(compute.runOptions) { $1 }, output: output, runOptions: runOptions, quiet: quiet,
                       chunk: 8 * ImageEncoder.batchSize, checkSameShapes: { try encoder.checkSameShapes(paths: $0, pooling: pooling) }) { group, body in
            try encoder.forEachLastHiddenState(paths: group) { try body($0, pooling.apply($1)) }
        }
    }
}
