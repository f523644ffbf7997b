import Foundation

/// ViT and DeiT, as transformers' `ViTModel` / `ViTForImageClassification` and `DeiTModel` /
/// `DeiTForImageClassification(WithTeacher)`: a patch-embedding convolution, a [CLS] token (DeiT:
/// also a distillation token), learned positions over the patch grid, a pre-LN encoder, a final
/// layer norm, and a linear classifier on [CLS] (DeiT with teacher: the mean of a [CLS] head and a
/// distillation-token head).
public final class ViT: Sendable {
    public struct Config: Sendable {
        public var encoder: EncoderConfig
        public var numLayers: Int
        public var imageSize: (height: Int, width: Int)
        public var patchSize: Int
        public var numChannels: Int
        public var qkvBias: Bool
    }

    public let config: Config
    /// Names of the classifier's outputs (empty for a bare `ViTModel`).
    public let labels: [String]

    let embeddings: PatchEmbeddings     // embeddings.*: [CLS] (+ distillation), patches, positions
    let encoder: Encoder                // encoder.layer.*
    let layernorm: LayerNorm            // layernorm: [D]
    let classifier: Linear?             // classifier or cls_classifier: [L, D]
    let distillationClassifier: Linear? // distillation_classifier: [L, D]

    /// The layer stack's tensor names in both generations, shared by DeiT and AST: transformers 5
    /// moved `encoder.layer.N` to `layers.N`, the attention projections to `attention.{q,k,v,o}_proj`
    /// and the MLP to `mlp.fc1`/`fc2`. Embeddings, the final `layernorm` and the classifier heads
    /// kept their names (checked against transformers 5.24's `state_dict()` of every class).
    static let layerRenames: [(current: String, published: String)] = [
        ("layers.#.attention.q_proj", "encoder.layer.#.attention.attention.query"),
        ("layers.#.attention.k_proj", "encoder.layer.#.attention.attention.key"),
        ("layers.#.attention.v_proj", "encoder.layer.#.attention.attention.value"),
        ("layers.#.attention.o_proj", "encoder.layer.#.attention.output.dense"),
        ("layers.#.mlp.fc1", "encoder.layer.#.intermediate.dense"),
        ("layers.#.mlp.fc2", "encoder.layer.#.output.dense"),
        ("layers.#.layernorm_before", "encoder.layer.#.layernorm_before"),
        ("layers.#.layernorm_after", "encoder.layer.#.layernorm_after"),
    ]

    /// ViT's and DeiT's tensor names, both generations.
    public static let checkpointNames = CheckpointNames(family: "ViT", layerRenames)

    /// Load from a checkpoint's config and weights (any of the ViT/DeiT class prefixes, either
    /// generation of names).
    public init(config json: JSONFields, weights: Checkpoint) throws {
        let weights = try weights.renamed(by: Self.checkpointNames)
        let (encoderConfig, imageSize, patchSize) = try json.patchModel(defaultEps: 1e-12)
        let config = Config(encoder: encoderConfig, numLayers: try json.layerCount("num_hidden_layers"),
                            imageSize: (imageSize, imageSize), patchSize: patchSize,
                            numChannels: try json.int("num_channels", default: 3, in: 1...16),
                            qkvBias: try json.bool("qkv_bias", default: true))
        self.config = config
        let D = encoderConfig.hiddenSize, P = patchSize, C = config.numChannels
        let gridSide = imageSize / patchSize

        let prefix = try weights.prefix(among: ["vit.", "deit.", ""], probing: "embeddings.cls_token")
        let w = weights.scoped(prefix)
        embeddings = try PatchEmbeddings(w, width: D, channels: C, patchSize: P, stride: (P, P), grid: gridSide * gridSide,
                                         distillation: w.contains("embeddings.distillation_token"))
        encoder = Encoder(config: encoderConfig, layers: try (0..<config.numLayers).map { i in
            try ViT.layer(w, "encoder.layer.\(i)", config: encoderConfig, qkvBias: config.qkvBias)
        })
        layernorm = try w.layerNorm("layernorm", width: D, eps: encoderConfig.layerNormEps)

        // Heads live outside the base-model prefix.
        let head = weights.scoped("")
        if head.contains("cls_classifier.weight") {
            let labelCount = head.rows(of: "cls_classifier.weight")
            classifier = try head.linear("cls_classifier", out: labelCount, in: D)
            distillationClassifier = try head.linear("distillation_classifier", out: labelCount, in: D)
        } else if head.contains("classifier.weight") {
            classifier = try head.linear("classifier", out: head.rows(of: "classifier.weight"), in: D)
            distillationClassifier = nil
        } else {
            classifier = nil
            distillationClassifier = nil
        }
        labels = try json.labels(count: classifier?.outFeatures ?? 0,
                                 classifier: distillationClassifier == nil ? "classifier.weight" : "cls_classifier.weight")
    }

    /// One encoder layer under `name` (`attention.attention.{query,key,value}`, `attention.output.dense`,
    /// `intermediate.dense`, `output.dense`, `layernorm_before`, `layernorm_after`); AST shares it.
    static func layer(_ w: CheckpointScope, _ name: String, config: EncoderConfig, qkvBias: Bool) throws -> EncoderLayer {
        let D = config.hiddenSize, I = config.intermediateSize, eps = config.layerNormEps
        return EncoderLayer(
            attentionNorm: try w.layerNorm("\(name).layernorm_before", width: D, eps: eps),
            query: try w.linear("\(name).attention.attention.query", out: D, in: D, bias: qkvBias),
            key: try w.linear("\(name).attention.attention.key", out: D, in: D, bias: qkvBias),
            value: try w.linear("\(name).attention.attention.value", out: D, in: D, bias: qkvBias),
            attentionOutput: try w.linear("\(name).attention.output.dense", out: D, in: D),
            mlpNorm: try w.layerNorm("\(name).layernorm_after", width: D, eps: eps),
            intermediate: try w.linear("\(name).intermediate.dense", out: I, in: D),
            output: try w.linear("\(name).output.dense", out: D, in: I))
    }

    public var hiddenSize: Int { config.encoder.hiddenSize }
    public var hasClassifier: Bool { classifier != nil }
    /// Tokens before the patches: 1 ([CLS]) or 2 ([CLS], distillation).
    public var prefixTokens: Int { embeddings.prefixCount }

    /// Tokens an image of `height`×`width` pixels gives.
    public func tokenCount(height: Int, width: Int) -> Int { embeddings.tokenCount(height: height, width: width) }

    /// Refuse, before any work, an image size whose attention could not fit in memory.
    public func checkFits(height: Int, width: Int, what: String) throws {
        try embeddings.checkFits(encoder, height: height, width: width, what: what)
    }

    /// Token embeddings of one image `pixels` ([C, H, W], normalised): [1, prefix + N, D]. An image
    /// whose patch grid differs from the trained one gets bicubically interpolated positions, as
    /// `interpolate_pos_encoding=True` does.
    public func embed(_ pixels: Tensor) throws -> Tensor {
        let C = pixels.shape[0], H = pixels.shape[1], W = pixels.shape[2]
        let P = config.patchSize
        guard C == config.numChannels, H >= P, W >= P else {
            throw MMAttnError("image tensor \(pixels.shape) does not fit the model (\(config.numChannels) channels, at least \(P)×\(P) pixels)")
        }
        try checkFits(height: H, width: W, what: "a \(W)×\(H) image")
        let grid = embeddings.projection.outputGrid(height: H, width: W)
        return embeddings(pixels, positions: positionTable(grid: grid, height: H, width: W))
    }

    /// Position embeddings for a patch grid: nil for the trained table, else its bicubic interpolation.
    func positionTable(grid: (h: Int, w: Int), height: Int, width: Int) -> Tensor? {
        let D = hiddenSize, prefix = prefixTokens
        let trained = embeddings.trainedPatches
        if grid.h * grid.w == trained && height == width { return nil }
        let table = embeddings.positionEmbeddings
        let side = Int(Double(trained).squareRoot())
        let patchTable = Tensor(zeros: [side, side, D])
        patchTable.data.update(from: table.pointer + prefix * D, count: trained * D)
        let resized = Interpolate.bicubic(patchTable, outHeight: grid.h, outWidth: grid.w)  // [h, w, D]
        let out = Tensor(zeros: [prefix + grid.h * grid.w, D])
        out.data.update(from: table.pointer, count: prefix * D)
        (out.data + prefix * D).update(from: resized.pointer, count: resized.count)
        return out
    }

    /// The forward pass on one image: the last hidden state after the final layer norm, [T, D], and
    /// with `options.hiddenStates` the embeddings and each layer's output (before the final norm, as
    /// transformers reports them).
    public func forward(_ pixels: Tensor, options: EncoderOptions = EncoderOptions()) throws -> (lastHiddenState: Tensor, hiddenStates: [Tensor]) {
        let embeddings = try embed(pixels)
        let out = try encoder(embeddings, options: options)
        let T = embeddings.shape[1]
        let last = layernorm(out.lastHiddenState).reshaped([T, hiddenSize])
        return (last, out.hiddenStates.map { $0.reshaped([T, hiddenSize]) })
    }

    /// The forward pass on several images at once, packed (images of different sizes may share a
    /// batch): each one's last hidden state after the final layer norm, [Tᵢ, D], in order. Same
    /// numbers as one image at a time, up to float rounding.
    public func forward(batch pixels: [Tensor]) throws -> [Tensor] {
        try forward(embedded: try pixels.map(embed))
    }

    /// `forward(batch:)` from the images' token embeddings (`embed`), [1, Tᵢ, D] each.
    public func forward(embedded: [Tensor]) throws -> [Tensor] {
        try encoder.run(embedded).map { layernorm($0) }
    }

    /// Classifier logits from a last hidden state ([T, D]): [L]. DeiT with teacher averages its two heads.
    public func logits(lastHiddenState: Tensor) throws -> Tensor {
        guard let classifier else {
            throw MMAttnError("this checkpoint has no classification head (a bare ViTModel); use embed-image instead")
        }
        let D = hiddenSize
        let cls = classifier(Tensor(shape: [1, D], storage: lastHiddenState.storage))
        guard let distillationClassifier else { return cls.reshaped([classifier.outFeatures]) }
        let token = Tensor(zeros: [1, D])
        token.data.update(from: lastHiddenState.pointer + D, count: D)
        let dist = distillationClassifier(token)
        let out = Tensor(zeros: [classifier.outFeatures])
        for i in 0..<out.count { out.data[i] = (cls.data[i] + dist.data[i]) / 2 }
        return out
    }
}
