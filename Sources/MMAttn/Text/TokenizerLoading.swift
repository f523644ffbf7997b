import Foundation

/// A value inside `tokenizer.json` with its path (`pre_tokenizer.pretokenizers[1].pattern`), so
/// every error says which field is wrong.
private struct Node {
    let value: JSON
    let path: String
    let file: String

    func fail(_ what: String) -> MMAttnError { MMAttnError("\(path.isEmpty ? "" : path + ": ")\(what)", file: file) }

    private func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func object() throws -> JSONObject {
        guard let o = value.object else { throw fail("expected an object, found \(value.kindName)") }
        return o
    }

    /// The member `key`, or nil when it is absent or null.
    func optional(_ key: String) throws -> Node? {
        guard let v = try object()[key], !v.isNull else { return nil }
        return Node(value: v, path: childPath(key), file: file)
    }

    func required(_ key: String) throws -> Node {
        guard let n = try optional(key) else { throw Node(value: value, path: childPath(key), file: file).fail("missing") }
        return n
    }

    func string() throws -> String {
        guard let s = value.string else { throw fail("expected a string, found \(value.kindName)") }
        return s
    }

    func bool() throws -> Bool {
        guard let b = value.bool else { throw fail("expected true or false, found \(value.kindName)") }
        return b
    }

    func int(in range: ClosedRange<Int>) throws -> Int {
        guard let i = value.int else { throw fail("expected an integer, found \(value.kindName)") }
        guard range.contains(i) else { throw fail("\(i) is outside \(range.lowerBound)...\(range.upperBound)") }
        return i
    }

    func array() throws -> [Node] {
        guard let a = value.array else { throw fail("expected an array, found \(value.kindName)") }
        return a.enumerated().map { Node(value: $1, path: "\(path)[\($0)]", file: file) }
    }

    func string(_ key: String, default d: String) throws -> String { try optional(key)?.string() ?? d }
    func bool(_ key: String, default d: Bool) throws -> Bool { try optional(key)?.bool() ?? d }
    func type() throws -> String { try required("type").string() }
}

/// Largest vocabulary or id accepted (real vocabularies stay below a million).
private let maxTokenId = 1 << 24

extension Tokenizer {
    /// The tokenizer of a model folder: `tokenizer.json`; else GPT-2/RoBERTa's `vocab.json` +
    /// `merges.txt`; else BERT's `vocab.txt`. `tokenizer_config.json` supplies `model_max_length`
    /// and, for the legacy files, the options transformers reads from it.
    public convenience init(folder: String) throws {
        func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }
        let tokenizerConfig = exists("tokenizer_config.json") ? try JSONFields.load(path("tokenizer_config.json")) : nil
        if exists("tokenizer.json") {
            try self.init(file: path("tokenizer.json"), config: tokenizerConfig)
        } else if exists("vocab.json") && exists("merges.txt") {
            let modelConfig = exists("config.json") ? try JSONFields.load(path("config.json")) : nil
            try self.init(legacyBPE: path("vocab.json"), merges: path("merges.txt"), config: tokenizerConfig, modelConfig: modelConfig)
        } else if exists("vocab.txt") {
            try self.init(legacyWordPiece: path("vocab.txt"), config: tokenizerConfig)
        } else {
            throw MMAttnError("no tokenizer in the folder: expected tokenizer.json, vocab.json with merges.txt, or vocab.txt", file: folder)
        }
    }

    /// The tokenizer `spec` names: a folder (as `init(folder:)`), a `tokenizer.json` file, or a Hub
    /// id in the Hugging Face cache.
    public static func load(_ spec: String) throws -> Tokenizer {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: spec, isDirectory: &isFolder) {
            return isFolder.boolValue ? try Tokenizer(folder: spec) : try Tokenizer(file: spec)
        }
        return try Tokenizer(folder: try HubCache().find(try HubModelID(spec), needsWeights: false))
    }

    /// A `tokenizer.json` file of Hugging Face `tokenizers`.
    public convenience init(file: String, config: JSONFields? = nil) throws {
        let root = Node(value: try JSON.load(contentsOf: file), path: "", file: file)
        _ = try root.object()
        let normalizerNode = try root.optional("normalizer")
        let byteLevelNormalizer = try normalizerNode.map { try $0.type() == "ByteLevel" } ?? false
        let normalizer = try normalizerNode.flatMap { try Self.parseNormalizer($0) }
        let preTokenizer = try root.optional("pre_tokenizer").map { try Self.parsePreTokenizer($0) }
        let modelNode = try root.required("model")
        let vocab = try Self.parseVocab(try modelNode.required("vocab"))
        let byteLevel = byteLevelNormalizer || (preTokenizer?.isByteLevel ?? false)
        let model = try Self.parseModel(modelNode, vocab: vocab, byteLevel: byteLevel)
        var added: [AddedToken] = []
        for n in try root.optional("added_tokens")?.array() ?? [] {
            added.append(AddedToken(
                id: Int32(try n.required("id").int(in: 0...maxTokenId)), content: try n.required("content").string(),
                singleWord: try n.bool("single_word", default: false), lstrip: try n.bool("lstrip", default: false),
                rstrip: try n.bool("rstrip", default: false), normalized: try n.bool("normalized", default: true),
                special: try n.bool("special", default: false)))
        }
        let byContent = Dictionary(added.map { ($0.content, $0.id) }, uniquingKeysWith: { a, _ in a })
        func lookup(_ token: String) -> Int32? { byContent[token] ?? model.id(token) }
        let post = try root.optional("post_processor").map { try Self.parsePostProcessor($0, lookup: lookup) }
        let decoder = try root.optional("decoder").map { try Self.parseDecoder($0) }
        var padId = try root.optional("padding")?.optional("pad_id").map { Int32(try $0.int(in: 0...maxTokenId)) }
        if padId == nil, let padToken = try config?.string("pad_token") { padId = lookup(padToken) }
        self.init(source: file, normalizer: normalizer, preTokenizer: preTokenizer, model: model, postProcessor: post,
                  decoder: decoder, addedTokens: added, modelMaxLength: Self.configuredMaxLength(config), padId: padId)
    }

    /// `model_max_length` unless it is transformers' "no limit" placeholder (1e30).
    private static func configuredMaxLength(_ config: JSONFields?) -> Int? {
        guard let v = config?.object["model_max_length"]?.double, v >= 1, v < 1e9 else { return nil }
        return Int(v)
    }

    // MARK: models

    private static func parseVocab(_ n: Node) throws -> [String: Int32] {
        guard let o = n.value.object else {
            if n.value.array != nil { throw n.fail("a list of (piece, score) pairs is a Unigram (SentencePiece) vocabulary, which mmattn does not run (supported models: BPE, WordPiece, WordLevel)") }
            throw n.fail("expected an object of token → id, found \(n.value.kindName)")
        }
        guard o.keys.count <= maxTokenId else { throw n.fail("\(o.keys.count) tokens is more than any real vocabulary") }
        guard !o.keys.isEmpty else { throw n.fail("the vocabulary is empty: this tokenizer cannot produce any token") }
        var vocab: [String: Int32] = [:]
        vocab.reserveCapacity(o.keys.count)
        for key in o.keys {
            guard let id = o[key]?.int, (0..<maxTokenId).contains(id) else {
                throw n.fail("the id of \"\(key.prefix(40))\" must be an integer in 0..<\(maxTokenId), found \(o[key]?.kindName ?? "nothing")")
            }
            vocab[key] = Int32(id)
        }
        return vocab
    }

    private static func parseModel(_ n: Node, vocab: [String: Int32], byteLevel: Bool) throws -> TokenModel {
        var type = try n.optional("type")?.string()
        if type == nil {
            type = try n.optional("merges") != nil ? "BPE" : try n.optional("max_input_chars_per_word") != nil ? "WordPiece" : "WordLevel"
        }
        switch type! {
        case "BPE":
            var merges: [(String, String)] = []
            for m in try n.optional("merges")?.array() ?? [] {
                if let s = m.value.string {
                    let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw m.fail("a merge must be two tokens separated by a space, found \"\(s.prefix(40))\"") }
                    merges.append((String(parts[0]), String(parts[1])))
                } else if let a = m.value.array, a.count == 2, let x = a[0].string, let y = a[1].string {
                    merges.append((x, y))
                } else {
                    throw m.fail("a merge must be \"a b\" or [\"a\", \"b\"], found \(m.value.kindName)")
                }
            }
            if let dropout = try n.optional("dropout"), let d = dropout.value.double, d > 0 {
                Diagnostics.warn("\(n.file): model.dropout \(d) is a training setting; tokenizing without it")
            }
            return .bpe(try BPEModel(
                vocab: vocab, merges: merges, byteLevel: byteLevel, unknown: try n.optional("unk_token")?.string(),
                fuseUnknown: try n.bool("fuse_unk", default: false), byteFallback: try n.bool("byte_fallback", default: false),
                continuingPrefix: try n.string("continuing_subword_prefix", default: ""),
                endOfWordSuffix: try n.string("end_of_word_suffix", default: ""),
                ignoreMerges: try n.bool("ignore_merges", default: false), file: n.file))
        case "WordPiece":
            return .wordPiece(try WordPieceModel(
                vocab: vocab, unknown: try n.string("unk_token", default: "[UNK]"),
                continuingPrefix: try n.string("continuing_subword_prefix", default: "##"),
                maxInputCharsPerWord: try n.optional("max_input_chars_per_word")?.int(in: 1...1_000_000) ?? 100, file: n.file))
        case "WordLevel":
            var tokens: [Int32: String] = [:]
            var table = ByteTable(capacity: vocab.count)
            for (t, id) in vocab { tokens[id] = t; table.insert(Array(t.utf8), id) }
            let unk = try n.optional("unk_token")?.string()
            let unknown = unk.flatMap { vocab[$0] }
            if let unk, unknown == nil { throw n.fail("unk_token \"\(unk)\" is not in the vocabulary") }
            return .wordLevel(vocab: vocab, tokens: tokens, table: table, unknown: unknown)
        case let other:
            throw try n.required("type").fail("model type \"\(other)\" is not supported (supported: BPE, WordPiece, WordLevel)")
        }
    }

    // MARK: pipeline pieces

    private static func parsePattern(_ n: Node) throws -> TextPattern {
        if let s = try n.optional("String") { return .string(try s.string()) }
        if let r = try n.optional("Regex") {
            let source = try r.string()
            do {
                let regex = try Regex(source).matchingSemantics(.unicodeScalar)
                _ = "".firstMatch(of: regex)  // lowers the program now, before threads share it
                return .regex(regex, source: source)
            } catch {
                throw r.fail("the regular expression does not compile here (\(error))")
            }
        }
        throw n.fail("expected {\"String\": ...} or {\"Regex\": ...}")
    }

    private static func parseBehavior(_ n: Node?, default d: SplitBehavior) throws -> SplitBehavior {
        guard let n else { return d }
        let s = try n.string()
        guard let b = SplitBehavior(rawValue: s) else {
            throw n.fail("unknown split behavior \"\(s)\" (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)")
        }
        return b
    }

    private static func parseNormalizer(_ n: Node) throws -> Normalizer? {
        switch try n.type() {
        case "BertNormalizer":
            let lowercase = try n.bool("lowercase", default: true)
            return .bert(cleanText: try n.bool("clean_text", default: true), chineseChars: try n.bool("handle_chinese_chars", default: true),
                         stripAccents: try n.optional("strip_accents")?.bool() ?? lowercase, lowercase: lowercase)
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "StripAccents": return .stripAccents
        case "Strip": return .strip(left: try n.bool("strip_left", default: true), right: try n.bool("strip_right", default: true))
        case "Replace": return .replace(try parsePattern(try n.required("pattern")), try n.required("content").string())
        case "Prepend": return .prepend(try n.required("prepend").string())
        case "Append": return .append(try n.required("append").string())
        case "ByteLevel": return nil  // bytes become characters in the byte-level model
        case "Sequence":
            return .sequence(try n.required("normalizers").array().compactMap { try parseNormalizer($0) })
        case let other:
            throw try n.required("type").fail("normalizer \"\(other)\" is not supported (supported: BertNormalizer, NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip, Replace, Prepend, ByteLevel, Sequence)")
        }
    }

    private static func parsePreTokenizer(_ n: Node) throws -> PreTokenizer {
        switch try n.type() {
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: try n.bool("add_prefix_space", default: true), useRegex: try n.bool("use_regex", default: true))
        case "Split":
            let pattern = try parsePattern(try n.required("pattern"))
            let behavior = try parseBehavior(try n.required("behavior"), default: .isolated)
            let invert = try n.bool("invert", default: false)
            if case .regex(_, let source) = pattern, behavior == .isolated, !invert {
                if source == GPT2Split.pattern { return .gpt2Split }
                if let maxDigits = CL100KSplit.maxDigits(pattern: source) { return .cl100kSplit(maxDigits: maxDigits) }
            }
            return .split(pattern, behavior, invert: invert)
        case "BertPreTokenizer": return .bert
        case "Whitespace": return .whitespace
        case "WhitespaceSplit": return .whitespaceSplit
        case "Digits": return .digits(individual: try n.bool("individual_digits", default: false))
        case "Punctuation": return .punctuation(try parseBehavior(try n.optional("behavior"), default: .isolated))
        case "CharDelimiterSplit":
            let d = try n.required("delimiter").string()
            guard d.unicodeScalars.count == 1 else { throw try n.required("delimiter").fail("expected one character") }
            return .charDelimiter(d.unicodeScalars.first!)
        case "Sequence":
            return .sequence(try n.required("pretokenizers").array().map(parsePreTokenizer))
        case let other:
            throw try n.required("type").fail("pre-tokenizer \"\(other)\" is not supported (supported: ByteLevel, Split, BertPreTokenizer, Whitespace, WhitespaceSplit, Digits, Punctuation, CharDelimiterSplit, Sequence)")
        }
    }

    private static func parsePostProcessor(_ n: Node, lookup: (String) -> Int32?) throws -> PostProcessor {
        func tokenPair(_ key: String) throws -> Int32 {
            let node = try n.required(key)
            let a = try node.array()
            guard a.count == 2 else { throw node.fail("expected [token, id]") }
            return Int32(try a[1].int(in: 0...maxTokenId))
        }
        switch try n.type() {
        case "TemplateProcessing":
            var specials: [String: [Int32]] = [:]
            if let s = try n.optional("special_tokens") {
                for key in try s.object().keys {
                    let entry = try s.required(key)
                    specials[key] = try entry.required("ids").array().map { Int32(try $0.int(in: 0...maxTokenId)) }
                }
            }
            func template(_ key: String) throws -> [TemplatePiece] {
                try n.required(key).array().map { piece in
                    if let s = try piece.optional("SpecialToken") {
                        let id = try s.required("id").string()
                        guard let ids = specials[id] ?? lookup(id).map({ [$0] }) else {
                            throw s.fail("special token \"\(id)\" is neither in special_tokens nor in the vocabulary")
                        }
                        return .special(ids, typeId: Int32(try s.optional("type_id")?.int(in: 0...Encoding.maxTypeId) ?? 0))
                    }
                    if let s = try piece.optional("Sequence") {
                        let id = try s.required("id").string()
                        guard id == "A" || id == "B" else { throw s.fail("sequence id must be \"A\" or \"B\", found \"\(id)\"") }
                        return .sequence(second: id == "B", typeId: Int32(try s.optional("type_id")?.int(in: 0...Encoding.maxTypeId) ?? 0))
                    }
                    throw piece.fail("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}")
                }
            }
            return .template(single: try template("single"), pair: try template("pair"))
        case "BertProcessing": return .bert(cls: try tokenPair("cls"), sep: try tokenPair("sep"))
        case "RobertaProcessing": return .roberta(cls: try tokenPair("cls"), sep: try tokenPair("sep"))
        case "ByteLevel": return .byteLevel
        case "Sequence":
            return .sequence(try n.required("processors").array().map { try parsePostProcessor($0, lookup: lookup) })
        case let other:
            throw try n.required("type").fail("post-processor \"\(other)\" is not supported (supported: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)")
        }
    }

    private static func parseDecoder(_ n: Node) throws -> TokenDecoder {
        switch try n.type() {
        case "ByteLevel": return .byteLevel
        case "WordPiece": return .wordPiece(prefix: try n.string("prefix", default: "##"), cleanup: try n.bool("cleanup", default: true))
        case "BPEDecoder": return .bpe(suffix: try n.string("suffix", default: "</w>"))
        case "Replace": return .replace(try parsePattern(try n.required("pattern")), try n.required("content").string())
        case "Strip":
            let c = try n.required("content").string()
            guard c.unicodeScalars.count == 1 else { throw try n.required("content").fail("expected one character") }
            return .strip(content: c.unicodeScalars.first!, start: try n.optional("start")?.int(in: 0...1_000_000) ?? 0,
                          stop: try n.optional("stop")?.int(in: 0...1_000_000) ?? 0)
        case "Fuse": return .fuse
        case "ByteFallback": return .byteFallback
        case "Metaspace":
            let r = try n.string("replacement", default: "▁")
            let scheme = try n.optional("prepend_scheme")?.string() ?? (try n.bool("add_prefix_space", default: true) ? "always" : "never")
            return .metaspace(replacement: r, prependFirst: scheme != "never")
        case "Sequence": return .sequence(try n.required("decoders").array().map(parseDecoder))
        case let other:
            throw try n.required("type").fail("decoder \"\(other)\" is not supported (supported: ByteLevel, WordPiece, BPEDecoder, Replace, Strip, Fuse, ByteFallback, Metaspace, Sequence)")
        }
    }

    // MARK: legacy files

    /// BERT's `vocab.txt` (one token per line, the line number is the id), with
    /// `tokenizer_config.json`'s `do_lower_case`, `strip_accents` and `tokenize_chinese_chars`.
    convenience init(legacyWordPiece file: String, config: JSONFields?) throws {
        let text = try Self.readText(file)
        var vocab: [String: Int32] = [:]
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard lines.count <= maxTokenId else { throw MMAttnError("\(lines.count) lines is more than any real vocabulary", file: file) }
        for (i, line) in lines.enumerated() where vocab[line] == nil { vocab[line] = Int32(i) }
        let lower = try config?.bool("do_lower_case", default: true) ?? true
        let strip = config?.object["strip_accents"]?.bool ?? lower
        let chinese = try config?.bool("tokenize_chinese_chars", default: true) ?? true
        func special(_ key: String, _ d: String) throws -> String { try config?.string(key) ?? d }
        let unk = try special("unk_token", "[UNK]"), cls = try special("cls_token", "[CLS]"), sep = try special("sep_token", "[SEP]")
        let pad = try special("pad_token", "[PAD]"), mask = try special("mask_token", "[MASK]")
        guard let clsId = vocab[cls], let sepId = vocab[sep] else {
            throw MMAttnError("the vocabulary lacks \(cls) or \(sep), which BERT's template needs", file: file)
        }
        let added = [pad, unk, cls, sep, mask].compactMap { t in
            vocab[t].map { AddedToken(id: $0, content: t, singleWord: false, lstrip: false, rstrip: false, normalized: false, special: true) }
        }.sorted { $0.id < $1.id }
        let model = try WordPieceModel(vocab: vocab, unknown: unk, continuingPrefix: "##", maxInputCharsPerWord: 100, file: file)
        self.init(source: file, normalizer: .bert(cleanText: true, chineseChars: chinese, stripAccents: strip, lowercase: lower),
                  preTokenizer: .bert, model: .wordPiece(model), postProcessor: .bert(cls: clsId, sep: sepId),
                  decoder: .wordPiece(prefix: "##", cleanup: true), addedTokens: added,
                  modelMaxLength: Self.configuredMaxLength(config), padId: vocab[pad])
    }

    /// GPT-2's and RoBERTa's `vocab.json` + `merges.txt`: byte-level BPE; RoBERTa's template when
    /// `config.json` or `tokenizer_config.json` says RoBERTa; `add_prefix_space` from the config.
    convenience init(legacyBPE vocabFile: String, merges mergesFile: String, config: JSONFields?, modelConfig: JSONFields?) throws {
        let vocab = try Self.parseVocab(Node(value: try JSON.load(contentsOf: vocabFile), path: "", file: vocabFile))
        var merges: [(String, String)] = []
        for (i, line) in try Self.readText(mergesFile).split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            if i == 0 && line.hasPrefix("#version") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw MMAttnError("line \(i + 1) is not two tokens separated by one space: \"\(line.prefix(40))\"", file: mergesFile)
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        let modelType = try modelConfig?.string("model_type")
        let tokenizerClass = try config?.string("tokenizer_class") ?? ""
        let isRoberta = modelType == "roberta" || tokenizerClass.hasPrefix("Roberta")
        let prefixSpace = try config?.bool("add_prefix_space", default: false) ?? false
        let model = try BPEModel(vocab: vocab, merges: merges, byteLevel: true, unknown: nil, fuseUnknown: false, byteFallback: false,
                                 continuingPrefix: "", endOfWordSuffix: "", ignoreMerges: false, file: mergesFile)
        var added: [AddedToken] = []
        var post: PostProcessor = .byteLevel
        if isRoberta {
            for t in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] {
                if let id = vocab[t] {
                    added.append(AddedToken(id: id, content: t, singleWord: false, lstrip: t == "<mask>", rstrip: false, normalized: false, special: true))
                }
            }
            guard let cls = vocab["<s>"], let sep = vocab["</s>"] else {
                throw MMAttnError("a RoBERTa vocabulary needs <s> and </s>", file: vocabFile)
            }
            post = .roberta(cls: cls, sep: sep)
        } else if let eot = vocab["<|endoftext|>"] {
            added.append(AddedToken(id: eot, content: "<|endoftext|>", singleWord: false, lstrip: false, rstrip: false, normalized: false, special: true))
        }
        self.init(source: vocabFile, normalizer: nil, preTokenizer: .byteLevel(addPrefixSpace: prefixSpace, useRegex: true),
                  model: .bpe(model), postProcessor: post, decoder: .byteLevel, addedTokens: added,
                  modelMaxLength: Self.configuredMaxLength(config), padId: vocab[isRoberta ? "<pad>" : "<|endoftext|>"])
    }

    private static func readText(_ file: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: file) else { throw MMAttnError("cannot read the file", file: file) }
        guard let text = String(validating: data, as: UTF8.self) else { throw MMAttnError("not valid UTF-8", file: file) }
        return text
    }
}
