import Foundation

/// ModernBERT, as transformers' `ModernBertModel`: token embeddings and a layer norm, pre-norm
/// layers with a fused `Wqkv`, rotary positions (one base for global layers, another for local
/// ones), global attention every `global_attn_every_n_layers` layers and a sliding window of
/// `local_attention` tokens (|i − j| ≤ local_attention/2) in the others, GeGLU MLPs, no biases
/// by default, and a final norm. The first layer has no norm before attention. Tensor names:
/// `model.` (`ModernBertForMaskedLM`, as answerdotai/ModernBERT-base is published) or none.
public final class ModernBERT: TextModel {
    public var family: ModelFamily { .modernbert }
    public let config: EncoderConfig
    public let numLayers: Int
    public let vocabSize: Int
    public let maxTokens: Int
    public var usesTokenTypes: Bool { false }

    let tokEmbeddings: Tensor  // embeddings.tok_embeddings: [V, D]
    let embeddingNorm: Norm    // embeddings.norm: [D]
    let encoder: Encoder       // layers.*
    let finalNorm: Norm        // final_norm: [D]

    /// ModernBERT's tensor names are the same in transformers 4 and 5.
    public static let checkpointNames = CheckpointNames(family: "ModernBERT", [])

    public init(config json: JSONFields, weights: Checkpoint) throws {
        let weights = try weights.renamed(by: Self.checkpointNames)
        let family = try ModelFamily(config: json)
        guard family == .modernbert else {
            throw MMAttnError("this is \(family.modelPhrase), not a ModernBERT model", file: json.file)
        }
        var c = try json.encoderConfig(normPlacement: .pre, defaultActivation: "gelu", activationKeys: ["hidden_activation", "hidden_act"],
                                       epsKeys: ["norm_eps"], defaultEps: 1e-5)
        c.mlp = .gated
        numLayers = try json.layerCount("num_hidden_layers")
        vocabSize = try json.int("vocab_size", in: 1...JSONFields.Limits.vocabulary)
        maxTokens = try json.int("max_position_embeddings", default: 8192, in: 1...JSONFields.Limits.positions)
        let D = c.hiddenSize, I = c.intermediateSize, eps = c.layerNormEps
        let normBias = try json.bool("norm_bias", default: false)
        let attentionBias = try json.bool("attention_bias", default: false), mlpBias = try json.bool("mlp_bias", default: false)
        let layerTypes = try Self.layerTypes(json, layers: numLayers)
        let window = try json.int("local_attention", default: 128, in: 2...JSONFields.Limits.positions)
        guard c.headDim % 2 == 0 else {
            throw MMAttnError("hidden_size / num_attention_heads = \(c.headDim) must be even for rotary embeddings", file: json.file)
        }
        let (globalTheta, localTheta) = try Self.ropeBases(json)
        guard globalTheta > 0, localTheta > 0 else {
            throw MMAttnError("rotary bases must be positive, found \(globalTheta) and \(localTheta)", file: json.file)
        }
        let global = Rotary(headDim: c.headDim, base: globalTheta), local = Rotary(headDim: c.headDim, base: localTheta)
        c.rotary = global
        config = c

        let w = weights.scoped(try weights.prefix(among: ["model.", ""], probing: "embeddings.tok_embeddings.weight"))
        func norm(_ name: String) throws -> Norm {
            .layerNorm(LayerNorm(weight: try w.tensor("\(name).weight", shape: [D]),
                                 bias: normBias ? try w.tensor("\(name).bias", shape: [D]) : nil, eps: eps))
        }
        tokEmbeddings = try w.tensor("embeddings.tok_embeddings.weight", shape: [vocabSize, D])
        embeddingNorm = try norm("embeddings.norm")
        encoder = Encoder(config: c, layers: try (0..<numLayers).map { i in
            let n = "layers.\(i)"
            let isLocal = layerTypes[i] == "sliding_attention"
            return EncoderLayer(
                attentionNorm: i == 0 ? .identity : try norm("\(n).attn_norm"),
                projections: [try w.linear("\(n).attn.Wqkv", out: 3 * D, in: D, bias: attentionBias)],  // q, k, v rows
                attentionOutput: try w.linear("\(n).attn.Wo", out: D, in: D, bias: attentionBias),
                mlpNorm: try norm("\(n).mlp_norm"),
                intermediate: [try w.linear("\(n).mlp.Wi", out: 2 * I, in: D, bias: mlpBias)],  // input rows, then gate rows
                output: try w.linear("\(n).mlp.Wo", out: D, in: I, bias: mlpBias),
                mask: isLocal ? AttentionMask(window: window) : .none,
                rotary: isLocal ? local : global)
        })
        finalNorm = try norm("final_norm")
    }

    /// "full_attention" or "sliding_attention" per layer: transformers 5's `layer_types`, else
    /// transformers 4's rule (global when i is a multiple of `global_attn_every_n_layers`).
    static func layerTypes(_ json: JSONFields, layers: Int) throws -> [String] {
        if let types = try json.layerTypes(layers: layers) { return types }
        let every = try json.int("global_attn_every_n_layers", default: 3, in: 1...JSONFields.Limits.layers)
        return (0..<layers).map { $0 % every == 0 ? "full_attention" : "sliding_attention" }
    }

    /// The rotary bases of global and local layers: transformers 5's `rope_parameters`, else
    /// `global_rope_theta` and `local_rope_theta` (null or absent: the global base, as transformers).
    static func ropeBases(_ json: JSONFields) throws -> (global: Double, local: Double) {
        if let rope = try json.fields("rope_parameters") {
            func theta(_ kind: String) throws -> Double {
                guard let p = try rope.fields(kind) else {
                    throw MMAttnError("rope_parameters has no \"\(kind)\" entry", file: json.file)
                }
                if let type = try p.string("rope_type"), type != "default" {
                    throw MMAttnError("rope_type \"\(type)\" is not supported (supported: default)", file: json.file)
                }
                return try p.double("rope_theta", default: 10000)
            }
            return (try theta("full_attention"), try theta("sliding_attention"))
        }
        let global = try json.double("global_rope_theta", default: 160000)
        return (global, json.object["local_rope_theta"] == nil ? 10000 : try json.double("local_rope_theta", default: global))
    }

    public func forward(ids: [[Int32]], typeIds: [[Int32]]?, options: TextForwardOptions) throws -> TextModelOutput {
        let lengths = try TextInput.check(ids, typeIds: typeIds, model: self, typeVocabSize: nil)
        let x = gatherRows(tokEmbeddings, ids: ids)  // [Σ lengths, D]
        embeddingNorm.apply(x.data, rows: x.shape[0], width: config.hiddenSize, into: x.data)
        return try TextInput.run(x, lengths: lengths, encoder: encoder, finalNorm: finalNorm, options: options)
    }
}
