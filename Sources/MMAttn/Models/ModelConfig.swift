import Foundation

/// The model families mmattn runs, detected from `config.json`.
public enum ModelFamily: String, Sendable, CaseIterable {
    case vit, deit, whisper, ast, esm

    /// Detect the family from `model_type`, falling back to `architectures`.
    public init(config: JSONFields) throws {
        let modelType = try config.string("model_type")
        switch modelType {
        case "vit": self = .vit; return
        case "deit": self = .deit; return
        case "whisper": self = .whisper; return
        case "audio-spectrogram-transformer": self = .ast; return
        case "esm": self = .esm; return
        default: break
        }
        for a in config.object["architectures"]?.array?.compactMap(\.string) ?? [] {
            if a.hasPrefix("ViT") { self = .vit; return }
            if a.hasPrefix("DeiT") { self = .deit; return }
            if a.hasPrefix("Whisper") { self = .whisper; return }
            if a.hasPrefix("AST") { self = .ast; return }
            if a.hasPrefix("Esm") { self = .esm; return }
        }
        let known = "vit, deit, whisper, audio-spectrogram-transformer, esm"
        if let modelType {
            throw MMAttnError("model_type \"\(modelType)\" is not supported (supported: \(known))", file: config.file)
        }
        throw MMAttnError("neither \"model_type\" nor a known \"architectures\" entry says which model this is (supported: \(known))", file: config.file)
    }

    /// The family's usual name: ViT, DeiT, Whisper, AST, ESM-2.
    public var displayName: String {
        switch self {
        case .vit: return "ViT"
        case .deit: return "DeiT"
        case .whisper: return "Whisper"
        case .ast: return "AST"
        case .esm: return "ESM-2"
        }
    }

    /// "a ViT model", "an ESM-2 model", for messages.
    public var modelPhrase: String { Self.withArticle(displayName) + " model" }

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

    /// A required integer under the first present of several key names.
    func int(anyOf keys: [String], in range: ClosedRange<Int>) throws -> Int {
        for k in keys where has(k) { return try int(k, in: range) }
        throw MMAttnError("missing \"\(keys[0])\": the file does not look like a complete configuration", file: file)
    }

    func layerCount(_ keys: String...) throws -> Int {
        try int(anyOf: keys, in: 0...Limits.layers)
    }

    /// Label names from `id2label`, indexed 0..<count; missing names become "LABEL_i".
    func labels(count: Int) throws -> [String] {
        var names = (0..<count).map { "LABEL_\($0)" }
        guard let map = try fields("id2label") else { return names }
        for key in map.object.keys {
            guard let i = Int(key), i >= 0 else {
                throw MMAttnError("id2label key \"\(key)\" is not a label index (expected \"0\", \"1\", ...)", file: file)
            }
            guard let name = map.object[key]?.string else {
                throw MMAttnError("id2label[\"\(key)\"] must be a string", file: file)
            }
            if i < count { names[i] = name }
        }
        return names
    }
}
