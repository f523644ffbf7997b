import Foundation

/// Where a layer's layer norms sit relative to its residual connections.
public enum NormPlacement: Sendable {
    /// x + f(LN(x)): ViT, DeiT, Whisper, AST, ESM-2, GPT-2.
    case pre
    /// LN(x + f(x)): BERT, RoBERTa.
    case post
}

/// The hyper-parameters the shared `Encoder` needs; model families fill it from their config.json.
public struct EncoderConfig: Sendable {
    public var hiddenSize: Int
    public var numHeads: Int
    public var intermediateSize: Int
    public var layerNormEps: Float
    public var activation: Activation
    public var normPlacement: NormPlacement
    /// Rotary embeddings on q and k (ESM-2); absolute positions are added by the family before the encoder.
    public var rotary: Rotary?
    /// Causal self-attention (GPT-2) instead of bidirectional.
    public var causal: Bool

    public init(hiddenSize: Int, numHeads: Int, intermediateSize: Int, layerNormEps: Float,
                activation: Activation, normPlacement: NormPlacement, rotary: Rotary? = nil, causal: Bool = false) {
        self.hiddenSize = hiddenSize
        self.numHeads = numHeads
        self.intermediateSize = intermediateSize
        self.layerNormEps = layerNormEps
        self.activation = activation
        self.normPlacement = normPlacement
        self.rotary = rotary
        self.causal = causal
    }

    public var headDim: Int { hiddenSize / numHeads }
}

/// One transformer layer's weights, named by role. Each family maps its checkpoint names onto these
/// (ViT: `layernorm_before` → `attentionNorm`; BERT: `attention.output.LayerNorm` → `attentionNorm`).
public struct EncoderLayer: Sendable {
    /// Pre-LN: applied before attention. Post-LN: applied after the attention residual.
    public var attentionNorm: LayerNorm
    public var query: Linear            // [D, D]
    public var key: Linear              // [D, D]
    public var value: Linear            // [D, D]
    public var attentionOutput: Linear  // [D, D]
    /// Pre-LN: applied before the MLP. Post-LN: applied after the MLP residual.
    public var mlpNorm: LayerNorm
    public var intermediate: Linear     // [I, D]
    public var output: Linear           // [D, I]

    public init(attentionNorm: LayerNorm, query: Linear, key: Linear, value: Linear, attentionOutput: Linear,
                mlpNorm: LayerNorm, intermediate: Linear, output: Linear) {
        self.attentionNorm = attentionNorm
        self.query = query
        self.key = key
        self.value = value
        self.attentionOutput = attentionOutput
        self.mlpNorm = mlpNorm
        self.intermediate = intermediate
        self.output = output
    }
}

/// What a forward pass should hand back besides the last hidden state.
public struct EncoderOptions {
    /// Keep the input to the first layer and every layer's output (`output_hidden_states`).
    public var hiddenStates: Bool
    /// Keep only these states, by index: 0 is the input to the first layer, l the output of layer
    /// l (1-based). They are returned in `EncoderOutput.keptStates`; others are never copied.
    public var keptStates: Set<Int>
    /// Called with (layer index, probabilities [B, H, T, T]) as each layer computes them, so callers can
    /// reduce attention maps (ESM contacts) without keeping all layers in memory. The encoder reuses
    /// the buffer for the next layer unless the sink keeps a reference to the tensor.
    public var attentionSink: ((Int, Tensor) -> Void)?
    /// Use the scalar reference attention instead of the fast kernel (tests only).
    public var referenceAttention: Bool

    public init(hiddenStates: Bool = false, keptStates: Set<Int> = [], attentionSink: ((Int, Tensor) -> Void)? = nil,
                referenceAttention: Bool = false) {
        self.hiddenStates = hiddenStates
        self.keptStates = keptStates
        self.attentionSink = attentionSink
        self.referenceAttention = referenceAttention
    }
}

public struct EncoderOutput {
    /// The last layer's output, [B, T, D] (any final layer norm is the family's to apply).
    public var lastHiddenState: Tensor
    /// With `hiddenStates`: the input embeddings then each layer's output, `layers + 1` tensors [B, T, D].
    public var hiddenStates: [Tensor]
    /// The states named in `EncoderOptions.keptStates`, by index (0 = input), each [B, T, D].
    public var keptStates: [Int: Tensor]
}

/// The one transformer layer stack every modality runs through.
public struct Encoder: Sendable {
    public let config: EncoderConfig
    public let layers: [EncoderLayer]

    public init(config: EncoderConfig, layers: [EncoderLayer]) {
        self.config = config
        self.layers = layers
    }

    /// Most working memory attention may take (bytes), on any machine.
    public static let attentionMemoryLimit: Double = 8e9

    /// Bytes of attention working memory that B sequences of T tokens need at least: every head's
    /// probabilities when they are handed to an attention sink (the scores are computed in place
    /// there), else one T×T score matrix. The count does not depend on the machine: the kernel runs
    /// fewer heads at once when one score matrix per thread would pass `attentionMemoryLimit`.
    public func attentionBytes(batch B: Int, tokens T: Int, keepsProbabilities: Bool) -> Double {
        Double(T) * Double(T) * 4 * Double(keepsProbabilities ? B * config.numHeads : 1)
    }

    /// Run the layers over `embeddings` ([B, T, D]) with the padding `mask` gives (a causal config
    /// makes any mask causal too). Throws, before allocating, when attention over T tokens would
    /// need more than `attentionMemoryLimit`.
    public func callAsFunction(_ embeddings: Tensor, mask: AttentionMask = .none,
                               options: EncoderOptions = EncoderOptions()) throws -> EncoderOutput {
        let B = embeddings.shape[0], T = embeddings.shape[1], D = config.hiddenSize, H = config.numHeads
        let attentionBytes = attentionBytes(batch: B, tokens: T, keepsProbabilities: options.attentionSink != nil)
        guard attentionBytes <= Encoder.attentionMemoryLimit else {
            throw MMAttnError(String(format: "a sequence of %d tokens needs %.1f GB for attention (limit %.0f GB); use a shorter input", T, attentionBytes / 1e9, Encoder.attentionMemoryLimit / 1e9))
        }
        let rows = B * T
        let geometry = AttentionGeometry(batch: B, tokens: T, heads: H, headDim: config.headDim)
        let effectiveMask = config.causal ? mask.addingCausal : mask
        let scale = 1 / Float(config.headDim).squareRoot()
        let rotaryTables = config.rotary?.tables(tokens: T)

        // Every buffer below is fully overwritten by the operation that fills it.
        let x = embeddings.copy()                                         // [B, T, D] residual stream
        let normed = Tensor(uninitialized: [rows, D])                     // LN(x)
        let q = Tensor(uninitialized: [rows, D])                          // [B·T, H·dh]
        let k = Tensor(uninitialized: [rows, D])                          // [B·T, H·dh]
        let v = Tensor(uninitialized: [rows, D])                          // [B·T, H·dh]
        let context = Tensor(uninitialized: [rows, D])                    // attention output before the projection
        let projected = Tensor(uninitialized: [rows, D])                  // [B·T, D]
        let hidden = Tensor(uninitialized: [rows, config.intermediateSize])  // [B·T, I] MLP inner activations
        // [B, H, T, T] attention probabilities for the sink, reused across layers unless the sink keeps them.
        var probs: TensorStorage? = options.attentionSink != nil ? TensorStorage(uninitializedCount: B * H * T * T) : nil

        var states: [Tensor] = []
        var kept: [Int: Tensor] = [:]
        func record(_ index: Int) {
            guard options.hiddenStates || options.keptStates.contains(index) else { return }
            let state = x.copy()  // [B, T, D]
            if options.hiddenStates { states.append(state) }
            if options.keptStates.contains(index) { kept[index] = state }
        }
        record(0)

        for (index, layer) in layers.enumerated() {
            let pre = config.normPlacement == .pre
            let attnIn: UnsafePointer<Float> = pre ? UnsafePointer(normed.data) : UnsafePointer(x.data)
            if pre { layer.attentionNorm.apply(x.data, rows: rows, into: normed.data) }
            layer.query.apply(attnIn, rows: rows, into: q.data)
            layer.key.apply(attnIn, rows: rows, into: k.data)
            layer.value.apply(attnIn, rows: rows, into: v.data)
            if let rotary = config.rotary, let rotaryTables {
                rotary.apply(q: q.data, k: k.data, batch: B, heads: H, tables: rotaryTables)
            }
            if probs != nil && !isKnownUniquelyReferenced(&probs) {
                probs = TensorStorage(uninitializedCount: B * H * T * T)  // the sink kept the last layer's
            }
            if options.referenceAttention {
                Attention.reference(q: q.data, k: k.data, v: v.data, out: context.data, geometry: geometry,
                                    scale: scale, mask: effectiveMask, probs: probs?.base)
            } else {
                Attention.multiHead(q: q.data, k: k.data, v: v.data, out: context.data, geometry: geometry,
                                    scale: scale, mask: effectiveMask, probs: probs?.base)
            }
            if let sink = options.attentionSink, let storage = probs {
                sink(index, Tensor(shape: [B, H, T, T], storage: storage))
            }
            layer.attentionOutput.apply(context.data, rows: rows, into: projected.data)
            Kernels.add(projected.pointer, into: x.data, count: rows * D)
            if !pre { layer.attentionNorm.apply(x.data, rows: rows, into: x.data) }

            let mlpIn: UnsafePointer<Float> = pre ? UnsafePointer(normed.data) : UnsafePointer(x.data)
            if pre { layer.mlpNorm.apply(x.data, rows: rows, into: normed.data) }
            layer.intermediate.apply(mlpIn, rows: rows, into: hidden.data)
            Kernels.activate(hidden.data, count: hidden.count, config.activation)
            layer.output.apply(hidden.data, rows: rows, into: projected.data)
            Kernels.add(projected.pointer, into: x.data, count: rows * D)
            if !pre { layer.mlpNorm.apply(x.data, rows: rows, into: x.data) }
            record(index + 1)
        }
        return EncoderOutput(lastHiddenState: x, hiddenStates: states, keptStates: kept)
    }
}
