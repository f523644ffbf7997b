import Foundation

/// The model families mmattn runs, detected from `config.json`.
public enum ModelFamily: String, Sendable, CaseIterable {
    case vit, deit, whisper, ast, esm, timesformer, videomae
    case bert, roberta, distilbert, gpt2, modernbert, qwen3

    /// `model_type` values and the family each is run as (XLM-RoBERTa and CamemBERT are RoBERTa).
    static let modelTypes: [(String, ModelFamily)] = [
        ("vit", .vit), ("deit", .deit), ("whisper", .whisper), ("audio-spectrogram-transformer", .ast), ("esm", .esm),
        ("timesformer", .timesformer), ("videomae", .videomae),
        ("bert", .bert), ("roberta", .roberta), ("xlm-roberta", .roberta), ("camembert", .roberta),
        ("distilbert", .distilbert), ("gpt2", .gpt2), ("modernbert", .modernbert), ("qwen3", .qwen3),
    ]

    /// `architectures` class-name prefixes, for configs whose `model_type` is missing or unknown.
    static let architecturePrefixes: [(String, ModelFamily)] = [
        ("ViT", .vit), ("DeiT", .deit), ("Whisper", .whisper), ("AST", .ast), ("Esm", .esm),
        ("Timesformer", .timesformer), ("VideoMAE", .videomae),
    ]

    /// The text families' class-name stems; the class must be the stem then `Model`, `For…`,
    /// `LMHead…` or `DoubleHeads…`, so that relatives with other layouts (`BertGenerationEncoder`,
    /// `RobertaPreLayerNormModel`, `XLMRobertaXLModel`) are not taken for them.
    static let textArchitectureStems: [(String, ModelFamily)] = [
        ("Bert", .bert), ("DistilBert", .distilbert), ("Roberta", .roberta), ("XLMRoberta", .roberta),
        ("Camembert", .roberta), ("GPT2", .gpt2), ("ModernBert", .modernbert), ("Qwen3", .qwen3),
    ]

    static func family(ofArchitecture name: String) -> ModelFamily? {
        if let match = architecturePrefixes.first(where: { name.hasPrefix($0.0) }) { return match.1 }
        for (stem, family) in textArchitectureStems where name.hasPrefix(stem) {
            let rest = name.dropFirst(stem.count)
            if ["Model", "For", "LMHead", "DoubleHeads"].contains(where: { rest.hasPrefix($0) }) { return family }
        }
        return nil
    }

    /// Detect the family from `model_type`, falling back to `architectures`.
    public init(config: JSONFields) throws {
        let modelType = try config.string("model_type")
        if let modelType, let match = Self.modelTypes.first(where: { $0.0 == modelType }) {
            self = match.1
            return
        }
        for a in config.object["architectures"]?.array?.compactMap(\.string) ?? [] {
            if let family = Self.family(ofArchitecture: a) {
                self = family
                return
            }
        }
        let known = Self.modelTypes.map(\.0).joined(separator: ", ")
        if let modelType {
            throw MMAttnError("model_type \"\(modelType)\" is not supported (supported: \(known))", file: config.file)
        }
        throw MMAttnError("neither \"model_type\" nor a known \"architectures\" entry says which model this is (supported: \(known))", file: config.file)
    }

    /// The family's usual name: ViT, DeiT, Whisper, AST, ESM-2, TimeSformer, VideoMAE, BERT, RoBERTa, DistilBERT, GPT-2, ModernBERT, Qwen3.
    public var displayName: String {
        switch self {
        case .vit: return "ViT"
        case .deit: return "DeiT"
        case .whisper: return "Whisper"
        case .ast: return "AST"
        case .esm: return "ESM-2"
        case .timesformer: return "TimeSformer"
        case .videomae: return "VideoMAE"
        case .bert: return "BERT"
        case .roberta: return "RoBERTa"
        case .distilbert: return "DistilBERT"
        case .gpt2: return "GPT-2"
        case .modernbert: return "ModernBERT"
        case .qwen3: return "Qwen3"
        }
    }

    /// The families that run over text token ids (`loadTextModel`).
    public static let textFamilies: [ModelFamily] = [.bert, .roberta, .distilbert, .gpt2, .modernbert, .qwen3]

    /// The families that run over video clips (`loadVideoModel`).
    public static let videoFamilies: [ModelFamily] = [.timesformer, .videomae]

    /// "a ViT model", "an ESM-2 model", for messages.
    public var modelPhrase: String { Self.withArticle(displayName) + " model" }

    /// "a ViT or DeiT", "a BERT, RoBERTa, DistilBERT or GPT-2": `families` as one phrase for messages.
    static func listPhrase(_ families: [ModelFamily]) -> String {
        let names = families.map(\.displayName)
        return withArticle(names.count <= 2 ? names.joined(separator: " or ") : names.dropLast().joined(separator: ", ") + " or " + names.last!)
    }

    /// `name` after "a" or "an" as its first letter asks ("a ViT", "an AST").
    static func withArticle(_ name: String) -> String {
        ("AEIOU".contains(name.first ?? "x") ? "an " : "a ") + name
    }
}

/// How a classifier's logits become the scores people read (transformers' `function_to_apply`).
public enum Scoring: String, Sendable, CaseIterable {
    /// Probabilities over the classes (single-label classifiers).
    case softmax
    /// Independent probabilities per class (multi-label classifiers such as AudioSet's).
    case sigmoid
    /// The logits themselves (regression heads).
    case none
}

extension ModelFolder {
    /// The family `config.json` declares; throws, naming config.json, when mmattn does not run it.
    public func family() throws -> ModelFamily { try ModelFamily(config: config) }
}

/// Reading the transformer hyper-parameters that every family shares, with the sanity bounds that
/// keep a hostile config from asking for absurd allocations.
extension JSONFields {
    /// Upper bounds on declared sizes. Real checkpoints are far below them.
    enum Limits {
        static let width = 1 << 16
        static let layers = 1024
        static let heads = 1024
        static let positions = 1 << 20
        static let vocabulary = 1 << 22
        static let labels = 1 << 20
    }

    /// The encoder configuration from the usual keys (`hidden_size`/`d_model`, ...).
    func encoderConfig(normPlacement: NormPlacement, defaultActivation: String = "gelu",
                       hiddenKeys: [String] = ["hidden_size"], headKeys: [String] = ["num_attention_heads"],
                       intermediateKeys: [String] = ["intermediate_size"], activationKeys: [String] = ["hidden_act"],
                       epsKeys: [String] = ["layer_norm_eps"], defaultEps: Double = 1e-12) throws -> EncoderConfig {
        let hidden = try int(anyOf: hiddenKeys, in: 1...Limits.width)
        let heads = try int(anyOf: headKeys, in: 1...Limits.heads)
        guard hidden % heads == 0 else {
            throw MMAttnError("\(hiddenKeys[0]) \(hidden) is not divisible by \(headKeys[0]) \(heads)", file: file)
        }
        let intermediate = try int(anyOf: intermediateKeys, in: 1...Limits.width * 8)
        let actName = try activationKeys.lazy.compactMap { try self.string($0) }.first ?? defaultActivation
        guard let activation = Activation(configName: actName) else {
            throw MMAttnError("activation \"\(actName)\" is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu, relu, silu)", file: file)
        }
        var eps = defaultEps
        for k in epsKeys where has(k) { eps = try double(k, default: defaultEps) }
        guard eps > 0, eps < 1 else { throw MMAttnError("\(epsKeys[0]) must be a small positive number, found \(eps)", file: file) }
        return EncoderConfig(hiddenSize: hidden, numHeads: heads, intermediateSize: intermediate, layerNormEps: Float(eps),
                             activation: activation, normPlacement: normPlacement)
    }

    /// The configuration the patch-based vision families share (ViT, DeiT, TimeSformer, VideoMAE):
    /// a pre-LN encoder with `layer_norm_eps` (default `eps`), and a square `image_size` cut into
    /// `patch_size` patches, checked to fit.
    func patchModel(defaultEps eps: Double) throws -> (encoder: EncoderConfig, imageSize: Int, patchSize: Int) {
        var encoder = try encoderConfig(normPlacement: .pre)
        encoder.layerNormEps = Float(try double("layer_norm_eps", default: eps))
        let imageSize = try int("image_size", default: 224, in: 1...16384)
        let patchSize = try int("patch_size", default: 16, in: 1...1024)
        guard patchSize <= imageSize else { throw MMAttnError("patch_size \(patchSize) is larger than image_size \(imageSize)", file: file) }
        return (encoder, imageSize, patchSize)
    }

    /// A required integer under the first present of several key names.
    func int(anyOf keys: [String], in range: ClosedRange<Int>) throws -> Int {
        for k in keys where has(k) { return try int(k, in: range) }
        throw MMAttnError("missing \"\(keys[0])\": the file does not look like a complete configuration", file: file)
    }

    func layerCount(_ keys: String...) throws -> Int {
        try int(anyOf: keys, in: 0...Limits.layers)
    }

    /// transformers 5's `layer_types`: "full_attention" or "sliding_attention" for each of
    /// `layers` layers; nil when the config has none.
    func layerTypes(layers: Int) throws -> [String]? {
        guard let list = object["layer_types"]?.array else { return nil }
        let types = list.compactMap(\.string)
        guard types.count == layers, types.count == list.count,
              types.allSatisfy({ $0 == "full_attention" || $0 == "sliding_attention" }) else {
            throw MMAttnError("layer_types must list \"full_attention\" or \"sliding_attention\" for each of the \(layers) layers", file: file)
        }
        return types
    }

    /// Label names from `id2label`, indexed 0..<count (the classifier's rows); without `id2label`
    /// they are "LABEL_i". An `id2label` of another size than the classifier is an error naming
    /// both numbers, as is a key outside 0..<count. `count` 0 (no classifier) reads nothing.
    func labels(count: Int, classifier: String) throws -> [String] {
        var names = (0..<count).map { "LABEL_\($0)" }
        guard count > 0, let map = try fields("id2label") else { return names }
        guard map.object.keys.count == count else {
            throw MMAttnError("id2label has \(map.object.keys.count) labels but the classifier (\(classifier)) has \(count) rows: the config does not belong to these weights; fix id2label or use the matching config.json", file: file)
        }
        var seen = Set<Int>()
        for key in map.object.keys {
            guard let i = Int(key), i >= 0 else {
                throw MMAttnError("id2label key \"\(key)\" is not a label index (expected \"0\", \"1\", ...)", file: file)
            }
            guard i < count else {
                throw MMAttnError("id2label key \"\(key)\" is outside the classifier's \(count) rows (\(classifier))", file: file)
            }
            guard seen.insert(i).inserted else {
                throw MMAttnError("id2label gives label \(i) twice (key \"\(key)\")", file: file)
            }
            guard let name = map.object[key]?.string else {
                throw MMAttnError("id2label[\"\(key)\"] must be a string", file: file)
            }
            names[i] = name
        }
        return names
    }
}
