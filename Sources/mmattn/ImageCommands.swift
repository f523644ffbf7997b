import ArgumentParser
import Foundation
import MMAttn

struct ClassifyImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify-image",
        abstract: "Label PNG images with a ViT or DeiT image classifier.",
        discussion: """
        Scores are softmax probabilities; labels come from the checkpoint's id2label.

        Example:
          mmattn classify-image cat.png --model google/vit-base-patch16-224 --top-k 3
          mmattn classify-image a.png b.png --model ./deit-tiny --json --output logits.npy
        """
    )

    @Argument(help: "PNG files.") var images: [String]
    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .customLong("top-k"), help: "How many labels to show per image.") var topK = 5
    @Flag(help: "Print one JSON object on stdout instead of a table.") var json = false
    @Option(help: "Write the logits: [num_labels] for one image, [N, num_labels] for several (.npy, .safetensors or .json).")
    var output: String?
    @Option(name: .customLong("image-size"), help: "Resize to N or HxW pixels instead of the checkpoint's size (positions are interpolated).")
    var imageSize: String?

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one PNG file") }
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
    }

    func run() throws {
        try checkOutputPath(output)
        let classifier = try ImageClassifier(model: modelOptions.model, imageSize: try parseImageSize(imageSize))
        var results: [(input: String, predictions: [Prediction])] = []
        var logits: [Tensor] = []
        for path in images {
            let l = try attributing(to: path) { try classifier.logits(image: try PNGImage.decode(path: path)) }
            logits.append(l)
            results.append((path, Scores.top(topK, logits: l, labels: classifier.labels, multiLabel: false)))
        }
        if let output {
            try OutputFile.write(logits.count == 1 ? logits[0] : Tensor.stack(logits), primaryName: "logits", to: output)
        }
        Stdout.write(json ? predictionsJSON(model: modelOptions.model, results: results) : predictionsTable(results: results))
    }
}

struct EmbedImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-image",
        abstract: "Embed PNG images with a ViT or DeiT model.",
        discussion: """
        Pooling: cls (default) is the first token of the last hidden state after the final layer norm,
        [D]; mean averages all tokens, [D]; none keeps the whole last hidden state, [T, D]. Several
        images stack along a new first axis.

        Example:
          mmattn embed-image cat.png --model google/vit-base-patch16-224 --output cat.npy
          mmattn embed-image *.png --model ./vit --pooling mean --output all.safetensors
        """
    )

    @Argument(help: "PNG files.") var images: [String]
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "cls, mean or none.") var pooling: Pooling = .cls
    @Option(help: "Output file (.npy, .safetensors or .json).") var output: String
    @Option(name: .customLong("image-size"), help: "Resize to N or HxW pixels instead of the checkpoint's size (positions are interpolated).")
    var imageSize: String?

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one PNG file") }
    }

    func run() throws {
        try checkOutputPath(output)
        let encoder = try ImageEncoder(model: modelOptions.model, imageSize: try parseImageSize(imageSize))
        let embeddings = try images.map { path in try attributing(to: path) { try encoder.embed(path: path, pooling: pooling) } }
        let result = embeddings.count == 1 ? embeddings[0] : Tensor.stack(embeddings)
        try OutputFile.write(result, primaryName: pooling == .none ? "last_hidden_state" : "embedding", to: output)
        reportWritten(output, result)
    }
}
