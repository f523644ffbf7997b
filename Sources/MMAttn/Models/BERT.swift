import Foundation

/// BERT and RoBERTa (also XLM-RoBERTa and CamemBERT, RoBERTa's architecture), as transformers'
/// `BertModel` / `RobertaModel`: word + token type + learned absolute position embeddings and a
/// layer norm, then post-LN layers. RoBERTa numbers positions from padding_idx + 1. The pooler and
/// the task heads are not loaded. Tensor names: `bert.` / `roberta.` (the `…For*` classes) or no
/// prefix (`BertModel`, sentence-transformers folders).
public final class BERT: TextModel {
    public let family: ModelFamily
    public let config: EncoderConfig
    public let numLayers: Int
    public let vocabSize: Int
    public let maxTokens: Int
    /// Rows of the token type table (type_vocab_size).
    public let typeVocabSize: Int
    public var usesTokenTypes: Bool { typeVocabSize > 1 }

    let embeddings: TextEmbeddings  // embeddings.*: word, token type, position tables and LayerNorm
    let encoder: Encoder            // encoder.layer.*

    /// BERT's and RoBERTa's tensor names: transformers 5 kept them (its `state_dict()` names equal
    /// the published ones for every class), so the table is empty.
    public static let checkpointNames = CheckpointNames(family: "BERT", [])

    public init(config json: JSONFields, weights: Checkpoint) throws {
        let weights = try weights.renamed(by: Self.checkpointNames)
        family = try ModelFamily(config: json)
        guard family == .bert || family == .roberta else {
            throw MMAttnError("this is \(family.modelPhrase), not a BERT or RoBERTa model", file: json.file)
        }
        let c = try json.encoderConfig(normPlacement: .post)
        let positions = try json.string("position_embedding_type") ?? "absolute"
        guard positions == "absolute" else {
            throw MMAttnError("position_embedding_type \"\(positions)\" is not supported: mmattn runs \(family.displayName) with absolute positions only", file: json.file)
        }
        guard try !json.bool("is_decoder", default: false) else {
            throw MMAttnError("is_decoder is true: mmattn runs \(family.displayName) as a bidirectional encoder, not as a causal decoder", file: json.file)
        }
        config = c
        numLayers = try json.layerCount("num_hidden_layers")
        vocabSize = try json.int("vocab_size", in: 1...JSONFields.Limits.vocabulary)
        let P = try json.int("max_position_embeddings", default: 512, in: 1...JSONFields.Limits.positions)
        typeVocabSize = try json.int("type_vocab_size", default: 2, in: 1...JSONFields.Limits.vocabulary)
        var paddingIdx: Int?
        if family == .roberta {
            // Positions padding_idx + 1 ... P − 1 are the real tokens'.
            let pad = try json.int("pad_token_id", default: 1, in: 0...(vocabSize - 1))
            guard pad + 1 < P else {
                throw MMAttnError("max_position_embeddings \(P) leaves no positions after padding_idx \(pad) (pad_token_id): RoBERTa numbers tokens from padding_idx + 1", file: json.file)
            }
            paddingIdx = pad
            maxTokens = P - pad - 1
        } else {
            maxTokens = P
        }
        let D = c.hiddenSize, I = c.intermediateSize, eps = c.layerNormEps

        let prefix = family == .roberta ? "roberta." : "bert."
        let w = weights.scoped(try weights.prefix(among: [prefix, ""], probing: "embeddings.word_embeddings.weight"))
        embeddings = TextEmbeddings(
            word: try w.tensor("embeddings.word_embeddings.weight", shape: [vocabSize, D]),
            tokenType: try w.tensor("embeddings.token_type_embeddings.weight", shape: [typeVocabSize, D]),
            position: try w.tensor("embeddings.position_embeddings.weight", shape: [P, D]),
            norm: try w.layerNorm("embeddings.LayerNorm", width: D, eps: eps),
            paddingIdx: paddingIdx)
        encoder = Encoder(config: c, layers: try (0..<numLayers).map { i in
            let n = "encoder.layer.\(i)"
            return EncoderLayer(
                attentionNorm: try w.layerNorm("\(n).attention.output.LayerNorm", width: D, eps: eps),
                query: try w.linear("\(n).attention.self.query", out: D, in: D),
                key: try w.linear("\(n).attention.self.key", out: D, in: D),
                value: try w.linear("\(n).attention.self.value", out: D, in: D),
                attentionOutput: try w.linear("\(n).attention.output.dense", out: D, in: D),
                mlpNorm: try w.layerNorm("\(n).output.LayerNorm", width: D, eps: eps),
                intermediate: try w.linear("\(n).intermediate.dense", out: I, in: D),
                output: try w.linear("\(n).output.dense", out: D, in: I))
        })
    }

    public func forward(ids: [[Int32]], typeIds: [[Int32]]?, options: TextForwardOptions) throws -> TextModelOutput {
        let lengths = try TextInput.check(ids, typeIds: typeIds, model: self, typeVocabSize: typeVocabSize)
        let x = embeddings(ids, typeIds: typeIds)
        return try TextInput.run(x, lengths: lengths, encoder: encoder, options: options)
    }
}
