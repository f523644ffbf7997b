import Foundation

/// The Audio Spectrogram Transformer, as transformers' `ASTModel` / `ASTForAudioClassification`:
/// kaldi fbank frames seen as a 1-channel (frequency × time) image, cut into overlapping 16×16
/// patches with frequency and time strides, [CLS] and distillation tokens, learned positions, the
/// ViT layer stack, a final layer norm, and a classifier (layer norm + linear) on the mean of the two
/// leading tokens.
public final class AST: Sendable {
    public let config: EncoderConfig
    public let numMelBins: Int
    /// Frames per input (`max_length`).
    public let maxLength: Int
    /// Label names of the classifier (empty for a bare `ASTModel`).
    public let labels: [String]
    /// How classifier logits become scores: `problem_type` when config.json gives it, as
    /// transformers' audio-classification pipeline decides; without it, sigmoid for a classifier
    /// over AudioSet's 527 classes (the AudioSet checkpoints predate `problem_type` and are
    /// multi-label), softmax otherwise.
    public let scoring: Scoring
    /// The patch grid after [CLS] and distillation: frequency bands × time steps, band-major.
    public let patchGrid: (bands: Int, steps: Int)
    /// Input frames between consecutive time steps (`time_stride`; 10 ms per frame).
    public let timeStride: Int

    let embeddings: PatchEmbeddings // embeddings.*: [CLS], distillation, patches (strides f, t), positions [1, 2 + f·t, D]
    let encoder: Encoder            // encoder.layer.*
    let layernorm: LayerNorm        // layernorm: [D]
    let headNorm: LayerNorm?        // classifier.layernorm: [D]
    let head: Linear?               // classifier.dense: [L, D]

    /// AST's tensor names, both generations: its layers are ViT's and were renamed the same way
    /// in transformers 5; embeddings, `layernorm` and `classifier.*` kept their names.
    public static let checkpointNames = CheckpointNames(family: "AST", ViT.layerRenames)

    public init(config json: JSONFields, weights: Checkpoint) throws {
        let weights = try weights.renamed(by: Self.checkpointNames)
        config = try json.encoderConfig(normPlacement: .pre)
        numMelBins = try json.int("num_mel_bins", default: 128, in: 1...1024)
        maxLength = try json.int("max_length", default: 1024, in: 1...100_000)
        let P = try json.int("patch_size", default: 16, in: 1...1024)
        let fStride = try json.int("frequency_stride", default: 10, in: 1...1024)
        let tStride = try json.int("time_stride", default: 10, in: 1...1024)
        guard P <= numMelBins, P <= maxLength else {
            throw MMAttnError("patch_size \(P) is larger than num_mel_bins \(numMelBins) or max_length \(maxLength)", file: json.file)
        }
        let qkvBias = try json.bool("qkv_bias", default: true)
        let layers = try json.layerCount("num_hidden_layers")
        let D = config.hiddenSize
        patchGrid = ((numMelBins - P) / fStride + 1, (maxLength - P) / tStride + 1)
        timeStride = tStride
        let grid = patchGrid.bands * patchGrid.steps

        let w = weights.scoped(try weights.prefix(among: ["audio_spectrogram_transformer.", ""], probing: "embeddings.cls_token"))
        embeddings = try PatchEmbeddings(w, width: D, channels: 1, patchSize: P, stride: (fStride, tStride), grid: grid,
                                         distillation: true)
        let c = config
        encoder = Encoder(config: c, layers: try (0..<layers).map { i in
            try ViT.layer(w, "encoder.layer.\(i)", config: c, qkvBias: qkvBias)
        })
        layernorm = try w.layerNorm("layernorm", width: D, eps: c.layerNormEps)

        let top = weights.scoped("")
        if top.contains("classifier.dense.weight") {
            let count = top.rows(of: "classifier.dense.weight")
            headNorm = try top.layerNorm("classifier.layernorm", width: D, eps: c.layerNormEps)
            head = try top.linear("classifier.dense", out: count, in: D)
        } else {
            headNorm = nil
            head = nil
        }
        labels = try json.labels(count: head?.outFeatures ?? 0, classifier: "classifier.dense.weight")
        switch try json.string("problem_type") {
        case "multi_label_classification": scoring = .sigmoid
        case "single_label_classification": scoring = .softmax
        case "regression": scoring = .none
        case nil: scoring = head?.outFeatures == 527 ? .sigmoid : .softmax
        case let other?:
            throw MMAttnError("problem_type \"\(other)\" is not one of multi_label_classification, single_label_classification, regression", file: json.file)
        }
    }

    /// Transformer layers.
    public var numLayers: Int { encoder.layers.count }
    /// Tokens of the sequence: [CLS], distillation, and one per patch.
    public var tokenCount: Int { embeddings.positionEmbeddings.shape[1] }

    public var hasClassifier: Bool { head != nil }
    /// True when scores are sigmoids (a multi-label classifier).
    public var multiLabel: Bool { scoring == .sigmoid }

    /// The last hidden state after the final layer norm, [T, D], for fbank features [maxLength, mels].
    public func forward(features: Tensor, options: EncoderOptions = EncoderOptions()) throws -> Tensor {
        let x = try embed(features: features)  // [1, 2 + f·t, D]
        let T = x.shape[1]
        let out = try encoder(x, options: options)
        return layernorm(out.lastHiddenState).reshaped([T, config.hiddenSize])
    }

    /// Several clips' features at once, as one packed batch: each one's last hidden state, [T, D].
    public func forward(batch features: [Tensor]) throws -> [Tensor] {
        try encoder.run(try features.map { try embed(features: $0) }).map { layernorm($0) }
    }

    /// The patch embeddings of fbank features [maxLength, mels]: the encoder's input, [1, 2 + f·t, D].
    func embed(features: Tensor) throws -> Tensor {
        guard features.shape == [maxLength, numMelBins] else {
            throw MMAttnError("AST expects fbank features of shape [\(maxLength), \(numMelBins)], got \(features.shape)")
        }
        // The patch convolution sees the features as a 1-channel image [1, mels, frames].
        let image = Tensor(zeros: [1, numMelBins, maxLength])
        for t in 0..<maxLength {
            for m in 0..<numMelBins { image.data[m * maxLength + t] = features.pointer[t * numMelBins + m] }
        }
        return embeddings(image)  // [1, 2 + f·t, D]
    }

    /// The pooled output: the mean of the [CLS] and distillation tokens of a last hidden state, [D].
    public func pooled(_ lastHiddenState: Tensor) -> Tensor {
        let D = config.hiddenSize
        let out = Tensor(zeros: [D])
        for d in 0..<D { out.data[d] = (lastHiddenState.pointer[d] + lastHiddenState.pointer[D + d]) / 2 }
        return out
    }

    /// Classifier logits from a pooled output: [L].
    public func logits(pooled: Tensor) throws -> Tensor {
        guard let head, let headNorm else {
            throw MMAttnError("this checkpoint has no classification head (a bare ASTModel); use embed-audio instead")
        }
        let normed = headNorm(pooled.reshaped([1, config.hiddenSize]))
        return head(normed).reshaped([head.outFeatures])
    }
}
