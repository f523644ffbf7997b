import CBLAS
import Foundation

/// TimeSformer, as transformers' `TimesformerModel` / `TimesformerForVideoClassification`: a
/// patch-embedding convolution per frame, a [CLS] token, learned space and time position
/// embeddings, and layers of divided space-time attention (`divided_space_time`, the published
/// checkpoints) or joint attention over all tokens (`joint_space_time`); a final layer norm and a
/// linear classifier on [CLS].
///
/// Tokens are ordered as transformers orders them: [CLS], then patch-major, frame-minor (the token
/// of patch p in frame t is row 1 + p·F + t). A divided layer runs
/// - temporal attention: each patch position attends over its F frames, a batch of N sequences of
///   F consecutive rows (no mask, no copy); its output projection and `temporal_dense` are one
///   matrix, multiplied out at load;
/// - spatial attention: each frame's N patches and a copy of [CLS] attend among themselves, a batch
///   of F sequences of 1 + N rows gathered in frame-major order; the F [CLS] outputs are averaged;
/// - the MLP, as in ViT.
/// Computing either attention over all tokens with a mask would spend 8× (spatial, 8 frames) or
/// 196× (temporal, 14 × 14 patches) the scores it keeps, so the layer gathers rows once instead.
public final class TimeSformer: VideoModel {
    public enum AttentionType: String, Sendable {
        case dividedSpaceTime = "divided_space_time"
        case jointSpaceTime = "joint_space_time"
    }

    /// What config.json gives.
    public struct Config: Sendable {
        public var encoder: EncoderConfig
        public var numLayers: Int
        public var imageSize: Int
        public var patchSize: Int
        public var numChannels: Int
        public var numFrames: Int
        public var attentionType: AttentionType
    }

    /// A divided layer's temporal attention: `temporal_layernorm`, `temporal_attention.attention.qkv`,
    /// and `temporal_dense` ∘ `temporal_attention.output.dense` as one linear map.
    struct TemporalAttention: Sendable {
        let norm: LayerNorm  // temporal_layernorm: [D]
        let qkv: Linear      // temporal_attention.attention.qkv: [3D, D]
        let output: Linear   // temporal_dense.weight · temporal_attention.output.dense.weight: [D, D]
    }

    public let config: Config
    public let labels: [String]

    /// embeddings.patch_embeddings.projection ([D, C, P, P]) seen as a one-frame 3-D convolution,
    /// [D, C, 1, P, P], so all frames' patches are one GEMM.
    let projection: Conv3d
    let clsToken: Tensor                 // embeddings.cls_token: [1, 1, D]
    let positionEmbeddings: Tensor       // embeddings.position_embeddings: [1, 1 + N, D]
    let timeEmbeddings: Tensor           // embeddings.time_embeddings: [1, F, D]
    /// The spatial (or joint) attention and the MLP of each layer, in the shared layer form.
    let encoder: Encoder                 // encoder.layer.*
    let temporal: [TemporalAttention]    // encoder.layer.*.temporal_*; empty for joint attention
    let layernorm: LayerNorm             // layernorm: [D]
    let classifier: Linear?              // classifier: [L, D]

    public var family: ModelFamily { .timesformer }

    public init(config json: JSONFields, weights: Checkpoint) throws {
        let (encoderConfig, imageSize, patchSize) = try json.patchModel(defaultEps: 1e-6)
        let typeName = try json.string("attention_type") ?? AttentionType.dividedSpaceTime.rawValue
        guard let attentionType = AttentionType(rawValue: typeName) else {
            throw MMAttnError("attention_type \"\(typeName)\" is not supported (supported: divided_space_time, joint_space_time; "
                              + "space_only classifies each frame on its own)", file: json.file)
        }
        let config = Config(encoder: encoderConfig, numLayers: try json.layerCount("num_hidden_layers"), imageSize: imageSize,
                            patchSize: patchSize, numChannels: try json.int("num_channels", default: 3, in: 1...16),
                            numFrames: try json.int("num_frames", default: 8, in: 1...4096), attentionType: attentionType)
        self.config = config
        let D = encoderConfig.hiddenSize, P = patchSize, C = config.numChannels, F = config.numFrames
        let N = (imageSize / patchSize) * (imageSize / patchSize)
        let longest = attentionType == .jointSpaceTime ? 1 + N * F : 1 + N
        if let reason = Encoder(config: encoderConfig, layers: []).refusal(batch: 1, tokens: longest, keepsProbabilities: false) {
            throw MMAttnError("\(F) frames of \(imageSize)×\(imageSize): \(reason)", file: json.file)
        }

        let prefix = try weights.prefix(among: ["timesformer.", ""], probing: "embeddings.cls_token")
        let w = weights.scoped(prefix)
        projection = Conv3d(weight: try w.tensor("embeddings.patch_embeddings.projection.weight", shape: [D, C, P, P]).reshaped([D, C, 1, P, P]),
                            bias: try w.tensor("embeddings.patch_embeddings.projection.bias", shape: [D]), stride: (1, P, P))
        clsToken = try w.tensor("embeddings.cls_token", shape: [1, 1, D])
        positionEmbeddings = try w.tensor("embeddings.position_embeddings", shape: [1, 1 + N, D])
        timeEmbeddings = try w.tensor("embeddings.time_embeddings", shape: [1, F, D])
        let eps = encoderConfig.layerNormEps, I = encoderConfig.intermediateSize
        let qkvBias = try json.bool("qkv_bias", default: true)
        encoder = Encoder(config: encoderConfig, layers: try (0..<config.numLayers).map { i in
            let name = "encoder.layer.\(i)"
            return EncoderLayer(
                attentionNorm: .layerNorm(try w.layerNorm("\(name).layernorm_before", width: D, eps: eps)),
                projections: [try w.linear("\(name).attention.attention.qkv", out: 3 * D, in: D, bias: qkvBias)],
                attentionOutput: try w.linear("\(name).attention.output.dense", out: D, in: D),
                mlpNorm: .layerNorm(try w.layerNorm("\(name).layernorm_after", width: D, eps: eps)),
                intermediate: [try w.linear("\(name).intermediate.dense", out: I, in: D)],
                output: try w.linear("\(name).output.dense", out: D, in: I))
        })
        temporal = attentionType == .jointSpaceTime ? [] : try (0..<config.numLayers).map { i in
            let name = "encoder.layer.\(i)"
            return TemporalAttention(
                norm: try w.layerNorm("\(name).temporal_layernorm", width: D, eps: eps),
                qkv: try w.linear("\(name).temporal_attention.attention.qkv", out: 3 * D, in: D, bias: qkvBias),
                output: Self.compose(try w.linear("\(name).temporal_dense", out: D, in: D, dtype: .f32),
                                     after: try w.linear("\(name).temporal_attention.output.dense", out: D, in: D, dtype: .f32),
                                     dtype: weights.dtype))
        }
        layernorm = try w.layerNorm("layernorm", width: D, eps: eps)
        let head = weights.scoped("")
        classifier = head.contains("classifier.weight")
            ? try head.linear("classifier", out: head.rows(of: "classifier.weight"), in: D) : nil
        labels = try json.labels(count: classifier?.outFeatures ?? 0, classifier: "classifier.weight")
    }

    /// `outer` ∘ `inner` as one linear map: weight Wₒ·Wᵢ, bias Wₒ·bᵢ + bₒ (both [D, D] here).
    static func compose(_ outer: Linear, after inner: Linear, dtype: DType) -> Linear {
        let m = outer.outFeatures, k = outer.inFeatures, n = inner.inFeatures
        let weight = Tensor(uninitialized: [m, n])  // [m, n], written by the GEMM (beta 0)
        BLAS.prepare()
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    1, outer.weight.pointer, Int32(k), inner.weight.pointer, Int32(n), 0, weight.data, Int32(n))
        let bias = Tensor(zeros: [m])  // [m]
        if let b = outer.bias { bias.data.update(from: b.pointer, count: m) }
        if let b = inner.bias {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), 1, outer.weight.pointer, Int32(k), b.pointer, 1, 1, bias.data, 1)
        }
        return Linear(weight: weight, bias: bias, dtype: dtype)
    }

    public var numFrames: Int { config.numFrames }
    public var frameSize: (height: Int, width: Int) { (config.imageSize, config.imageSize) }
    public var numChannels: Int { config.numChannels }
    public var hiddenSize: Int { config.encoder.hiddenSize }
    public var numLayers: Int { config.numLayers }
    public var numHeads: Int { config.encoder.numHeads }
    public var patchSize: Int { config.patchSize }
    public var defaultPooling: Pooling { .cls }
    /// Patches per frame.
    public var patchesPerFrame: Int { positionEmbeddings.shape[1] - 1 }

    /// Token embeddings of a clip ([F, C, H, W]): [CLS] + its position, then each patch p of each
    /// frame t at row 1 + p·F + t with the patch's position and the frame's time embedding, [T, D].
    public func embed(_ pixels: Tensor) throws -> Tensor {
        try checkClip(pixels)
        let D = hiddenSize, F = numFrames, N = patchesPerFrame
        let patches = projection.tokens(pixels)        // [F·N, D], frame-major
        let x = Tensor(uninitialized: [1 + N * F, D])  // [T, D], every row written below
        let pos = positionEmbeddings.pointer, time = timeEmbeddings.pointer
        for d in 0..<D { x.data[d] = clsToken.pointer[d] + pos[d] }
        for t in 0..<F {
            for p in 0..<N {
                let row = x.data + (1 + p * F + t) * D, src = patches.pointer + (t * N + p) * D
                let pp = pos + (1 + p) * D, tt = time + t * D
                for d in 0..<D { row[d] = (src[d] + pp[d]) + tt[d] }
            }
        }
        return x
    }

    public func forward(_ pixels: Tensor, options: EncoderOptions = EncoderOptions()) throws -> (lastHiddenState: Tensor, hiddenStates: [Tensor]) {
        let x = try embed(pixels)
        if temporal.isEmpty {
            let out = try encoder(x, options: options)
            return (layernorm(out.lastHiddenState), out.hiddenStates)
        }
        let states = divided(x, options: options)
        return (layernorm(x), states)
    }

    /// The divided space-time layers over `x` ([T, D], updated in place); the hidden states
    /// `options` asks for. An attention sink receives each layer's spatial probabilities,
    /// [F, H, 1 + N, 1 + N], as transformers' `output_attentions` reports them.
    func divided(_ x: Tensor, options: EncoderOptions) -> [Tensor] {
        let c = config.encoder
        let D = c.hiddenSize, H = c.numHeads, dh = c.headDim, I = c.intermediateSize
        let F = numFrames, N = patchesPerFrame, T = 1 + N * F
        let S = 1 + N                        // tokens per frame in the spatial step
        let rows = max(N * F, F * S)         // the larger of the two attention batches
        let heads = AttentionHeads(heads: H, headDim: dh, queryStride: 3 * D, keyValueStride: 3 * D, outputStride: D)
        let scale = 1 / Float(dh).squareRoot()
        let temporalLayout = SequenceLayout.uniform(batch: N, tokens: F)
        let spatialLayout = SequenceLayout.uniform(batch: F, tokens: S)
        // Every buffer is fully overwritten by the operation that fills it.
        let gathered = Tensor(uninitialized: [rows, D])  // normed rows in attention order
        let qkv = Tensor(uninitialized: [rows, 3 * D])    // q | k | v
        let context = Tensor(uninitialized: [rows, D])    // attention output, attention order
        let normed = Tensor(uninitialized: [T, D])        // norm(x), then the context in token order
        let projected = Tensor(uninitialized: [T, D])
        let hidden = Tensor(uninitialized: [T, I])        // MLP inner activations
        // [F, H, S, S] spatial probabilities for the sink, reused across layers unless the sink keeps them.
        var probs: TensorStorage? = options.attentionSink != nil ? TensorStorage(uninitializedCount: F * H * S * S) : nil
        let workspace = AttentionWorkspace()
        /// q, k, v in `qkv` → `context`, by the fused kernel or (tests) the scalar reference.
        func attend(_ layout: SequenceLayout, probs: UnsafeMutablePointer<Float>?) {
            let q = qkv.data, k = qkv.data + D, v = qkv.data + 2 * D
            if options.referenceAttention {
                Attention.reference(q: q, k: k, v: v, out: context.data, layout: layout, heads: heads, scale: scale, mask: .none, probs: probs)
            } else {
                Attention.compute(q: q, k: k, v: v, out: context.data, layout: layout, heads: heads, scale: scale, mask: .none,
                                  probs: probs, workspace: workspace, dtype: encoder.dtype)
            }
        }
        var states: [Tensor] = []
        if options.hiddenStates { states.append(x.copy()) }

        for (index, (layer, temporal)) in zip(encoder.layers, temporal).enumerated() {
            // Temporal: N sequences of the F consecutive rows of one patch position.
            let patches = x.data + D
            temporal.norm.apply(patches, rows: N * F, into: gathered.data)
            temporal.qkv.apply(gathered.data, rows: N * F, into: qkv.data)
            attend(temporalLayout, probs: nil)
            temporal.output.apply(context.data, rows: N * F, into: projected.data)
            Kernels.add(projected.pointer, into: patches, count: N * F * D)

            // Spatial: F sequences of [CLS] and that frame's N patches, gathered frame-major.
            layer.attentionNorm.apply(x.data, rows: T, width: D, into: normed.data)
            Threads.parallelFor(F * S, grain: 64) { start, end in
                for r in start..<end {
                    let t = r / S, p = r % S
                    let source = p == 0 ? 0 : 1 + (p - 1) * F + t
                    (gathered.data + r * D).update(from: normed.data + source * D, count: D)
                }
            }
            layer.projections[0].apply(gathered.data, rows: F * S, into: qkv.data)
            if probs != nil && !isKnownUniquelyReferenced(&probs) {
                probs = TensorStorage(uninitializedCount: F * H * S * S)  // the sink kept the last layer's
            }
            attend(spatialLayout, probs: probs?.base)
            if let sink = options.attentionSink, let storage = probs { sink(index, Tensor(shape: [F, H, S, S], storage: storage)) }
            // Back to token order; [CLS] gets the mean of its F copies' outputs (the output
            // projection is affine, so averaging before it equals transformers' averaging after).
            let cls = normed.data
            cls.update(repeating: 0, count: D)
            for t in 0..<F { Kernels.add(context.pointer + t * S * D, into: cls, count: D) }
            for d in 0..<D { cls[d] /= Float(F) }
            Threads.parallelFor(N * F, grain: 64) { start, end in
                for r in start..<end {
                    let p = r / F, t = r % F
                    (normed.data + (1 + r) * D).update(from: context.data + (t * S + 1 + p) * D, count: D)
                }
            }
            layer.attentionOutput.apply(normed.data, rows: T, into: projected.data)
            layer.mlpNorm.addThenApply(projected.pointer, to: x.data, rows: T, width: D, into: normed.data)

            // MLP.
            layer.intermediate[0].apply(normed.data, rows: T, into: hidden.data, activation: c.activation)
            layer.output.apply(hidden.data, rows: T, into: projected.data)
            Kernels.add(projected.pointer, into: x.data, count: T * D)
            if options.hiddenStates { states.append(x.copy()) }
        }
        return states
    }

    public func pool(_ lastHiddenState: Tensor, _ pooling: Pooling) -> Tensor { pooling.apply(lastHiddenState) }

    public func logits(lastHiddenState: Tensor) throws -> Tensor {
        try classifierLogits(classifier, pool(lastHiddenState, .cls))
    }
}
