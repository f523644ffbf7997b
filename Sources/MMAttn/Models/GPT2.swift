import Foundation

/// GPT-2, as transformers' `GPT2Model`: token (wte) + learned position (wpe) embeddings, pre-LN
/// causal layers, and the final layer norm ln_f. The checkpoint's `Conv1D` weights (stored
/// [in, out], the transpose of `nn.Linear`) are transposed once at load; c_attn is split into the
/// query, key and value projections. Tensor names: `transformer.` (`GPT2LMHeadModel` and the other
/// heads) or no prefix (`GPT2Model`, and the original gpt2 checkpoints).
public final class GPT2: TextModel {
    public var family: ModelFamily { .gpt2 }
    public let config: EncoderConfig
    public let numLayers: Int
    public let vocabSize: Int
    public let maxTokens: Int
    public var usesTokenTypes: Bool { false }

    let embeddings: TextEmbeddings  // wte: [V, D], wpe: [P, D]
    let encoder: Encoder            // h.*
    let lnF: LayerNorm              // ln_f: [D]

    /// GPT-2's tensor names: unchanged in transformers 5, so the table is empty.
    public static let checkpointNames = CheckpointNames(family: "GPT-2", [])

    public init(config json: JSONFields, weights: Checkpoint) throws {
        let weights = try weights.renamed(by: Self.checkpointNames)
        let family = try ModelFamily(config: json)
        guard family == .gpt2 else {
            throw MMAttnError("this is \(family.modelPhrase), not a GPT-2 model", file: json.file)
        }
        // n_inner null means 4·n_embd; the keys after it only satisfy the shared reader.
        var c = try json.encoderConfig(normPlacement: .pre, defaultActivation: "gelu_new",
                                       hiddenKeys: ["n_embd", "hidden_size"], headKeys: ["n_head", "num_attention_heads"],
                                       intermediateKeys: ["n_inner", "n_embd", "hidden_size"], activationKeys: ["activation_function"],
                                       epsKeys: ["layer_norm_epsilon"], defaultEps: 1e-5)
        if !json.has("n_inner") { c.intermediateSize = 4 * c.hiddenSize }
        c.causal = true
        guard try json.bool("scale_attn_weights", default: true) else {
            throw MMAttnError("scale_attn_weights is false (attention without the 1/√head_dim scale): not supported", file: json.file)
        }
        guard try !json.bool("scale_attn_by_inverse_layer_idx", default: false) else {
            throw MMAttnError("scale_attn_by_inverse_layer_idx is true (attention scaled by 1/(layer + 1)): not supported", file: json.file)
        }
        // reorder_and_upcast_attn only changes how half-precision training computes the scores;
        // in float32 it is the same attention, so it is accepted.
        config = c
        numLayers = try json.layerCount("n_layer", "num_hidden_layers")
        vocabSize = try json.int("vocab_size", in: 1...JSONFields.Limits.vocabulary)
        maxTokens = try json.int("n_positions", "max_position_embeddings", in: 1...JSONFields.Limits.positions)
        let D = c.hiddenSize, I = c.intermediateSize, eps = c.layerNormEps

        let w = weights.scoped(try weights.prefix(among: ["transformer.", ""], probing: "wte.weight"))
        embeddings = TextEmbeddings(word: try w.tensor("wte.weight", shape: [vocabSize, D]), tokenType: nil,
                                    position: try w.tensor("wpe.weight", shape: [maxTokens, D]), norm: nil, paddingIdx: nil)
        encoder = Encoder(config: c, layers: try (0..<numLayers).map { i in
            let n = "h.\(i)"
            let qkv = try w.conv1D("\(n).attn.c_attn", in: D, out: 3 * D)  // [3D, D]: q, k, v rows
            return EncoderLayer(
                attentionNorm: .layerNorm(try w.layerNorm("\(n).ln_1", width: D, eps: eps)),
                projections: [qkv],  // one GEMM for q, k and v
                attentionOutput: try w.conv1D("\(n).attn.c_proj", in: D, out: D),
                mlpNorm: .layerNorm(try w.layerNorm("\(n).ln_2", width: D, eps: eps)),
                intermediate: [try w.conv1D("\(n).mlp.c_fc", in: D, out: I)],
                output: try w.conv1D("\(n).mlp.c_proj", in: I, out: D))
        })
        lnF = try w.layerNorm("ln_f", width: D, eps: eps)
    }

    /// `typeIds` must be nil or zeros: mmattn reads no token types for GPT-2 (transformers would
    /// add wte rows for token_type_ids, which GPT-2 tokenizers never produce).
    public func forward(ids: [[Int32]], typeIds: [[Int32]]?, options: TextForwardOptions) throws -> TextModelOutput {
        let lengths = try TextInput.check(ids, typeIds: typeIds, model: self, typeVocabSize: nil)
        let x = embeddings(ids, typeIds: nil)
        return try TextInput.run(x, lengths: lengths, encoder: encoder, finalNorm: .layerNorm(lnF), options: options)
    }
}

extension CheckpointScope {
    /// A GPT-2 `Conv1D` (y = x·W + b with `name.weight` stored [in, out], `name.bias` [out]) as a
    /// `Linear` in PyTorch's [out, in] layout, transposed once here.
    func conv1D(_ name: String, in inFeatures: Int, out: Int) throws -> Linear {
        let stored = try tensor("\(name).weight", shape: [inFeatures, out])  // [in, out]
        let weight = Tensor(uninitialized: [out, inFeatures])                // [out, in]
        let src = stored.pointer, dst = weight.data
        let tile = 32
        for i0 in stride(from: 0, to: inFeatures, by: tile) {
            for o0 in stride(from: 0, to: out, by: tile) {
                for i in i0..<min(i0 + tile, inFeatures) {
                    for o in o0..<min(o0 + tile, out) { dst[o * inFeatures + i] = src[i * out + o] }
                }
            }
        }
        withExtendedLifetime(stored) {}
        return Linear(weight: weight, bias: try tensor("\(name).bias", shape: [out]), dtype: checkpoint.dtype)
    }
}
