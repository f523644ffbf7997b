import Foundation

/// How token vectors become one vector per text.
public enum TextPooling: String, Sendable, CaseIterable {
    /// The mean over all tokens of the text, special tokens included (sentence-transformers' mean).
    case mean
    /// The first token ([CLS], <s>).
    case cls
    /// The element-wise maximum over the text's tokens.
    case max
    /// The last token (for causal models such as GPT-2).
    case last
    /// The mean times √(tokens) (sentence-transformers' `mean_sqrt_len_tokens`).
    case meanSqrtLength = "mean-sqrt-len"
    /// Every token's vector, [T, D].
    case none
}

/// A sentence-transformers folder's own settings: `modules.json` (Transformer, Pooling,
/// Normalize), `1_Pooling/config.json`, `sentence_bert_config.json` and the prompts of
/// `config_sentence_transformers.json`.
public struct SentenceTransformerConfig: Sendable {
    /// Pooling modes in the order sentence-transformers concatenates them (never `.none`).
    public var pooling: [TextPooling]
    public var normalize: Bool
    public var maxSequenceLength: Int?
    /// `do_lower_case`: texts are lower-cased before tokenizing.
    public var lowercase: Bool
    /// Named prompts put before each text (Qwen3-Embedding's "query" instruction).
    public var prompts: [String: String] = [:]
    /// The prompt used when none is asked for (`default_prompt_name`).
    public var defaultPromptName: String?
    /// Whether pooling covers the prompt's tokens (the Pooling module's `include_prompt`).
    public var poolingIncludesPrompt = true

    /// The settings of `folder`, or nil when it has no `modules.json`.
    public static func load(folder: ModelFolder) throws -> SentenceTransformerConfig? {
        let modulesPath = folder.file("modules.json")
        guard FileManager.default.fileExists(atPath: modulesPath) else { return nil }
        guard let modules = try JSON.load(contentsOf: modulesPath).array else {
            throw MMAttnError("expected a list of modules", file: modulesPath)
        }
        var config = SentenceTransformerConfig(pooling: [], normalize: false, maxSequenceLength: nil, lowercase: false)
        for (i, module) in modules.enumerated() {
            guard let o = module.object, let type = o["type"]?.string else {
                throw MMAttnError("module \(i) needs a \"type\" string", file: modulesPath)
            }
            let path = o["path"]?.string ?? ""
            switch type.split(separator: ".").last.map(String.init) ?? type {
            case "Transformer":
                guard path.isEmpty else {
                    throw MMAttnError("module \(i) keeps its transformer in \"\(path)\"; mmattn reads the transformer from the folder itself", file: modulesPath)
                }
                if let st = try folder.optionalJSON("sentence_bert_config.json") {
                    config.maxSequenceLength = try st.has("max_seq_length") ? st.int("max_seq_length", in: 1...(1 << 20)) : nil
                    config.lowercase = try st.bool("do_lower_case", default: false)
                }
            case "Pooling":
                guard let pooling = try folder.optionalJSON((path as NSString).appendingPathComponent("config.json")) else {
                    throw MMAttnError("the Pooling module's \(path)/config.json is missing", file: modulesPath)
                }
                config.pooling = try Self.poolingModes(pooling)
                config.poolingIncludesPrompt = try pooling.bool("include_prompt", default: true)
            case "Normalize":
                config.normalize = true
            default:
                throw MMAttnError("module \(i) is a \(type), which mmattn does not run (supported: Transformer, Pooling, Normalize)", file: modulesPath)
            }
        }
        if let st = try folder.optionalJSON("config_sentence_transformers.json") {
            let prompts = try st.fields("prompts")?.object
            for name in prompts?.keys ?? [] {
                guard let text = prompts?[name]?.string else { throw MMAttnError("prompt \"\(name)\" must be a string", file: st.file) }
                config.prompts[name] = text
            }
            config.defaultPromptName = try st.string("default_prompt_name")
            if let name = config.defaultPromptName, config.prompts[name] == nil {
                throw MMAttnError("default_prompt_name \"\(name)\" is not one of the prompts", file: st.file)
            }
        }
        return config
    }

    /// The modes `config.json` turns on: `pooling_mode` (a name or a list, in order), or the
    /// legacy `pooling_mode_*_tokens` flags in sentence-transformers' concatenation order.
    static func poolingModes(_ json: JSONFields) throws -> [TextPooling] {
        let names: [String: TextPooling] = [
            "cls": .cls, "max": .max, "mean": .mean, "mean_sqrt_len_tokens": .meanSqrtLength, "lasttoken": .last]
        func mode(_ name: String) throws -> TextPooling {
            guard let m = names[name] else {
                throw MMAttnError("pooling mode \"\(name)\" is not supported (supported: cls, max, mean, mean_sqrt_len_tokens, lasttoken)", file: json.file)
            }
            return m
        }
        if let value = json.object["pooling_mode"] {
            if let name = value.string { return [try mode(name)] }
            guard let list = value.array?.compactMap(\.string), !list.isEmpty, list.count == value.array?.count else {
                throw MMAttnError("pooling_mode must be a mode name or a list of them", file: json.file)
            }
            return try list.map(mode)
        }
        let legacy: [(String, String)] = [
            ("pooling_mode_cls_token", "cls"), ("pooling_mode_max_tokens", "max"), ("pooling_mode_mean_tokens", "mean"),
            ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"), ("pooling_mode_weightedmean_tokens", "weightedmean"),
            ("pooling_mode_lasttoken", "lasttoken")]
        let on = try legacy.filter { try json.bool($0.0, default: false) }.map { try mode($0.1) }
        guard !on.isEmpty else { throw MMAttnError("no pooling mode is turned on", file: json.file) }
        return on
    }
}

/// Options of a text embedding run. Nil fields take the folder's sentence-transformers settings,
/// else the defaults (mean pooling, no normalization, the model's maximum length).
public struct TextEmbeddingOptions: Sendable {
    public var pooling: TextPooling?
    public var normalize: Bool?
    /// Tokens per text, special tokens included; longer texts are truncated.
    public var maxLength: Int?
    /// Texts per forward pass (packed: a batch costs what its tokens cost).
    public var batchSize: Int
    /// A prompt of the sentence-transformers folder, by name ("query"), put before each text.
    public var promptName: String?
    /// A literal prompt put before each text (wins over `promptName`).
    public var prompt: String?

    public init(pooling: TextPooling? = nil, normalize: Bool? = nil, maxLength: Int? = nil, batchSize: Int = 32,
                promptName: String? = nil, prompt: String? = nil) {
        self.pooling = pooling
        self.normalize = normalize
        self.maxLength = maxLength
        self.batchSize = batchSize
        self.promptName = promptName
        self.prompt = prompt
    }
}

/// Text → tokens → BERT, RoBERTa, DistilBERT or GPT-2 → one vector per text (or every token's).
/// A sentence-transformers folder gives what its `encode` gives.
public final class TextEncoder: Sendable {
    public let folder: ModelFolder
    public let tokenizer: Tokenizer
    public let model: any TextModel
    /// The folder's sentence-transformers settings, when it is such a folder.
    public let sentenceTransformer: SentenceTransformerConfig?

    /// The model computes in `dtype` (bf16 where the CPU runs it: `DType.runnable`).
    public init(model spec: String, dtype: DType = .f32) throws {
        let load = try ModelLoad(spec, accepting: ModelFamily.textFamilies, for: "text commands", dtype: dtype)
        folder = load.folder
        model = try loadTextModel(load.folder, weights: load.checkpoint)
        tokenizer = try Tokenizer(folder: load.folder.path)
        sentenceTransformer = try SentenceTransformerConfig.load(folder: load.folder)
    }

    /// The tokens a text may have here: the option, else the sentence-transformers setting, else
    /// the tokenizer's `model_max_length`; never more than the model's `maxTokens`.
    public func maxLength(_ options: TextEmbeddingOptions) -> Int { lengthLimit(options).tokens }

    /// The limit and where it comes from, for messages.
    public func lengthLimit(_ options: TextEmbeddingOptions) -> (tokens: Int, source: String) {
        let candidates: [(Int?, String)] = [
            (options.maxLength, "--max-length"), (sentenceTransformer?.maxSequenceLength, "the folder's max_seq_length"),
            (tokenizer.modelMaxLength, "the tokenizer's model_max_length")]
        if let (limit, source) = candidates.first(where: { $0.0 != nil }), let limit, limit <= model.maxTokens { return (limit, source) }
        return (model.maxTokens, "the model's \(model.maxTokens) positions")
    }

    /// The pooling modes (`[.none]`: every token's vector) and normalization a run uses.
    public func settings(_ options: TextEmbeddingOptions) -> (pooling: [TextPooling], normalize: Bool) {
        (options.pooling.map { [$0] } ?? sentenceTransformer?.pooling ?? [.mean],
         options.normalize ?? sentenceTransformer?.normalize ?? false)
    }

    /// The shape of one text's pooled vector, [hidden · pooling modes] (with `.none`, each text
    /// gives [T, hidden] instead).
    public func outputShape(_ options: TextEmbeddingOptions) -> [Int] {
        [model.config.hiddenSize * settings(options).pooling.filter { $0 != .none }.count]
    }

    /// The text put before every text: `options.prompt`, else the named prompt, else the folder's
    /// default prompt (as sentence-transformers' `encode(prompt=…, prompt_name=…)`). Throws for a
    /// name the folder does not define.
    public func prompt(_ options: TextEmbeddingOptions) throws -> String? {
        if let prompt = options.prompt { return prompt }
        guard let name = options.promptName ?? sentenceTransformer?.defaultPromptName else { return nil }
        guard let text = sentenceTransformer?.prompts[name] else {
            let known = (sentenceTransformer?.prompts.keys.sorted() ?? []).map { "\"\($0)\"" }
            throw MMAttnError("prompt \"\(name)\" is not defined by this model (" + (known.isEmpty ? "it defines no prompts" : "it defines " + known.joined(separator: ", ")) + "); pass the text itself as a literal prompt instead",
                              file: folder.file("config_sentence_transformers.json"))
        }
        return text
    }

    /// Token ids of each text as the model will see them (prompt put before, truncated, special
    /// tokens added).
    public func encode(_ texts: [String], options: TextEmbeddingOptions = TextEmbeddingOptions()) throws -> [Encoding] {
        tokenizer.encodeBatch(try prepare(texts, options: options), maxLength: maxLength(options))
    }

    /// The texts as the tokenizer sees them: the prompt put before each, lower-cased where the
    /// sentence-transformers folder says so.
    public func prepare(_ texts: [String], options: TextEmbeddingOptions = TextEmbeddingOptions()) throws -> [String] {
        var prepared = texts
        if let prompt = try prompt(options), !prompt.isEmpty {
            guard sentenceTransformer?.poolingIncludesPrompt ?? true else {
                throw MMAttnError("this model's Pooling module leaves the prompt's tokens out (include_prompt is false), which mmattn does not do yet; embed without a prompt",
                                  file: folder.file("modules.json"))
            }
            prepared = prepared.map { prompt + $0 }
        }
        if sentenceTransformer?.lowercase == true { prepared = prepared.map { $0.lowercased() } }
        return prepared
    }

    /// Embed `texts`: per text [D] (pooled; several sentence-transformers modes are concatenated)
    /// or [T, D] with `pooling: .none`. `truncated` counts texts cut to the maximum length.
    public func embed(_ texts: [String], options: TextEmbeddingOptions = TextEmbeddingOptions()) throws -> (vectors: [Tensor], truncated: Int) {
        guard !texts.isEmpty else { return ([], 0) }
        let encodings = try encode(texts, options: options)
        let (pooling, normalize) = settings(options)
        let vectors = try embed(encodings: encodings, pooling: pooling, normalize: [Bool](repeating: normalize, count: encodings.count),
                                batchSize: options.batchSize)
        return (vectors, encodings.filter(\.truncated).count)
    }

    /// Embed token sequences (from `encode`, or ids given as they are), `batchSize` sequences per
    /// packed forward pass: per sequence [D] pooled with `pooling` (concatenated), or [T, D] with
    /// `[.none]`; sequence i is normalized when `normalize[i]`. Throws for an empty sequence.
    public func embed(encodings: [Encoding], pooling: [TextPooling], normalize: [Bool], batchSize: Int) throws -> [Tensor] {
        precondition(normalize.count == encodings.count, "one normalize flag per sequence")
        if let empty = encodings.firstIndex(where: { $0.ids.isEmpty }) {
            throw MMAttnError("text \(empty + 1) of \(encodings.count) has no tokens (it is empty, and this \(model.family.displayName) tokenizer "
                              + "adds no special tokens), so there is nothing to embed; drop empty texts")
        }
        // Longest first: texts of similar lengths share a batch (packed, so no padding either way).
        let order = encodings.indices.sorted { encodings[$0].ids.count > encodings[$1].ids.count }
        var results = [Tensor?](repeating: nil, count: encodings.count)
        let batchSize = max(1, batchSize)
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let batch = Array(order[start..<min(start + batchSize, order.count)])
            let ids = batch.map { encodings[$0].ids }
            let types = model.usesTokenTypes ? batch.map { encodings[$0].typeIds } : nil
            let out = try model.forward(ids: ids, typeIds: types, options: TextForwardOptions(packed: true))
            for (k, index) in batch.enumerated() {
                let start = out.layout.starts[k]
                let rows = out.lastHiddenState.rows(start..<(start + out.lengths[k]))  // [n, D], a copy
                var vector = pooling == [.none] ? rows : Self.pool(rows, modes: pooling)
                if normalize[index] { vector = Self.normalized(vector) }
                results[index] = vector
            }
        }
        return results.map { $0! }
    }

    /// Pool `rows` ([n, D]) with each mode (not `.none`) and concatenate, [D · modes].
    static func pool(_ rows: Tensor, modes: [TextPooling]) -> Tensor {
        let n = rows.shape[0], D = rows.shape[1]
        let out = Tensor(zeros: [D * modes.count])
        for (m, mode) in modes.enumerated() {
            let o = out.data + m * D
            switch mode {
            case .cls: o.update(from: rows.pointer, count: D)
            case .last: o.update(from: rows.pointer + (n - 1) * D, count: D)
            case .max:
                o.update(from: rows.pointer, count: D)
                for t in 1..<max(n, 1) { for d in 0..<D { o[d] = Swift.max(o[d], rows.pointer[t * D + d]) } }
            case .none: preconditionFailure("token vectors are not pooled")
            case .mean, .meanSqrtLength:
                let mean = Pooling.mean.apply(rows)
                let scale: Float = mode == .mean ? 1 : Float(n).squareRoot()
                for d in 0..<D { o[d] = mean.pointer[d] * scale }
            }
        }
        return out
    }

    /// `x / max(‖x‖₂, 1e-12)` over the last axis, as torch's `F.normalize`.
    public static func normalized(_ x: Tensor) -> Tensor {
        let D = x.shape.last ?? 0, rows = x.count / Swift.max(D, 1)
        let out = x.copy()
        for r in 0..<rows {
            let p = out.data + r * D
            var sum: Double = 0
            for d in 0..<D { sum += Double(p[d]) * Double(p[d]) }
            let scale = Float(1 / Swift.max(sum.squareRoot(), 1e-12))
            for d in 0..<D { p[d] *= scale }
        }
        return out
    }
}
