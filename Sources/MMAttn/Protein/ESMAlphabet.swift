import Foundation

/// The token vocabulary of an ESM checkpoint and its tokenizer.
///
/// The vocabulary is the checkpoint's `vocab.txt`: one token per line, the id of a token is its line index
/// (as transformers' `EsmTokenizer` reads it). Tokenizing follows `EsmTokenizer` for one sequence:
/// `<cls>`, then the text split into vocabulary tokens (leftmost-longest match, so `<mask>` inside a sequence
/// is one token), whitespace dropped, each maximal run of other characters becoming one `<unk>`, then `<eos>`.
public struct ESMAlphabet: Sendable {
    /// Tokens by id.
    public let tokens: [String]
    /// Ids of the special tokens.
    public let clsId, eosId, padId, maskId, unkId: Int

    /// ESM-2's vocabulary (fair-esm's `ESM-1b` alphabet, the one every ESM-2 `vocab.txt` holds).
    public static let esm2Tokens = [
        "<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K", "Q", "N",
        "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>",
    ]

    /// The standard ESM-2 alphabet.
    public static let esm2: ESMAlphabet = {
        do { return try ESMAlphabet(tokens: esm2Tokens, source: "the built-in ESM-2 alphabet") } catch {
            fatalError("the built-in ESM-2 alphabet is invalid: \(error)")
        }
    }()

    /// A `vocab.txt` larger than this is not a vocabulary file.
    static let maxVocabBytes = 1 << 20

    /// Token id of each byte that is a token on its own (an ASCII character), -1 for the others. 256 entries.
    let byteIds: [Int32]
    /// Id of each token.
    private let ids: [String: Int32]
    /// Tokens as Unicode scalars, grouped by their first scalar, longest first (for leftmost-longest matching).
    private let tokensByFirstScalar: [Unicode.Scalar: [(scalars: [Unicode.Scalar], id: Int32)]]

    /// Loads a `vocab.txt` (one token per line, surrounding whitespace ignored, ids by line).
    /// Throws if the file is unreadable, not UTF-8, empty, has an empty line or a duplicate token, or lacks
    /// one of `<cls>`, `<pad>`, `<eos>`, `<unk>`, `<mask>`.
    public init(vocabFile: String) throws {
        let text = try Self.readVocabText(vocabFile)
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }  // the final newline ends the last line
        var tokens: [String] = []
        tokens.reserveCapacity(lines.count)
        for (i, line) in lines.enumerated() {
            let token = line.drop(while: Self.isWhitespace).reversed().drop(while: Self.isWhitespace).reversed()
            if token.isEmpty {
                throw MMAttnError("line \(i + 1) is empty; every line of vocab.txt must hold one token "
                                  + "(ids are line numbers, so a blank line would shift them)", file: vocabFile)
            }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: token)
            tokens.append(String(view))
        }
        try self.init(tokens: tokens, source: vocabFile)
    }

    /// An alphabet from a list of tokens (id = index). `source` names where the list came from in errors.
    public init(tokens: [String], source: String) throws {
        if tokens.isEmpty {
            throw MMAttnError("the vocabulary is empty; expected one token per line (ESM-2 has 33)", file: source)
        }
        if tokens.count > Int(Int32.max) {
            throw MMAttnError("the vocabulary has \(tokens.count) tokens, too many for 32-bit ids", file: source)
        }
        var ids: [String: Int32] = [:]
        var byteIds = [Int32](repeating: -1, count: 256)
        var byFirst: [Unicode.Scalar: [(scalars: [Unicode.Scalar], id: Int32)]] = [:]
        for (i, token) in tokens.enumerated() {
            if token.isEmpty {
                throw MMAttnError("token \(i) (line \(i + 1)) is empty; every token must be at least one character",
                                  file: source)
            }
            if let bad = token.unicodeScalars.first(where: { Self.isWhitespace($0) || $0.properties.generalCategory == .control }) {
                throw MMAttnError("token \(i) (line \(i + 1)) \(token.debugDescription) contains the character "
                                  + "U+\(String(bad.value, radix: 16, uppercase: true)); tokens must be single words",
                                  file: source)
            }
            if let previous = ids[token] {
                throw MMAttnError("token \(token.debugDescription) appears twice, at lines \(previous + 1) and \(i + 1); "
                                  + "each token must appear once", file: source)
            }
            ids[token] = Int32(i)
            let scalars = Array(token.unicodeScalars)
            if scalars.count == 1, scalars[0].isASCII { byteIds[Int(scalars[0].value)] = Int32(i) }
            byFirst[scalars[0], default: []].append((scalars, Int32(i)))
        }
        func special(_ name: String) throws -> Int {
            guard let id = ids[name] else {
                throw MMAttnError("the vocabulary has no \(name) token; an ESM vocab.txt has <cls>, <pad>, <eos>, "
                                  + "<unk> and <mask> (is this the right file?)", file: source)
            }
            return Int(id)
        }
        clsId = try special("<cls>")
        padId = try special("<pad>")
        eosId = try special("<eos>")
        unkId = try special("<unk>")
        maskId = try special("<mask>")
        self.tokens = tokens
        self.ids = ids
        self.byteIds = byteIds
        self.tokensByFirstScalar = byFirst.mapValues { $0.sorted { $0.scalars.count > $1.scalars.count } }
    }

    /// The alphabet of a checkpoint folder: its `vocab.txt`, or the standard ESM-2 alphabet with a warning
    /// when the folder has none.
    public static func forModel(folder: String, warn: (String) -> Void = { Diagnostics.warn($0) }) throws -> ESMAlphabet {
        let path = (folder as NSString).appendingPathComponent("vocab.txt")
        if FileManager.default.fileExists(atPath: path) { return try ESMAlphabet(vocabFile: path) }
        warn("\(folder) has no vocab.txt; using the standard ESM-2 alphabet (33 tokens)")
        return .esm2
    }

    /// Number of tokens.
    public var count: Int { tokens.count }

    /// The id of `token`, if it is in the vocabulary.
    public func id(of token: String) -> Int? { ids[token].map(Int.init) }

    /// Whether `c` is a token on its own (a residue letter, a gap symbol, ...).
    public func contains(_ c: Character) -> Bool { ids[String(c)] != nil }

    /// `<cls>` + the tokens of `sequence` + `<eos>`, as `EsmTokenizer(sequence)["input_ids"]`.
    /// With `maxResidues`, only the first `maxResidues` tokens of the sequence are kept (fair-esm's
    /// `truncation_seq_length`; transformers' truncation to `maxResidues + 2`).
    public func encode(_ sequence: String, maxResidues: Int? = nil) -> [Int32] {
        let limit = max(0, maxResidues ?? Int.max)
        var out: [Int32] = [Int32(clsId)]
        if let fast = encodeSingleBytes(sequence, limit: limit) {
            out.append(contentsOf: fast)
        } else {
            encodeGeneral(sequence, limit: limit, into: &out)
        }
        out.append(Int32(eosId))
        return out
    }

    /// The ids of a sequence whose every byte is a one-character token (the usual case), else nil.
    private func encodeSingleBytes(_ sequence: String, limit: Int) -> [Int32]? {
        var s = sequence
        return s.withUTF8 { bytes -> [Int32]? in
            let n = min(bytes.count, limit)
            var failed = false
            let ids = [Int32](unsafeUninitializedCapacity: n) { out, initialized in
                byteIds.withUnsafeBufferPointer { table in
                    for i in 0..<n {
                        let id = table[Int(bytes[i])]
                        if id < 0 { failed = true; return }
                        out[i] = id
                    }
                    initialized = n
                }
            }
            return failed ? nil : ids
        }
    }

    /// Leftmost-longest matching of vocabulary tokens; the text between matches is split on whitespace and
    /// each piece becomes one `<unk>` (as `EsmTokenizer`, whose vocabulary tokens are all "no split" tokens).
    private func encodeGeneral(_ sequence: String, limit: Int, into out: inout [Int32]) {
        let scalars = Array(sequence.unicodeScalars)
        var emitted = 0
        var pendingUnknown = false
        var i = 0
        func emit(_ id: Int32) -> Bool {
            guard emitted < limit else { return false }
            out.append(id)
            emitted += 1
            return true
        }
        while i < scalars.count {
            let s = scalars[i]
            if let match = longestMatch(in: scalars, at: i) {
                if pendingUnknown { pendingUnknown = false; if !emit(Int32(unkId)) { return } }
                if !emit(match.id) { return }
                i += match.length
            } else if Self.isWhitespace(s) {
                if pendingUnknown { pendingUnknown = false; if !emit(Int32(unkId)) { return } }
                i += 1
            } else {
                pendingUnknown = true
                i += 1
            }
        }
        if pendingUnknown { _ = emit(Int32(unkId)) }
    }

    private func longestMatch(in scalars: [Unicode.Scalar], at i: Int) -> (id: Int32, length: Int)? {
        guard let candidates = tokensByFirstScalar[scalars[i]] else { return nil }
        for token in candidates where i + token.scalars.count <= scalars.count {
            if scalars[i..<(i + token.scalars.count)].elementsEqual(token.scalars) {
                return (token.id, token.scalars.count)
            }
        }
        return nil
    }

    /// Python's `str.isspace`: Unicode White_Space plus the separators U+001C...U+001F.
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s.properties.isWhitespace || (0x1C...0x1F).contains(s.value)
    }

    private static func readVocabText(_ path: String) throws -> String {
        let attributes: [FileAttributeKey: Any]
        // Follow symlinks: the Hugging Face cache links snapshot files to blobs.
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        do { attributes = try FileManager.default.attributesOfItem(atPath: target) } catch {
            throw MMAttnError("cannot read the vocabulary: \(error.localizedDescription)", file: path)
        }
        if let type = attributes[.type] as? FileAttributeType, type != .typeRegular {
            throw MMAttnError("not a regular file; expected the checkpoint's vocab.txt", file: path)
        }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        if size > maxVocabBytes {
            throw MMAttnError("vocab.txt is \(size) bytes, more than the \(maxVocabBytes) a token list can need; "
                              + "is this the right file?", file: path)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MMAttnError("cannot read the vocabulary file", file: path)
        }
        if data.isEmpty {
            throw MMAttnError("vocab.txt is empty; expected one token per line (ESM-2 has 33)", file: path)
        }
        if data.count > maxVocabBytes {
            throw MMAttnError("vocab.txt grew past \(maxVocabBytes) bytes while being read", file: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw MMAttnError("vocab.txt is not UTF-8 text", file: path)
        }
        return text
    }
}
