import Foundation

/// Qwen3, as transformers' `Qwen3Model` (the backbone of Qwen3-Embedding): token embeddings,
/// pre-norm causal layers with RMSNorm, grouped-query attention (`num_key_value_heads` shared by
/// `num_attention_heads`, each `head_dim` wide), RMSNorm on every query and key head before the
/// rotation, rotary θ = `rope_theta`, SwiGLU MLPs, and a final RMSNorm. Layers that
/// `layer_types` (or `use_sliding_window` from `max_window_layers` on) mark as sliding see the
/// last `sliding_window` tokens. Tensor names: none (Qwen3-Embedding) or `model.` (`Qwen3ForCausalLM`).
public final class Qwen3: TextModel {
    public var family: ModelFamily { .qwen3 }
    public let config: EncoderConfig
    public let numLayers: Int
    public let vocabSize: Int
    public let maxTokens: Int
    public var usesTokenTypes: Bool { false }

    let embedTokens: Tensor  // embed_tokens: [V, D]
    let encoder: Encoder     // layers.*
    let norm: Norm           // norm: [D]

    /// Qwen3's tensor names are the same in transformers 4 and 5.
    public static let checkpointNames = CheckpointNames(family: "Qwen3", [])

    public init(config json: JSONFields, weights: Checkpoint) throws {
        let weights = try weights.renamed(by: Self.checkpointNames)
        let family = try ModelFamily(config: json)
        guard family == .qwen3 else {
            throw MMAttnError("this is \(family.modelPhrase), not a Qwen3 model", file: json.file)
        }
        let D = try json.int("hidden_size", in: 1...JSONFields.Limits.width)
        let H = try json.int("num_attention_heads", in: 1...JSONFields.Limits.heads)
        let G = try json.int("num_key_value_heads", default: H, in: 1...H)
        guard H % G == 0 else {
            throw MMAttnError("num_attention_heads \(H) is not a multiple of num_key_value_heads \(G)", file: json.file)
        }
        guard json.has("head_dim") || D % H == 0 else {
            throw MMAttnError("hidden_size \(D) is not divisible by num_attention_heads \(H) and no head_dim is given", file: json.file)
        }
        let dh = try json.int("head_dim", default: D / max(H, 1), in: 2...JSONFields.Limits.width)
        guard dh % 2 == 0 else { throw MMAttnError("head_dim \(dh) must be even for rotary embeddings", file: json.file) }
        let I = try json.int("intermediate_size", in: 1...JSONFields.Limits.width * 8)
        let actName = try json.string("hidden_act") ?? "silu"
        guard let activation = Activation(configName: actName) else {
            throw MMAttnError("activation \"\(actName)\" is not supported (supported: silu, gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu, relu)", file: json.file)
        }
        let eps = try json.double("rms_norm_eps", default: 1e-6)
        guard eps > 0, eps < 1 else { throw MMAttnError("rms_norm_eps must be a small positive number, found \(eps)", file: json.file) }
        numLayers = try json.layerCount("num_hidden_layers")
        vocabSize = try json.int("vocab_size", in: 1...JSONFields.Limits.vocabulary)
        maxTokens = try json.int("max_position_embeddings", default: 32768, in: 1...JSONFields.Limits.positions)
        let theta = try Self.ropeTheta(json)
        config = EncoderConfig(hiddenSize: D, numHeads: H, keyValueHeads: G, headDim: dh, intermediateSize: I,
                               layerNormEps: Float(eps), activation: activation, normPlacement: .pre, mlp: .gated,
                               rotary: Rotary(headDim: dh, base: theta), causal: true)
        let bias = try json.bool("attention_bias", default: false)
        let windows = try Self.slidingWindows(json, layers: numLayers)

        let w = weights.scoped(try weights.prefix(among: ["", "model."], probing: "embed_tokens.weight"))
        func rms(_ name: String, width: Int) throws -> RMSNorm {
            RMSNorm(weight: try w.tensor("\(name).weight", shape: [width]), eps: Float(eps))
        }
        embedTokens = try w.tensor("embed_tokens.weight", shape: [vocabSize, D])
        encoder = Encoder(config: config, layers: try (0..<numLayers).map { i in
            let n = "layers.\(i)"
            return EncoderLayer(
                attentionNorm: .rms(try rms("\(n).input_layernorm", width: D)),
                projections: [try w.linear("\(n).self_attn.q_proj", out: H * dh, in: D, bias: bias),
                              try w.linear("\(n).self_attn.k_proj", out: G * dh, in: D, bias: bias),
                              try w.linear("\(n).self_attn.v_proj", out: G * dh, in: D, bias: bias)],
                queryNorm: try rms("\(n).self_attn.q_norm", width: dh),
                keyNorm: try rms("\(n).self_attn.k_norm", width: dh),
                attentionOutput: try w.linear("\(n).self_attn.o_proj", out: D, in: H * dh, bias: bias),
                mlpNorm: .rms(try rms("\(n).post_attention_layernorm", width: D)),
                intermediate: [try w.linear("\(n).mlp.gate_proj", out: I, in: D, bias: false),
                               try w.linear("\(n).mlp.up_proj", out: I, in: D, bias: false)],
                output: try w.linear("\(n).mlp.down_proj", out: D, in: I, bias: false),
                mask: AttentionMask(window: windows[i]))
        })
        norm = .rms(try rms("norm", width: D))
    }

    /// `rope_theta`, or transformers 5's `rope_parameters.rope_theta` (10,000 when absent, as
    /// `Qwen3Config`; Qwen3-Embedding sets 1,000,000); only the default rotary.
    static func ropeTheta(_ json: JSONFields) throws -> Double {
        let theta: Double
        if let rope = try json.fields("rope_parameters") {
            if let type = try rope.string("rope_type"), type != "default" {
                throw MMAttnError("rope_type \"\(type)\" is not supported (supported: default)", file: json.file)
            }
            theta = try rope.double("rope_theta", default: 10000)
        } else {
            if let scaling = try json.fields("rope_scaling"), let type = try scaling.string("rope_type", "type"), type != "default" {
                throw MMAttnError("rope_scaling \"\(type)\" is not supported (supported: none)", file: json.file)
            }
            theta = try json.double("rope_theta", default: 10000)
        }
        guard theta > 0 else { throw MMAttnError("rope_theta must be positive, found \(theta)", file: json.file) }
        return theta
    }

    /// The sliding window of each layer (nil: full causal attention). As `Qwen3Config`: no window
    /// at all unless `use_sliding_window`; then `sliding_window` (default 4,096) on the layers
    /// `layer_types` marks, or from `max_window_layers` (default 28) on.
    static func slidingWindows(_ json: JSONFields, layers: Int) throws -> [Int?] {
        var types = Array(repeating: "full_attention", count: layers)
        if let listed = try json.layerTypes(layers: layers) {
            types = listed
        } else if try json.bool("use_sliding_window", default: false) {
            let from = try json.int("max_window_layers", default: 28, in: 0...JSONFields.Limits.layers)
            types = (0..<layers).map { $0 >= from ? "sliding_attention" : "full_attention" }
        }
        guard try json.bool("use_sliding_window", default: false) else { return Array(repeating: nil, count: layers) }
        let window = try json.int("sliding_window", default: 4096, in: 1...JSONFields.Limits.positions)
        return types.map { $0 == "sliding_attention" ? window : nil }
    }

    public func forward(ids: [[Int32]], typeIds: [[Int32]]?, options: TextForwardOptions) throws -> TextModelOutput {
        let lengths = try TextInput.check(ids, typeIds: typeIds, model: self, typeVocabSize: nil)
        let x = gatherRows(embedTokens, ids: ids)  // [Σ lengths, D]
        return try TextInput.run(x, lengths: lengths, encoder: encoder, finalNorm: norm, options: options)
    }
}
