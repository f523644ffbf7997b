import Foundation

/// The Whisper encoder, as transformers' `WhisperEncoder`: two convolutions over the log-mel frames
/// (k = 3; the second with stride 2) each followed by exact GELU, the checkpoint's learned
/// `embed_positions`, pre-LN layers whose key projection has no bias, and a final layer norm.
/// Loads `WhisperForConditionalGeneration` (`model.encoder.*`), `WhisperModel` (`encoder.*`) or a
/// bare encoder; the decoder is ignored.
public final class WhisperEncoder: Sendable {
    public let config: EncoderConfig
    /// Mel bins per frame (80, or 128 for large-v3).
    public let numMelBins: Int
    /// Encoder positions per 30 s window (1500): input frames are twice as many.
    public let maxSourcePositions: Int

    let conv1: Conv1d               // conv1: [D, mels, 3]
    let conv2: Conv1d               // conv2: [D, D, 3], stride 2
    let embedPositions: Tensor      // embed_positions.weight: [1500, D]
    let encoder: Encoder            // layers.*
    let layerNorm: LayerNorm        // layer_norm: [D]

    /// The Whisper encoder's tensor names: unchanged in transformers 5, so the table is empty.
    public static let checkpointNames = CheckpointNames(family: "Whisper", [])

    /// The layer settings of the encoder or the decoder (`side`), from `<side>_attention_heads` and
    /// `<side>_ffn_dim`; pre-LN with nn.LayerNorm's default eps, which Whisper configs do not carry.
    static func layerConfig(_ json: JSONFields, side: String) throws -> EncoderConfig {
        var c = try json.encoderConfig(normPlacement: .pre, hiddenKeys: ["d_model"], headKeys: ["\(side)_attention_heads"],
                                       intermediateKeys: ["\(side)_ffn_dim"], activationKeys: ["activation_function"],
                                       epsKeys: [], defaultEps: 1e-5)
        c.layerNormEps = 1e-5
        return c
    }

    public init(config json: JSONFields, weights: Checkpoint) throws {
        let weights = try weights.renamed(by: Self.checkpointNames)
        let c = try Self.layerConfig(json, side: "encoder")
        config = c
        numMelBins = try json.int("num_mel_bins", default: 80, in: 1...1024)
        maxSourcePositions = try json.int("max_source_positions", default: 1500, in: 1...JSONFields.Limits.positions)
        let layers = try json.layerCount("encoder_layers")
        let D = c.hiddenSize, I = c.intermediateSize, eps = c.layerNormEps

        let w = weights.scoped(try weights.prefix(among: ["model.encoder.", "encoder.", ""], probing: "conv1.weight"))
        conv1 = Conv1d(weight: try w.tensor("conv1.weight", shape: [D, numMelBins, 3]), bias: try w.tensor("conv1.bias", shape: [D]),
                       stride: 1, padding: 1)
        conv2 = Conv1d(weight: try w.tensor("conv2.weight", shape: [D, D, 3]), bias: try w.tensor("conv2.bias", shape: [D]),
                       stride: 2, padding: 1)
        embedPositions = try w.tensor("embed_positions.weight", shape: [maxSourcePositions, D])
        encoder = Encoder(config: c, layers: try (0..<layers).map { try whisperLayer(w, "layers.\($0)", width: D, inner: I, eps: eps) })
        layerNorm = try w.layerNorm("layer_norm", width: D, eps: eps)
    }

    /// Transformer layers.
    public var numLayers: Int { encoder.layers.count }

    /// Input frames per window: 3000 for the usual 1500 positions.
    public var inputFrames: Int { maxSourcePositions * 2 }

    /// Encode one window of log-mel features ([mels, frames], frames = `inputFrames`) to the last
    /// hidden state after the final layer norm, [1500, D].
    public func forward(features: Tensor, options: EncoderOptions = EncoderOptions()) throws -> Tensor {
        try forwardWithStates(features: features, options: options).lastHiddenState
    }

    /// The last hidden state [1500, D] and, with `options.hiddenStates`, the embeddings and every
    /// layer's output as transformers reports them (the last one after the final layer norm).
    public func forwardWithStates(features: Tensor, options: EncoderOptions) throws -> (lastHiddenState: Tensor, hiddenStates: [Tensor]) {
        let D = config.hiddenSize
        let x2 = try embed(features: features)
        let out = try encoder(x2.reshaped([1, maxSourcePositions, D]), options: options)
        let last = layerNorm(out.lastHiddenState).reshaped([maxSourcePositions, D])
        var states = out.hiddenStates.map { $0.reshaped([maxSourcePositions, D]) }
        if !states.isEmpty { states[states.count - 1] = last }
        return (last, states)
    }

    /// Several windows at once, as one packed batch: each one's last hidden state, [1500, D].
    public func forward(windows: [Tensor]) throws -> [Tensor] {
        try encoder.run(try windows.map { try embed(features: $0) }).map { layerNorm($0) }
    }

    /// The convolutional front-end and positions of one window: the encoder's input, [1500, D].
    func embed(features: Tensor) throws -> Tensor {
        guard features.shape == [numMelBins, inputFrames] else {
            throw MMAttnError("Whisper expects log-mel features of shape [\(numMelBins), \(inputFrames)], got \(features.shape)")
        }
        let D = config.hiddenSize
        // The convolutions run time-major: [frames, mels].
        let frames = Tensor(zeros: [inputFrames, numMelBins])
        for m in 0..<numMelBins {
            for t in 0..<inputFrames { frames.data[t * numMelBins + m] = features.pointer[m * inputFrames + t] }
        }
        let x1 = conv1(timeMajor: frames)                   // [3000, D]
        Kernels.activate(x1.data, count: x1.count, .gelu)
        let x2 = conv2(timeMajor: x1)                       // [1500, D]
        Kernels.activate(x2.data, count: x2.count, .gelu)
        Kernels.add(embedPositions.pointer, into: x2.data, count: maxSourcePositions * D)
        return x2
    }
}

/// One Whisper layer (`WhisperEncoderLayer`, or with `crossAttention` a `WhisperDecoderLayer`):
/// pre-LN self-attention whose key projection has no bias, in the decoder `encoder_attn` (the
/// same form) on the encoder output, then the MLP.
private func whisperLayer(_ w: CheckpointScope, _ n: String, width D: Int, inner I: Int, eps: Float,
                          crossAttention: Bool = false) throws -> EncoderLayer {
    func attention(_ name: String) throws -> (q: Linear, k: Linear, v: Linear, out: Linear) {
        (try w.linear("\(n).\(name).q_proj", out: D, in: D), try w.linear("\(n).\(name).k_proj", out: D, in: D, bias: false),
         try w.linear("\(n).\(name).v_proj", out: D, in: D), try w.linear("\(n).\(name).out_proj", out: D, in: D))
    }
    let own = try attention("self_attn")
    var cross: CrossAttention?
    if crossAttention {
        let c = try attention("encoder_attn")
        cross = CrossAttention(norm: .layerNorm(try w.layerNorm("\(n).encoder_attn_layer_norm", width: D, eps: eps)),
                               query: c.q, key: c.k, value: c.v, output: c.out)
    }
    return EncoderLayer(attentionNorm: try w.layerNorm("\(n).self_attn_layer_norm", width: D, eps: eps),
                        query: own.q, key: own.k, value: own.v, attentionOutput: own.out, crossAttention: cross,
                        mlpNorm: try w.layerNorm("\(n).final_layer_norm", width: D, eps: eps),
                        intermediate: try w.linear("\(n).fc1", out: I, in: D), output: try w.linear("\(n).fc2", out: D, in: I))
}

/// The Whisper decoder, as transformers' `WhisperDecoder` with the output projection of
/// `WhisperForConditionalGeneration`: token and learned position embeddings, pre-LN layers with
/// causal self-attention (key projection without bias), cross-attention to the encoder output
/// (`encoder_attn`, the same form), an MLP, a final layer norm, and logits through `proj_out`
/// (tied to the token embeddings in every published checkpoint). Loads `model.decoder.*`
/// (`WhisperForConditionalGeneration`) or `decoder.*` (`WhisperModel`).
public final class WhisperDecoder: Sendable {
    public let config: EncoderConfig
    public let vocabSize: Int
    /// Positions the decoder has (448): prompt and generated tokens together.
    public let maxTargetPositions: Int

    let embedTokens: Tensor         // embed_tokens.weight: [V, D]
    let embedPositions: Tensor      // embed_positions.weight: [448, D]
    let embedScale: Float           // √D with scale_embedding, else 1
    let decoder: Encoder            // layers.*, causal, with encoder_attn
    let layerNorm: LayerNorm        // layer_norm: [D]
    let projOut: Linear             // proj_out.weight: [V, D] (tied: embed_tokens.weight)

    public init(config json: JSONFields, weights: Checkpoint) throws {
        let weights = try weights.renamed(by: WhisperEncoder.checkpointNames)
        var c = try WhisperEncoder.layerConfig(json, side: "decoder")
        c.causal = true
        config = c
        vocabSize = try json.int("vocab_size", default: 51865, in: 1...JSONFields.Limits.vocabulary)
        maxTargetPositions = try json.int("max_target_positions", default: 448, in: 1...JSONFields.Limits.positions)
        embedScale = try json.bool("scale_embedding", default: false) ? Float(c.hiddenSize).squareRoot() : 1
        let layers = try json.layerCount("decoder_layers")
        let D = c.hiddenSize, I = c.intermediateSize, eps = c.layerNormEps

        guard let scope = ["model.decoder.", "decoder."].first(where: { weights.contains($0 + "embed_tokens.weight") }) else {
            throw MMAttnError("the checkpoint has no Whisper decoder (no model.decoder.* or decoder.* tensors): transcription needs "
                              + "a WhisperForConditionalGeneration checkpoint such as openai/whisper-tiny", file: weights.source)
        }
        let w = weights.scoped(scope)
        embedTokens = try w.tensor("embed_tokens.weight", shape: [vocabSize, D])
        embedPositions = try w.tensor("embed_positions.weight", shape: [maxTargetPositions, D])
        decoder = Encoder(config: c, layers: try (0..<layers).map {
            try whisperLayer(w, "layers.\($0)", width: D, inner: I, eps: eps, crossAttention: true)
        })
        layerNorm = try w.layerNorm("layer_norm", width: D, eps: eps)
        let tied = try json.bool("tie_word_embeddings", default: true)
        let untied = tied ? nil : try weights.tensorIfPresent("proj_out.weight", shape: [vocabSize, D])
        projOut = Linear(weight: untied ?? embedTokens, bias: nil, dtype: weights.dtype)
    }

    /// Transformer layers.
    public var numLayers: Int { decoder.layers.count }
    /// Attention heads per layer.
    public var numHeads: Int { config.numHeads }

    /// An empty key/value cache for `batch` sequences of up to `maxTargetPositions` tokens.
    public func makeCache(batch: Int = 1) -> KeyValueCache {
        KeyValueCache(config: config, layers: numLayers, batch: batch, capacity: maxTargetPositions)
    }

    /// Every layer's cross-attention keys and values of encoder outputs ([1500, D] each, one per
    /// sequence), computed once per window.
    public func memory(_ encoderOutputs: [Tensor]) -> CrossMemory {
        let D = config.hiddenSize
        let rows = encoderOutputs.map { $0.count / D }
        let x = Tensor(uninitialized: [rows.reduce(0, +), D])  // [Σ frames, D]
        var row = 0
        for (e, n) in zip(encoderOutputs, rows) {
            (x.data + row * D).update(from: e.pointer, count: n * D)
            row += n
        }
        return decoder.crossMemory(x, layout: .packed(lengths: rows))
    }

    /// Feed each sequence's next tokens (`tokens`: B rows of n ids; the cache holds their
    /// prefix) and return the logits of every new position, [B, n, V], or of the last one only,
    /// [B, V], with `lastOnly`.
    public func step(_ tokens: [[Int32]], memory: CrossMemory, cache: KeyValueCache, lastOnly: Bool = true,
                     options: EncoderOptions = EncoderOptions()) throws -> Tensor {
        let D = config.hiddenSize, B = tokens.count, n = tokens.first?.count ?? 0, past = cache.length
        guard B == cache.batch, tokens.allSatisfy({ $0.count == n }), n > 0 else {
            throw MMAttnError("a decoder step takes the same number (≥ 1) of new tokens for each of the \(cache.batch) sequences")
        }
        guard past + n <= maxTargetPositions else {
            throw MMAttnError("\(past + n) decoder positions are more than the model's \(maxTargetPositions)")
        }
        let x = Tensor(uninitialized: [B, n, D])  // token + position embeddings
        for (b, ids) in tokens.enumerated() {
            for (i, id) in ids.enumerated() {
                guard id >= 0 && Int(id) < vocabSize else { throw MMAttnError("token id \(id) is outside the vocabulary of \(vocabSize)") }
                let row = x.data + (b * n + i) * D, e = embedTokens.pointer + Int(id) * D, p = embedPositions.pointer + (past + i) * D
                for d in 0..<D { row[d] = e[d] * embedScale + p[d] }
            }
        }
        let hidden = try decoder(x, memory: memory, cache: cache, options: options).lastHiddenState  // [B, n, D]
        let rows = lastOnly ? B : B * n
        let last = Tensor(uninitialized: [rows, D])  // the positions whose logits are wanted
        for r in 0..<rows {
            let source = lastOnly ? r * n + n - 1 : r
            layerNorm.apply(hidden.pointer + source * D, rows: 1, into: last.data + r * D)
        }
        let logits = Tensor(uninitialized: lastOnly ? [B, vocabSize] : [B, n, vocabSize])
        projOut.apply(last.data, rows: rows, into: logits.data)
        return logits
    }
}

/// A Whisper checkpoint for transcription: the encoder and the decoder of
/// `WhisperForConditionalGeneration`.
public final class WhisperSpeechModel: Sendable {
    public let encoder: WhisperEncoder
    public let decoder: WhisperDecoder

    public init(config json: JSONFields, weights: Checkpoint) throws {
        encoder = try WhisperEncoder(config: json, weights: weights)
        decoder = try WhisperDecoder(config: json, weights: weights)
        guard encoder.config.hiddenSize == decoder.config.hiddenSize else {
            throw MMAttnError("the encoder is \(encoder.config.hiddenSize) wide but the decoder \(decoder.config.hiddenSize)", file: json.file)
        }
    }
}
