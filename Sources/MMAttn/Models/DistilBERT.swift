import Foundation

/// DistilBERT, as transformers' `DistilBertModel`: word + learned position embeddings and a layer
/// norm (no token types), then post-LN layers; every layer norm has ε = 1e-12. Tensor names:
/// `distilbert.` (the `DistilBertFor*` classes) or no prefix (`DistilBertModel`).
public final class DistilBERT: TextModel {
    public var family: ModelFamily { .distilbert }
    public let config: EncoderConfig
    public let numLayers: Int
    public let vocabSize: Int
    public let maxTokens: Int
    public var usesTokenTypes: Bool { false }

    let embeddings: TextEmbeddings  // embeddings.*: word and position tables, LayerNorm
    let encoder: Encoder            // transformer.layer.*

    /// DistilBERT's tensor names: unchanged in transformers 5, so the table is empty.
    public static let checkpointNames = CheckpointNames(family: "DistilBERT", [])

    public init(config json: JSONFields, weights: Checkpoint) throws {
        let weights = try weights.renamed(by: Self.checkpointNames)
        let family = try ModelFamily(config: json)
        guard family == .distilbert else {
            throw MMAttnError("this is \(family.modelPhrase), not a DistilBERT model", file: json.file)
        }
        // transformers fixes DistilBERT's layer-norm ε at 1e-12; configs do not carry it.
        let c = try json.encoderConfig(normPlacement: .post, hiddenKeys: ["dim"], headKeys: ["n_heads"],
                                       intermediateKeys: ["hidden_dim"], activationKeys: ["activation"], epsKeys: [])
        config = c
        numLayers = try json.layerCount("n_layers")
        vocabSize = try json.int("vocab_size", in: 1...JSONFields.Limits.vocabulary)
        maxTokens = try json.int("max_position_embeddings", default: 512, in: 1...JSONFields.Limits.positions)
        let D = c.hiddenSize, I = c.intermediateSize, eps = c.layerNormEps

        let w = weights.scoped(try weights.prefix(among: ["distilbert.", ""], probing: "embeddings.word_embeddings.weight"))
        if try json.bool("sinusoidal_pos_embds", default: false) && !w.contains("embeddings.position_embeddings.weight") {
            throw MMAttnError("sinusoidal_pos_embds is true but the checkpoint does not store the position table (embeddings.position_embeddings.weight); mmattn reads the stored table only", file: weights.source)
        }
        embeddings = TextEmbeddings(
            word: try w.tensor("embeddings.word_embeddings.weight", shape: [vocabSize, D]),
            tokenType: nil,
            position: try w.tensor("embeddings.position_embeddings.weight", shape: [maxTokens, D]),
            norm: try w.layerNorm("embeddings.LayerNorm", width: D, eps: eps),
            paddingIdx: nil)
        encoder = Encoder(config: c, layers: try (0..<numLayers).map { i in
            let n = "transformer.layer.\(i)"
            return EncoderLayer(
                attentionNorm: try w.layerNorm("\(n).sa_layer_norm", width: D, eps: eps),
                query: try w.linear("\(n).attention.q_lin", out: D, in: D),
                key: try w.linear("\(n).attention.k_lin", out: D, in: D),
                value: try w.linear("\(n).attention.v_lin", out: D, in: D),
                attentionOutput: try w.linear("\(n).attention.out_lin", out: D, in: D),
                mlpNorm: try w.layerNorm("\(n).output_layer_norm", width: D, eps: eps),
                intermediate: try w.linear("\(n).ffn.lin1", out: I, in: D),
                output: try w.linear("\(n).ffn.lin2", out: D, in: I))
        })
    }

    /// `typeIds` must be nil or zeros: DistilBERT reads no token types.
    public func forward(ids: [[Int32]], typeIds: [[Int32]]?, options: TextForwardOptions) throws -> TextModelOutput {
        let lengths = try TextInput.check(ids, typeIds: typeIds, model: self, typeVocabSize: nil)
        let x = embeddings(ids, typeIds: nil)
        return try TextInput.run(x, lengths: lengths, encoder: encoder, options: options)
    }
}
