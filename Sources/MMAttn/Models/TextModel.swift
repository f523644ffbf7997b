import Foundation

/// A transformer over token ids: BERT, RoBERTa, DistilBERT, GPT-2, ModernBERT, Qwen3.
public protocol TextModel: AnyObject, Sendable {
    var family: ModelFamily { get }
    var config: EncoderConfig { get }
    var numLayers: Int { get }
    var vocabSize: Int { get }
    /// Most tokens one sequence may have (the position table, or the rotary models' trained
    /// length; RoBERTa: max_position_embeddings − padding_idx − 1).
    var maxTokens: Int { get }
    /// Whether the model reads token type (segment) ids (BERT with type_vocab_size > 1).
    var usesTokenTypes: Bool { get }
    /// Run sequences of different lengths as one batch (packed inside). `ids[b]` are token ids,
    /// `typeIds[b]` segment ids (nil: zeros). Throws a clear MMAttnError for ids outside the
    /// vocabulary or sequences longer than `maxTokens` (the pipeline truncates before).
    func forward(ids: [[Int32]], typeIds: [[Int32]]?, options: TextForwardOptions) throws -> TextModelOutput
}

extension TextModel {
    /// The forward pass with default options: the last hidden state only.
    public func forward(ids: [[Int32]], typeIds: [[Int32]]? = nil) throws -> TextModelOutput {
        try forward(ids: ids, typeIds: typeIds, options: TextForwardOptions())
    }
}

/// What a text forward pass hands back besides the last hidden state.
public struct TextForwardOptions {
    /// Return the embeddings and every layer's output (`output_hidden_states`).
    public var hiddenStates: Bool
    /// Called with (layer index, probabilities [B, H, T, T]) as each layer computes them; zeros
    /// past each item's length (and above the diagonal for GPT-2). The buffer is reused for the
    /// next layer unless the sink keeps a reference to the tensor.
    public var attentionSink: ((Int, Tensor) -> Void)?
    /// Hand the states back packed, [Σ lengths, D] (sequence b's rows from `layout.starts[b]`),
    /// instead of right-padded: a batch of one long and many short texts then needs no
    /// longest × count buffer.
    public var packed: Bool

    public init(hiddenStates: Bool = false, attentionSink: ((Int, Tensor) -> Void)? = nil, packed: Bool = false) {
        self.hiddenStates = hiddenStates
        self.attentionSink = attentionSink
        self.packed = packed
    }
}

public struct TextModelOutput {
    /// [B, T, D], T = the longest sequence, rows past each sequence's length zero; or packed
    /// [Σ lengths, D] with `TextForwardOptions.packed`. As the base model's last_hidden_state
    /// (GPT-2, ModernBERT, Qwen3: after the final norm).
    public var lastHiddenState: Tensor
    /// With hiddenStates: embeddings output then every layer's output, as transformers'
    /// output_hidden_states (GPT-2, ModernBERT, Qwen3: the last entry after the final norm),
    /// shaped as `lastHiddenState`.
    public var hiddenStates: [Tensor]
    /// Real tokens per item.
    public var lengths: [Int]
    /// Where each item's rows are in `lastHiddenState` (padded or packed).
    public var layout: SequenceLayout
}

/// Loads the text family `folder` declares (throws, naming config.json, for other families).
public func loadTextModel(_ folder: ModelFolder, weights: Checkpoint) throws -> any TextModel {
    let family = try folder.family()
    switch family {
    case .bert, .roberta: return try BERT(config: folder.config, weights: weights)
    case .distilbert: return try DistilBERT(config: folder.config, weights: weights)
    case .gpt2: return try GPT2(config: folder.config, weights: weights)
    case .modernbert: return try ModernBERT(config: folder.config, weights: weights)
    case .qwen3: return try Qwen3(config: folder.config, weights: weights)
    case .vit, .deit, .whisper, .ast, .esm, .timesformer, .videomae:
        throw MMAttnError("this is \(family.modelPhrase), not a text model (text commands need \(ModelFamily.listPhrase(ModelFamily.textFamilies)) checkpoint)",
                          file: folder.config.file)
    }
}

/// The input embeddings of the text families: the token's row of `word`, plus its segment's row of
/// `tokenType` (row 0 without type ids, as transformers does), plus its position's row, added in
/// that order in Float as transformers adds them; then `norm` where the family has one.
struct TextEmbeddings: Sendable {
    let word: Tensor          // word_embeddings / wte: [V, D]
    let tokenType: Tensor?    // token_type_embeddings: [types, D]
    let position: Tensor      // position_embeddings / wpe: [P, D]
    let norm: LayerNorm?      // embeddings.LayerNorm: [D]
    /// RoBERTa's numbering (fairseq's `make_positions`): real tokens count from paddingIdx + 1,
    /// a pad token takes paddingIdx. Nil: token t has position t.
    let paddingIdx: Int?

    var width: Int { word.shape[1] }

    /// The packed [Σ lengths, D] embeddings of sequences already checked by `TextInput.check`.
    func callAsFunction(_ ids: [[Int32]], typeIds: [[Int32]]?) -> Tensor {
        let D = width
        let x = Tensor(uninitialized: [ids.reduce(0) { $0 + $1.count }, D])  // [rows, D]
        let words = word.pointer, positions = position.pointer
        var r = 0
        for (b, sequence) in ids.enumerated() {
            var counted = 0
            for (t, id) in sequence.enumerated() {
                let row = x.data + r * D
                r += 1
                let w = words + Int(id) * D
                var p = t
                if let pad = paddingIdx {
                    if Int(id) == pad { p = pad } else { counted += 1; p = pad + counted }
                }
                let pos = positions + p * D
                if let tokenType {
                    let type = tokenType.pointer + Int(typeIds?[b][t] ?? 0) * D
                    for d in 0..<D { row[d] = (w[d] + type[d]) + pos[d] }
                } else {
                    for d in 0..<D { row[d] = w[d] + pos[d] }
                }
            }
        }
        withExtendedLifetime((word, position, tokenType)) {}
        if let norm { norm.apply(x.data, rows: x.shape[0], into: x.data) }
        return x
    }
}

/// Rows of a token embedding table gathered for packed sequences: [Σ lengths, D].
func gatherRows(_ table: Tensor, ids: [[Int32]]) -> Tensor {
    let D = table.shape[1]
    let x = Tensor(uninitialized: [ids.reduce(0) { $0 + $1.count }, D])  // [rows, D]
    var r = 0
    for sequence in ids {
        for id in sequence {
            (x.data + r * D).update(from: table.pointer + Int(id) * D, count: D)
            r += 1
        }
    }
    return x
}

/// The checks and the padded run every text family shares.
enum TextInput {
    /// The lengths of `ids`, after checking every id against the vocabulary, every length against
    /// `maxTokens` and the segment ids against `typeVocabSize` (nil: the model reads none, so
    /// they must be zeros).
    static func check(_ ids: [[Int32]], typeIds: [[Int32]]?, model: any TextModel, typeVocabSize: Int?) throws -> [Int] {
        let name = model.family.displayName
        guard !ids.isEmpty else { throw MMAttnError("no token sequences to run through the \(name) model") }
        for (b, sequence) in ids.enumerated() {
            guard !sequence.isEmpty else {
                throw MMAttnError("sequence \(b) has no tokens: a \(name) model needs at least one")
            }
            guard sequence.count <= model.maxTokens else {
                throw MMAttnError("sequence \(b) has \(sequence.count) tokens, more than the \(model.maxTokens) the \(name) model takes (max_position_embeddings); truncate it to \(model.maxTokens) tokens")
            }
            for (t, id) in sequence.enumerated() where id < 0 || Int(id) >= model.vocabSize {
                throw MMAttnError("token id \(id) (sequence \(b), position \(t)) is outside the vocabulary of \(model.vocabSize) (vocab_size): the tokenizer does not belong to this model")
            }
        }
        if let typeIds {
            guard typeIds.count == ids.count else {
                throw MMAttnError("\(typeIds.count) token type sequences for \(ids.count) token sequences")
            }
            for (b, types) in typeIds.enumerated() {
                guard types.count == ids[b].count else {
                    throw MMAttnError("sequence \(b) has \(ids[b].count) tokens but \(types.count) token type ids")
                }
                let limit = typeVocabSize ?? 1
                for (t, type) in types.enumerated() where type < 0 || Int(type) >= limit {
                    if typeVocabSize == nil {
                        throw MMAttnError("token type id \(type) (sequence \(b), position \(t)): a \(name) model reads no token types; pass none or zeros")
                    }
                    throw MMAttnError("token type id \(type) (sequence \(b), position \(t)) is outside the \(limit) token types of the model (type_vocab_size)")
                }
            }
        }
        return ids.map(\.count)
    }

    /// Run `encoder` over the packed embeddings `x` ([Σ lengths, D]) of sequences of `lengths`
    /// tokens (a batch costs what its tokens cost), then `finalNorm` (GPT-2's ln_f, ModernBERT's
    /// and Qwen3's final norm, which also replaces the last hidden state); hand the results back
    /// packed or right-padded ([B, T, D], T the longest length, zeros past each length) as
    /// `options.packed` says.
    static func run(_ x: Tensor, lengths: [Int], encoder: Encoder, finalNorm: Norm? = nil,
                    options: TextForwardOptions) throws -> TextModelOutput {
        let layout = SequenceLayout.packed(lengths: lengths), T = layout.maxLength
        let out = try encoder(x, layout: layout,
                              options: EncoderOptions(hiddenStates: options.hiddenStates, attentionSink: options.attentionSink))
        var last = out.lastHiddenState
        if let finalNorm { finalNorm.apply(last.data, rows: layout.rows, width: encoder.config.hiddenSize, into: last.data) }
        var states = out.hiddenStates
        if finalNorm != nil && !states.isEmpty { states[states.count - 1] = last }
        guard !options.packed else {
            return TextModelOutput(lastHiddenState: last, hiddenStates: states, lengths: lengths, layout: layout)
        }
        last = layout.unpack(last, tokens: T)
        states = states.map { $0.storage === out.lastHiddenState.storage ? last : layout.unpack($0, tokens: T) }
        return TextModelOutput(lastHiddenState: last, hiddenStates: states, lengths: lengths,
                               layout: .padded(tokens: T, lengths: lengths))
    }
}
