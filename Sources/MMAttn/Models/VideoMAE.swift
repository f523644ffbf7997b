import Foundation

/// VideoMAE, as transformers' `VideoMAEModel` / `VideoMAEForVideoClassification`: a tubelet
/// embedding (a 3-D convolution over `tubelet_size` frames × patch × patch), fixed sinusoidal
/// positions over the (time, row, column) token order, joint space-time attention in a pre-LN
/// encoder without key bias, then either the mean of the tokens and `fc_norm` (`use_mean_pooling`)
/// or a final layer norm and the first token, and a linear classifier.
public final class VideoMAE: VideoModel {
    /// What config.json gives.
    public struct Config: Sendable {
        public var encoder: EncoderConfig
        public var numLayers: Int
        public var imageSize: Int
        public var patchSize: Int
        public var numChannels: Int
        public var numFrames: Int
        public var tubeletSize: Int
        public var useMeanPooling: Bool
    }

    public let config: Config
    public let labels: [String]

    let projection: Conv3d              // embeddings.patch_embeddings.projection: [D, C, ts, P, P]
    let positionEmbeddings: Tensor      // get_sinusoid_encoding_table (not stored): [T, D]
    let encoder: Encoder                // encoder.layer.*
    let layernorm: LayerNorm?           // layernorm: [D] (without mean pooling)
    let fcNorm: LayerNorm?              // fc_norm: [D] (with mean pooling)
    let classifier: Linear?             // classifier: [L, D]

    public var family: ModelFamily { .videomae }

    public init(config json: JSONFields, weights: Checkpoint) throws {
        let (encoderConfig, imageSize, patchSize) = try json.patchModel(defaultEps: 1e-12)
        let numFrames = try json.int("num_frames", default: 16, in: 1...4096)
        let tubelet = try json.int("tubelet_size", default: 2, in: 1...4096)
        guard tubelet <= numFrames else {
            throw MMAttnError("tubelet_size \(tubelet) is larger than num_frames \(numFrames)", file: json.file)
        }
        let config = Config(encoder: encoderConfig, numLayers: try json.layerCount("num_hidden_layers"), imageSize: imageSize,
                            patchSize: patchSize, numChannels: try json.int("num_channels", default: 3, in: 1...16),
                            numFrames: numFrames, tubeletSize: tubelet,
                            useMeanPooling: try json.bool("use_mean_pooling", default: true))
        self.config = config
        let D = encoderConfig.hiddenSize, P = patchSize, C = config.numChannels
        let grid = imageSize / patchSize
        let tokens = (numFrames / tubelet) * grid * grid
        if let reason = Encoder(config: encoderConfig, layers: []).refusal(batch: 1, tokens: tokens, keepsProbabilities: false) {
            throw MMAttnError("\(numFrames) frames of \(imageSize)×\(imageSize) give \(tokens) tokens: \(reason)", file: json.file)
        }

        let prefix = try weights.prefix(among: ["videomae.", ""], probing: "embeddings.patch_embeddings.projection.weight")
        let w = weights.scoped(prefix)
        projection = Conv3d(weight: try w.tensor("embeddings.patch_embeddings.projection.weight", shape: [D, C, tubelet, P, P]),
                            bias: try w.tensor("embeddings.patch_embeddings.projection.bias", shape: [D]),
                            stride: (tubelet, P, P))
        positionEmbeddings = Self.sinusoidTable(positions: tokens, width: D)
        let qvBias = try json.bool("qv_bias", default: true)
        encoder = Encoder(config: encoderConfig, layers: try (0..<config.numLayers).map { i in
            try Self.layer(w, "encoder.layer.\(i)", config: encoderConfig, qvBias: qvBias)
        })
        layernorm = config.useMeanPooling ? nil : try w.layerNorm("layernorm", width: D, eps: encoderConfig.layerNormEps)
        let head = weights.scoped("")
        // fc_norm is an nn.LayerNorm with PyTorch's default eps, not the config's.
        fcNorm = config.useMeanPooling && head.contains("fc_norm.weight") ? try head.layerNorm("fc_norm", width: D, eps: 1e-5) : nil
        classifier = head.contains("classifier.weight")
            ? try head.linear("classifier", out: head.rows(of: "classifier.weight"), in: D) : nil
        labels = try json.labels(count: classifier?.outFeatures ?? 0, classifier: "classifier.weight")
    }

    /// One layer under `name`: `attention.attention.{query,key,value}` with the query and value
    /// biases stored as the published checkpoints have them (`q_bias`, `v_bias`) or as transformers
    /// 5 saves them (`query.bias`, `value.bias`); the key has none.
    static func layer(_ w: CheckpointScope, _ name: String, config: EncoderConfig, qvBias: Bool) throws -> EncoderLayer {
        let D = config.hiddenSize, I = config.intermediateSize, eps = config.layerNormEps
        let a = "\(name).attention.attention"
        func projection(_ part: String, published: String) throws -> Linear {
            let weight = try w.tensor("\(a).\(part).weight", shape: [D, D])
            guard qvBias else { return Linear(weight: weight, bias: nil, dtype: w.checkpoint.dtype) }
            let bias = w.contains("\(a).\(published)") ? "\(a).\(published)" : "\(a).\(part).bias"
            return Linear(weight: weight, bias: try w.tensor(bias, shape: [D]), dtype: w.checkpoint.dtype)
        }
        return EncoderLayer(
            attentionNorm: try w.layerNorm("\(name).layernorm_before", width: D, eps: eps),
            query: try projection("query", published: "q_bias"),
            key: Linear(weight: try w.tensor("\(a).key.weight", shape: [D, D]), bias: nil, dtype: w.checkpoint.dtype),
            value: try projection("value", published: "v_bias"),
            attentionOutput: try w.linear("\(name).attention.output.dense", out: D, in: D),
            mlpNorm: try w.layerNorm("\(name).layernorm_after", width: D, eps: eps),
            intermediate: try w.linear("\(name).intermediate.dense", out: I, in: D),
            output: try w.linear("\(name).output.dense", out: D, in: I))
    }

    /// transformers' `get_sinusoid_encoding_table(positions, width)`: angle p / 10000^(2⌊j/2⌋/width),
    /// sine on even columns, cosine on odd ones, in float64, then rounded to float32: [positions, width].
    static func sinusoidTable(positions: Int, width D: Int) -> Tensor {
        let table = Tensor(uninitialized: [positions, D])  // every element written
        let rates = (0..<D).map { j in pow(10000.0, 2 * Double(j / 2) / Double(D)) }
        for p in 0..<positions {
            for j in 0..<D {
                let angle = Double(p) / rates[j]
                table.data[p * D + j] = Float(j % 2 == 0 ? sin(angle) : cos(angle))
            }
        }
        return table
    }

    public var numFrames: Int { config.numFrames }
    public var frameSize: (height: Int, width: Int) { (config.imageSize, config.imageSize) }
    public var numChannels: Int { config.numChannels }
    public var hiddenSize: Int { config.encoder.hiddenSize }
    public var numLayers: Int { config.numLayers }
    public var numHeads: Int { config.encoder.numHeads }
    public var patchSize: Int { config.patchSize }
    public var defaultPooling: Pooling { .mean }

    /// Token embeddings of a clip ([F, C, H, W]): tubelets in (time, row, column) order plus the
    /// sinusoidal positions, [T, D].
    public func embed(_ pixels: Tensor) throws -> Tensor {
        try checkClip(pixels)
        let tokens = projection.tokens(pixels)  // [T, D]
        Kernels.add(positionEmbeddings.pointer, into: tokens.data, count: tokens.count)
        return tokens
    }

    public func forward(_ pixels: Tensor, options: EncoderOptions = EncoderOptions()) throws -> (lastHiddenState: Tensor, hiddenStates: [Tensor]) {
        let out = try encoder(try embed(pixels), options: options)
        let last = layernorm.map { $0(out.lastHiddenState) } ?? out.lastHiddenState  // [T, D]
        return (last, out.hiddenStates)
    }

    public func pool(_ lastHiddenState: Tensor, _ pooling: Pooling) -> Tensor {
        let pooled = pooling.apply(lastHiddenState)
        guard pooling == .mean, let fcNorm else { return pooled }
        return fcNorm(pooled)
    }

    public func logits(lastHiddenState: Tensor) throws -> Tensor {
        // With mean pooling: fc_norm(mean); without: the first token after the final layer norm.
        try classifierLogits(classifier, pool(lastHiddenState, config.useMeanPooling ? .mean : .cls))
    }
}
