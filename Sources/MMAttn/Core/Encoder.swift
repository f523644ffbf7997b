import Foundation

/// Where a layer's layer norms sit relative to its residual connections.
public enum NormPlacement: Sendable {
    /// x + f(LN(x)): ViT, DeiT, Whisper, AST, ESM-2, GPT-2.
    case pre
    /// LN(x + f(x)): BERT, RoBERTa.
    case post
}

/// The feed-forward sub-layer's form.
public enum MLPKind: Sendable {
    /// output(act(intermediate(x))).
    case plain
    /// output(act(a)·b) with [a; b] = intermediate(x), [2I] wide: GeGLU (ModernBERT), SwiGLU (Qwen).
    case gated
}

/// The hyper-parameters the shared `Encoder` needs; model families fill it from their config.json.
public struct EncoderConfig: Sendable {
    public var hiddenSize: Int
    public var numHeads: Int
    /// Key/value heads (fewer than `numHeads`: grouped-query attention).
    public var keyValueHeads: Int
    /// Width of each head; heads·headDim may differ from the hidden size (Qwen3).
    public var headDim: Int
    public var intermediateSize: Int
    public var layerNormEps: Float
    public var activation: Activation
    public var normPlacement: NormPlacement
    public var mlp: MLPKind
    /// Rotary embeddings on q and k (ESM-2, ModernBERT, Qwen3), unless a layer brings its own;
    /// absolute positions are added by the family before the encoder.
    public var rotary: Rotary?
    /// Causal self-attention (GPT-2, Qwen3) instead of bidirectional.
    public var causal: Bool

    public init(hiddenSize: Int, numHeads: Int, keyValueHeads: Int? = nil, headDim: Int? = nil, intermediateSize: Int,
                layerNormEps: Float, activation: Activation, normPlacement: NormPlacement, mlp: MLPKind = .plain,
                rotary: Rotary? = nil, causal: Bool = false) {
        self.hiddenSize = hiddenSize
        self.numHeads = numHeads
        self.keyValueHeads = keyValueHeads ?? numHeads
        self.headDim = headDim ?? hiddenSize / numHeads
        self.intermediateSize = intermediateSize
        self.layerNormEps = layerNormEps
        self.activation = activation
        self.normPlacement = normPlacement
        self.mlp = mlp
        self.rotary = rotary
        self.causal = causal
    }

    /// Columns of the fused q, k, v projection: (H + 2G)·dh.
    public var projectionWidth: Int { (numHeads + 2 * keyValueHeads) * headDim }
}

/// A decoder layer's attention to another sequence (the encoder's output, the "memory"): its
/// queries come from the layer's own stream, its keys and values from the memory, projected once
/// per memory (`Encoder.crossMemory`). Whisper's `encoder_attn`, BART's `encoder_attn`.
public struct CrossAttention: Sendable {
    /// Pre-LN: applied before the sub-layer. Post-LN: after its residual.
    public var norm: Norm
    public var query: Linear          // [H·dh, D]
    /// k and v side by side, [2·G·dh] columns of the memory's width, in one or more parts.
    public var keyValue: [Linear]
    public var output: Linear         // [D, H·dh]

    public init(norm: Norm, query: Linear, key: Linear, value: Linear, output: Linear) {
        self.norm = norm
        self.query = query
        self.keyValue = [key, value]
        self.output = output
    }
}

/// The keys and values of a memory (an encoder's output) for every decoder layer, computed once
/// and attended by each new decoder token.
public struct CrossMemory: @unchecked Sendable {
    /// How the memory's rows group into sequences (one per decoder sequence).
    public let layout: SequenceLayout
    /// Per layer: [memory rows, 2·G·dh], k | v.
    public let keyValues: [Tensor]
}

/// What a decoder keeps between steps: every layer's self-attention keys and values of the
/// positions decoded so far, so a step costs its new rows, not the whole prefix again.
public final class KeyValueCache {
    // One decoding loop owns a cache (not Sendable: it is not shared between threads).
    /// Sequences decoded side by side.
    public let batch: Int
    /// Positions each sequence may hold.
    public let capacity: Int
    /// Positions cached so far (the same for every sequence).
    public internal(set) var length = 0
    /// Per layer: [batch·capacity, 2·G·dh], k | v, sequence b's positions from row b·capacity.
    let layers: [Tensor]
    /// The attention kernel's tiles, kept for every step of the loop that owns the cache.
    let workspace = AttentionWorkspace()

    public init(config: EncoderConfig, layers: Int, batch: Int = 1, capacity: Int) {
        self.batch = batch
        self.capacity = capacity
        let width = 2 * config.keyValueHeads * config.headDim
        self.layers = (0..<layers).map { _ in Tensor(uninitialized: [batch * capacity, width]) }
    }

    /// Forget every position (the buffers are kept).
    public func reset() { length = 0 }
}

/// One transformer layer's weights, named by role. Each family maps its checkpoint names onto these
/// (ViT: `layernorm_before` → `attentionNorm`; BERT: `attention.output.LayerNorm` → `attentionNorm`).
public struct EncoderLayer: Sendable {
    /// Pre-LN: applied before attention. Post-LN: applied after the attention residual.
    public var attentionNorm: Norm
    /// q, k and v side by side, [(H + 2G)·dh] columns: one Linear where the checkpoint stores them
    /// fused (one GEMM), else one per part, each writing its own columns.
    public var projections: [Linear]
    /// Per-head RMSNorm of q and k before the rotation (Qwen3), [dh].
    public var queryNorm: RMSNorm?
    public var keyNorm: RMSNorm?
    public var attentionOutput: Linear  // [D, H·dh]
    /// Pre-LN: applied before the MLP. Post-LN: applied after the MLP residual.
    public var mlpNorm: Norm
    /// [I, D], or [2I, D] for a gated MLP (the activated half first), in one or more parts.
    public var intermediate: [Linear]
    public var output: Linear           // [D, I]
    /// This layer's mask besides the config's causality (ModernBERT's local layers: a window).
    public var mask: AttentionMask
    /// This layer's rotary embedding when it differs from the config's (ModernBERT: two bases).
    public var rotary: Rotary?
    /// Attention to a memory between self-attention and the MLP (decoders: Whisper).
    public var crossAttention: CrossAttention?

    /// A layer with separate q, k and v projections, layer norms and a plain MLP.
    public init(attentionNorm: LayerNorm, query: Linear, key: Linear, value: Linear, attentionOutput: Linear,
                crossAttention: CrossAttention? = nil, mlpNorm: LayerNorm, intermediate: Linear, output: Linear) {
        self.init(attentionNorm: .layerNorm(attentionNorm), projections: [query, key, value],
                  attentionOutput: attentionOutput, crossAttention: crossAttention, mlpNorm: .layerNorm(mlpNorm),
                  intermediate: [intermediate], output: output)
    }

    public init(attentionNorm: Norm, projections: [Linear], queryNorm: RMSNorm? = nil, keyNorm: RMSNorm? = nil,
                attentionOutput: Linear, crossAttention: CrossAttention? = nil, mlpNorm: Norm, intermediate: [Linear],
                output: Linear, mask: AttentionMask = .none, rotary: Rotary? = nil) {
        self.attentionNorm = attentionNorm
        self.projections = projections
        self.queryNorm = queryNorm
        self.keyNorm = keyNorm
        self.attentionOutput = attentionOutput
        self.mlpNorm = mlpNorm
        self.intermediate = intermediate
        self.output = output
        self.mask = mask
        self.rotary = rotary
        self.crossAttention = crossAttention
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
    /// Called with (layer index, cross-attention probabilities [B, H, T, memory tokens]) in decoder
    /// layers, the buffer reused as for `attentionSink`. Only the layers in `crossAttentionLayers`
    /// (all when nil) compute probabilities; the others keep the fused kernel.
    public var crossAttentionSink: ((Int, Tensor) -> Void)?
    public var crossAttentionLayers: Set<Int>?
    /// Use the scalar reference attention instead of the fast kernel (tests only).
    public var referenceAttention: Bool

    public init(hiddenStates: Bool = false, keptStates: Set<Int> = [], attentionSink: ((Int, Tensor) -> Void)? = nil,
                crossAttentionSink: ((Int, Tensor) -> Void)? = nil, crossAttentionLayers: Set<Int>? = nil,
                referenceAttention: Bool = false) {
        self.hiddenStates = hiddenStates
        self.keptStates = keptStates
        self.attentionSink = attentionSink
        self.crossAttentionSink = crossAttentionSink
        self.crossAttentionLayers = crossAttentionLayers
        self.referenceAttention = referenceAttention
    }
}

public struct EncoderOutput {
    /// The last layer's output, shaped as the input ([B, T, D] or packed [rows, D]); any final
    /// norm is the family's to apply.
    public var lastHiddenState: Tensor
    /// With `hiddenStates`: the input embeddings then each layer's output, `layers + 1` tensors.
    public var hiddenStates: [Tensor]
    /// The states named in `EncoderOptions.keptStates`, by index (0 = input).
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

    /// The number type the layers compute in (their Linear layers'); attention follows it.
    public var dtype: DType { layers.first?.attentionOutput.dtype ?? .f32 }

    /// Most memory the attention probabilities handed to a sink may take (bytes), on any machine.
    /// Attention itself needs none beyond a small tile per thread.
    public static let attentionMemoryLimit: Double = 8e9

    /// The longest sequence one forward pass takes. Memory is linear in the length, but attention
    /// time grows with its square: at 131,072 tokens one layer of a 768-wide model is about
    /// 5·10¹³ FLOP, minutes per layer on a laptop.
    public static let maxTokens = 1 << 17

    /// Why sequences of up to `tokens` tokens cannot run (nil when they can): longer than
    /// `maxTokens`, or attention maps for a sink that would pass `attentionMemoryLimit`.
    public func refusal(batch B: Int, tokens T: Int, keepsProbabilities: Bool) -> String? {
        if T > Encoder.maxTokens {
            return "\(T) tokens is more than the \(Encoder.maxTokens) one sequence may have (attention time grows with the square of the length)"
        }
        let bytes = attentionBytes(batch: B, tokens: T, keepsProbabilities: keepsProbabilities)
        if bytes > Encoder.attentionMemoryLimit {
            return String(format: "attention maps over %d tokens would need %.1f GB (limit %.0f GB)", T, bytes / 1e9, Encoder.attentionMemoryLimit / 1e9)
        }
        return nil
    }

    /// Bytes of attention working memory that B sequences of at most T tokens need: every head's
    /// probabilities when they are handed to an attention sink, else the fused kernel's tiles (a
    /// constant per thread, counted as zero here).
    public func attentionBytes(batch B: Int, tokens T: Int, keepsProbabilities: Bool) -> Double {
        keepsProbabilities ? Double(T) * Double(T) * 4 * Double(B * config.numHeads) : 0
    }

    /// Run the layers over `embeddings`: [B, T, D] (every item T tokens long, or right-padded as
    /// `layout` says), [T, D] (one sequence), or a packed [rows, D] with its `layout`. A causal
    /// config makes every layer causal. Throws, before allocating, for the inputs `refusal` names
    /// and for sequences that do not fit a layer's attention grid.
    ///
    /// Decoders: layers with cross-attention attend to `memory` (from `crossMemory`). With a
    /// `cache`, `embeddings` are each sequence's next tokens (a uniform [B, n, D]): their keys and
    /// values join the cache and self-attention sees every cached position, so each step costs its
    /// own rows; the cache's length grows by n.
    public func callAsFunction(_ embeddings: Tensor, layout: SequenceLayout? = nil, memory: CrossMemory? = nil,
                               cache: KeyValueCache? = nil, options: EncoderOptions = EncoderOptions()) throws -> EncoderOutput {
        let D = config.hiddenSize, H = config.numHeads, G = config.keyValueHeads, dh = config.headDim
        // Without a layout: [B, T, D] is B sequences of T tokens, [T, D] one sequence.
        let layout = layout ?? (embeddings.shape.count == 3 ? .uniform(batch: embeddings.shape[0], tokens: embeddings.shape[1])
                                                            : .uniform(batch: 1, tokens: embeddings.count / D))
        precondition(embeddings.count == layout.rows * D, "embeddings \(embeddings.shape) do not match \(layout.rows) rows of width \(D)")
        if let reason = refusal(batch: layout.count, tokens: layout.maxLength, keepsProbabilities: options.attentionSink != nil) {
            throw MMAttnError(reason + "; use a shorter input")
        }
        for grid in layers.compactMap(\.mask.grid) {
            if let n = layout.lengths.first(where: { $0 != grid.tokens }) {
                throw MMAttnError("a sequence of \(n) tokens does not fit the attention grid of \(grid.tokens) tokens")
            }
        }
        if layers.contains(where: { $0.crossAttention != nil }) {
            guard let memory, memory.layout.count == layout.count, memory.keyValues.count == layers.count else {
                throw MMAttnError("decoder layers attend to an encoder output: pass one memory per sequence")
            }
        }
        // With a cache: the new rows' keys go to cache rows past..<past+n of each sequence, and
        // self-attention reads the cache (keys laid out as a padded batch of `capacity` rows).
        let past = cache?.length ?? 0
        var cachedKeys: SequenceLayout?
        if let cache {
            let n = layout.lengths.first ?? 0
            guard layout == .uniform(batch: cache.batch, tokens: n), cache.layers.count == layers.count else {
                throw MMAttnError("a cached step takes the same number of new tokens for each of the cache's \(cache.batch) sequences")
            }
            guard past + n <= cache.capacity else {
                throw MMAttnError("\(past + n) positions do not fit the cache of \(cache.capacity)")
            }
            cachedKeys = .padded(tokens: cache.capacity, lengths: Array(repeating: past + n, count: cache.batch))
        }
        let rows = layout.rows, W = config.projectionWidth, I = config.intermediateSize
        let kvWidth = 2 * G * dh
        let heads = AttentionHeads(heads: H, keyValueHeads: G, headDim: dh, queryStride: W,
                                   keyValueStride: cachedKeys == nil ? W : kvWidth, outputStride: H * dh)
        let crossHeads = AttentionHeads(heads: H, keyValueHeads: G, headDim: dh, queryStride: H * dh,
                                        keyValueStride: kvWidth, outputStride: H * dh)
        let scale = 1 / Float(dh).squareRoot()
        let positions = past == 0 ? layout.positions : layout.positions.map { $0 + Int32(past) }  // [rows]
        var rotaryTables: [(Rotary, Rotary.Tables)] = []
        for rotary in [config.rotary] + layers.map(\.rotary) {
            if let rotary, !rotaryTables.contains(where: { $0.0 == rotary }) {
                rotaryTables.append((rotary, rotary.tables(tokens: past + (layout.paddedTokens ?? max(layout.maxLength, 1)))))
            }
        }

        // Every buffer below is fully overwritten by the operation that fills it.
        let x = embeddings.copy()                                      // residual stream, [rows, D]
        let normed = Tensor(uninitialized: [rows, D])                  // norm(x)
        let qkv = Tensor(uninitialized: [rows, W])                     // [rows, (H + 2G)·dh]: q | k | v
        let context = Tensor(uninitialized: [rows, H * dh])            // attention output before the projection
        let projected = Tensor(uninitialized: [rows, D])               // [rows, D]
        let crossQuery = memory == nil ? nil : Tensor(uninitialized: [rows, H * dh])  // cross-attention queries
        let gated = config.mlp == .gated
        let hidden = Tensor(uninitialized: [rows, gated ? 2 * I : I])  // MLP inner activations
        let gatedOut = gated ? Tensor(uninitialized: [rows, I]) : nil  // act(a)·b
        let workspace = cache?.workspace ?? AttentionWorkspace()
        // [S, H, T, Tk] attention probabilities for the sinks, reused across layers unless a sink keeps them.
        let T = layout.maxLength, Tk = cachedKeys?.maxLength ?? T, Tm = memory?.layout.maxLength ?? 0
        var probs: TensorStorage? = options.attentionSink != nil ? TensorStorage(uninitializedCount: layout.count * H * T * Tk) : nil
        var crossProbs: TensorStorage? = options.crossAttentionSink != nil && memory != nil
            ? TensorStorage(uninitializedCount: layout.count * H * T * Tm) : nil

        var states: [Tensor] = []
        var kept: [Int: Tensor] = [:]
        func record(_ index: Int) {
            guard options.hiddenStates || options.keptStates.contains(index) else { return }
            let state = x.copy()
            if options.hiddenStates { states.append(state) }
            if options.keptStates.contains(index) { kept[index] = state }
        }
        record(0)

        let pre = config.normPlacement == .pre
        if pre, let first = layers.first { first.attentionNorm.apply(x.data, rows: rows, width: D, into: normed.data) }
        positions.withUnsafeBufferPointer { positions in
            for (index, layer) in layers.enumerated() {
                let attnIn: UnsafePointer<Float> = pre ? UnsafePointer(normed.data) : UnsafePointer(x.data)
                Linear.apply(layer.projections, attnIn, rows: rows, into: qkv.data, stride: W)
                let q = qkv.data, k = qkv.data + H * dh, v = qkv.data + (H + G) * dh
                layer.queryNorm?.applyPerHead(q, rows: rows, stride: W, heads: H)
                layer.keyNorm?.applyPerHead(k, rows: rows, stride: W, heads: G)
                if let rotary = layer.rotary ?? config.rotary, let tables = rotaryTables.first(where: { $0.0 == rotary })?.1 {
                    rotary.apply(q, rows: rows, stride: W, heads: H, positions: positions.baseAddress!, tables: tables)
                    rotary.apply(k, rows: rows, stride: W, heads: G, positions: positions.baseAddress!, tables: tables)
                }
                // Keys and values: the new rows', or the cache's after the new rows join it.
                var keys: UnsafePointer<Float> = UnsafePointer(k), values: UnsafePointer<Float> = UnsafePointer(v)
                if let cache, let cachedKeys {
                    let stored = cache.layers[index].data  // [B·capacity, 2·G·dh]
                    for b in 0..<cache.batch {
                        for i in 0..<(rows / cache.batch) {
                            let r = layout.starts[b] + i, to = stored + (cachedKeys.starts[b] + past + i) * kvWidth
                            to.update(from: qkv.data + r * W + H * dh, count: kvWidth)
                        }
                    }
                    keys = UnsafePointer(stored)
                    values = UnsafePointer(stored + G * dh)
                }
                if probs != nil && !isKnownUniquelyReferenced(&probs) {
                    probs = TensorStorage(uninitializedCount: layout.count * H * T * Tk)  // the sink kept the last layer's
                }
                let mask = config.causal ? layer.mask.addingCausal : layer.mask
                attend(q: q, k: keys, v: values, out: context.data, layout: layout, keys: cachedKeys, heads: heads,
                       scale: scale, mask: mask, probs: probs?.base, workspace: workspace, options: options)
                if let sink = options.attentionSink, let storage = probs {
                    sink(index, Tensor(shape: [layout.count, H, T, Tk], storage: storage))
                }
                layer.attentionOutput.apply(context.data, rows: rows, into: projected.data)
                // The residual add, fused with the next sub-layer's norm (pre-LN) or this one's (post-LN).
                if pre {
                    (layer.crossAttention?.norm ?? layer.mlpNorm).addThenApply(projected.pointer, to: x.data, rows: rows, width: D, into: normed.data)
                } else {
                    layer.attentionNorm.addThenApply(projected.pointer, to: x.data, rows: rows, width: D, into: x.data)
                }

                if let cross = layer.crossAttention, let memory, let crossQuery {
                    let crossIn: UnsafePointer<Float> = pre ? UnsafePointer(normed.data) : UnsafePointer(x.data)
                    cross.query.apply(crossIn, rows: rows, into: crossQuery.data)
                    let kv = memory.keyValues[index].pointer  // [memory rows, 2·G·dh]
                    let wanted = options.crossAttentionLayers?.contains(index) ?? true
                    if crossProbs != nil && wanted && !isKnownUniquelyReferenced(&crossProbs) {
                        crossProbs = TensorStorage(uninitializedCount: layout.count * H * T * Tm)
                    }
                    let sinkProbs = wanted ? crossProbs : nil
                    attend(q: crossQuery.data, k: kv, v: kv + G * dh, out: context.data, layout: layout, keys: memory.layout,
                           heads: crossHeads, scale: scale, mask: .none, probs: sinkProbs?.base, workspace: workspace, options: options)
                    if let sink = options.crossAttentionSink, let storage = sinkProbs {
                        sink(index, Tensor(shape: [layout.count, H, T, Tm], storage: storage))
                    }
                    cross.output.apply(context.data, rows: rows, into: projected.data)
                    if pre {
                        layer.mlpNorm.addThenApply(projected.pointer, to: x.data, rows: rows, width: D, into: normed.data)
                    } else {
                        cross.norm.addThenApply(projected.pointer, to: x.data, rows: rows, width: D, into: x.data)
                    }
                }

                let mlpIn: UnsafePointer<Float> = pre ? UnsafePointer(normed.data) : UnsafePointer(x.data)
                if let gatedOut {
                    Linear.apply(layer.intermediate, mlpIn, rows: rows, into: hidden.data, stride: 2 * I)
                    Kernels.gate(hidden.data, rows: rows, width: I, config.activation, into: gatedOut.data)
                    layer.output.apply(gatedOut.data, rows: rows, into: projected.data)
                } else {
                    Linear.apply(layer.intermediate, mlpIn, rows: rows, into: hidden.data, stride: I, activation: config.activation)
                    layer.output.apply(hidden.data, rows: rows, into: projected.data)
                }
                if pre {
                    // The residual add, fused with the next layer's first norm.
                    if index + 1 < layers.count {
                        layers[index + 1].attentionNorm.addThenApply(projected.pointer, to: x.data, rows: rows, width: D, into: normed.data)
                    } else {
                        Kernels.add(projected.pointer, into: x.data, count: rows * D)
                    }
                } else {
                    layer.mlpNorm.addThenApply(projected.pointer, to: x.data, rows: rows, width: D, into: x.data)
                }
                record(index + 1)
            }
        }
        if let cache { cache.length += layout.lengths.first ?? 0 }
        return EncoderOutput(lastHiddenState: x, hiddenStates: states, keptStates: kept)
    }

    /// Attention through the fused kernel, or the scalar reference when the options ask for it.
    private func attend(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                        layout: SequenceLayout, keys: SequenceLayout?, heads: AttentionHeads, scale: Float, mask: AttentionMask,
                        probs: UnsafeMutablePointer<Float>?, workspace: AttentionWorkspace, options: EncoderOptions) {
        if options.referenceAttention {
            Attention.reference(q: q, k: k, v: v, out: out, layout: layout, keys: keys, heads: heads, scale: scale, mask: mask, probs: probs)
        } else {
            Attention.compute(q: q, k: k, v: v, out: out, layout: layout, keys: keys, heads: heads, scale: scale, mask: mask,
                              probs: probs, workspace: workspace, dtype: dtype)
        }
    }

    /// Project a memory (an encoder's output: [B, Tm, D] or [Tm, D], or packed rows with `layout`)
    /// to every decoder layer's cross-attention keys and values, once per memory.
    public func crossMemory(_ memory: Tensor, layout: SequenceLayout? = nil) -> CrossMemory {
        let G = config.keyValueHeads, dh = config.headDim
        let width = memory.shape[memory.shape.count - 1]
        let layout = layout ?? (memory.shape.count == 3 ? .uniform(batch: memory.shape[0], tokens: memory.shape[1])
                                                        : .uniform(batch: 1, tokens: memory.count / width))
        let keyValues = layers.map { layer -> Tensor in
            guard let cross = layer.crossAttention else { return Tensor(zeros: [0, 2 * G * dh]) }
            let kv = Tensor(uninitialized: [layout.rows, 2 * G * dh])  // [memory rows, k | v]
            Linear.apply(cross.keyValue, memory.pointer, rows: layout.rows, into: kv.data, stride: 2 * G * dh)
            return kv
        }
        return CrossMemory(layout: layout, keyValues: keyValues)
    }
}

extension Encoder {
    /// Run independent sequences ([Tᵢ, D] or [1, Tᵢ, D] each) as one packed batch (a batch of
    /// mixed lengths costs what its tokens cost; GEMMs see all rows at once): their last hidden
    /// states, in order, [Tᵢ, D] each.
    public func run(_ sequences: [Tensor]) throws -> [Tensor] {
        let D = config.hiddenSize
        let lengths = sequences.map { $0.count / D }
        let x = Tensor(uninitialized: [lengths.reduce(0, +), D])  // [Σ Tᵢ, D]
        var row = 0
        for (s, n) in zip(sequences, lengths) {
            (x.data + row * D).update(from: s.pointer, count: n * D)
            row += n
        }
        let layout = SequenceLayout.packed(lengths: lengths)
        let out = try self(x, layout: layout).lastHiddenState
        return zip(layout.starts, lengths).map { start, n in out.reshaped([layout.rows, D]).rows(start..<(start + n)) }
    }
}
