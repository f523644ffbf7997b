import Foundation

/// Whisper's decoding settings, from `generation_config.json` (or, like transformers, from the
/// model's `config.json` when a checkpoint has none).
public struct WhisperGenerationConfig: Sendable {
    /// `<|startoftranscript|>`.
    public var decoderStartTokenId: Int32
    /// `<|endoftext|>`: text tokens are the ids below it.
    public var eosTokenId: Int32
    /// `<|notimestamps|>`; timestamp tokens start right after it. Nil: no timestamps.
    public var noTimestampsTokenId: Int32?
    /// Multilingual checkpoints take a language and a task token after the start token. Nil when
    /// the file does not say (transformers then refuses neither).
    public var isMultilingual: Bool?
    /// `<|en|>` → id, and "transcribe"/"translate" → id.
    public var languageTokens: [String: Int32]
    public var taskTokens: [String: Int32]
    /// Tokens forced after the start token by older configs (`forced_decoder_ids`, positions 1, 2, ...).
    public var forcedTokens: [Int32?]
    /// The first timestamp may be at most this many steps of 0.02 s (50: 1 s).
    public var maxInitialTimestampIndex: Int?
    /// Prompt and generated tokens together, before the prompt's length is added (transformers' rule).
    public var maxLength: Int
    public var suppressTokens: [Int32]
    /// Suppressed at the first generated position only.
    public var beginSuppressTokens: [Int32]
    /// (layer, head) pairs whose cross-attention follows the audio: word timestamps.
    public var alignmentHeads: [(layer: Int, head: Int)]?
    /// The file the settings came from, for error messages.
    public var source: String

    /// Read `generation_config.json` in `folder`, or the generation fields of `config` when the
    /// folder has none. Throws, naming the file, when a field decoding needs is missing.
    public init(folder: String, config: JSONFields) throws {
        let path = (folder as NSString).appendingPathComponent("generation_config.json")
        let json = FileManager.default.fileExists(atPath: path) ? try JSONFields.load(path) : config
        try self.init(json)
    }

    public init(_ json: JSONFields) throws {
        source = json.file
        func need(_ key: String) throws -> Int32 {
            guard json.has(key) else {
                throw MMAttnError("missing \"\(key)\", which Whisper decoding needs; use the generation_config.json of the checkpoint's "
                                  + "Hub repository (openai/whisper-*)", file: json.file)
            }
            return Int32(try json.int(key, in: 0...Int(Int32.max)))
        }
        decoderStartTokenId = try need("decoder_start_token_id")
        eosTokenId = try need("eos_token_id")
        noTimestampsTokenId = json.has("no_timestamps_token_id") ? try need("no_timestamps_token_id") : nil
        isMultilingual = json.has("is_multilingual") ? try json.bool("is_multilingual", default: false) : nil
        languageTokens = try Self.idTable(json, "lang_to_id")
        taskTokens = try Self.idTable(json, "task_to_id")
        maxInitialTimestampIndex = json.has("max_initial_timestamp_index") ? try json.int("max_initial_timestamp_index", in: 0...100_000) : nil
        maxLength = try json.int("max_length", default: 20, in: 1...1_000_000)  // GenerationConfig's default
        suppressTokens = try Self.ids(json, "suppress_tokens")
        beginSuppressTokens = try Self.ids(json, "begin_suppress_tokens")
        forcedTokens = []
        if let pairs = json.object["forced_decoder_ids"]?.array {
            for (i, pair) in pairs.enumerated() {
                guard let p = pair.array, p.count == 2, p[0].int == i + 1 else {
                    throw MMAttnError("\"forced_decoder_ids\" must list [position, id] pairs for positions 1, 2, ...", file: json.file)
                }
                if p[1].isNull {
                    forcedTokens.append(nil)
                } else {
                    guard let id = p[1].int.flatMap({ Int32(exactly: $0) }), id >= 0 else {
                        throw MMAttnError("\"forced_decoder_ids\" holds \(p[1].kindName) where a token id belongs", file: json.file)
                    }
                    forcedTokens.append(id)
                }
            }
        }
        if let heads = json.object["alignment_heads"]?.array {
            alignmentHeads = try heads.map { pair in
                guard let p = pair.array, p.count == 2, let l = p[0].int, let h = p[1].int, l >= 0, h >= 0 else {
                    throw MMAttnError("\"alignment_heads\" must be a list of [layer, head] pairs", file: json.file)
                }
                return (l, h)
            }
            if alignmentHeads?.isEmpty == true { alignmentHeads = nil }  // no heads: no word timestamps
        }
    }

    private static func ids(_ json: JSONFields, _ key: String) throws -> [Int32] {
        guard let value = json.object[key], !value.isNull else { return [] }
        guard let list = value.array else { throw MMAttnError("\"\(key)\" must be a list of token ids", file: json.file) }
        return try list.map { e in
            guard let i = e.int, i >= 0, i <= Int(Int32.max) else { throw MMAttnError("\"\(key)\" must be a list of token ids", file: json.file) }
            return Int32(i)
        }
    }

    private static func idTable(_ json: JSONFields, _ key: String) throws -> [String: Int32] {
        guard let table = try json.fields(key) else { return [:] }
        var out: [String: Int32] = [:]
        for name in table.object.keys { out[name] = Int32(try table.int(name, in: 0...Int(Int32.max))) }
        return out
    }

    /// The first timestamp token (`<|0.00|>`).
    public var timestampBegin: Int32? { noTimestampsTokenId.map { $0 + 1 } }
}

/// What to transcribe and how.
public struct TranscriptionOptions: Sendable {
    /// Predict timestamp tokens (segments with times). Audio longer than one window always does.
    public var timestamps: Bool
    /// A language code or name for multilingual checkpoints ("en", "german"); nil: the model detects it.
    public var language: String?
    /// "transcribe" or "translate" (multilingual checkpoints).
    public var task: String?
    /// Word timestamps from the alignment heads' cross-attention.
    public var wordTimestamps: Bool

    public init(timestamps: Bool = false, language: String? = nil, task: String? = nil, wordTimestamps: Bool = false) {
        self.timestamps = timestamps
        self.language = language
        self.task = task
        self.wordTimestamps = wordTimestamps
    }
}

/// The logits rules of transformers' Whisper `generate`, applied in its order: suppress the
/// `begin_suppress_tokens` at the first generated position, the `suppress_tokens` always, then
/// (with timestamps) `WhisperTimeStampLogitsProcessor`: no `<|notimestamps|>`, timestamps in pairs
/// except before end-of-text, never decreasing, the first one a timestamp no later than
/// `max_initial_timestamp_index`, and a timestamp forced whenever the timestamps' total
/// probability beats every text token's.
struct WhisperLogitsRules {
    let config: WhisperGenerationConfig
    let timestamps: Bool
    /// Prompt length: the first generated token's index.
    let begin: Int

    /// Greedy choice of the next token after `sequence` (prompt and generated so far) from the raw
    /// logits of its last position, [V] (modified in place).
    func next(_ logits: UnsafeMutablePointer<Float>, vocab V: Int, sequence: [Int32]) -> Int32 {
        let generated = sequence.count - begin
        if generated == 0 { for t in config.beginSuppressTokens where Int(t) < V { logits[Int(t)] = -.infinity } }
        for t in config.suppressTokens where Int(t) < V { logits[Int(t)] = -.infinity }
        if timestamps, let noTimestamps = config.noTimestampsTokenId, let begin32 = config.timestampBegin, Int(begin32) < V {
            applyTimestampRules(logits, vocab: V, sequence: sequence, noTimestamps: Int(noTimestamps), timestampBegin: Int(begin32))
        }
        var best = 0
        var bestValue = logits[0]
        for i in 1..<V where logits[i] > bestValue { best = i; bestValue = logits[i] }  // the first of equal maxima, as argmax
        return Int32(best)
    }

    private func applyTimestampRules(_ logits: UnsafeMutablePointer<Float>, vocab V: Int, sequence: [Int32],
                                     noTimestamps: Int, timestampBegin tb: Int) {
        logits[noTimestamps] = -.infinity
        let seq = sequence[begin...]
        let lastWasTimestamp = seq.count >= 1 && Int(seq.last!) >= tb
        let penultimateWasTimestamp = seq.count < 2 || Int(seq[seq.endIndex - 2]) >= tb
        if lastWasTimestamp {
            if penultimateWasTimestamp {
                for i in tb..<V { logits[i] = -.infinity }       // has to be text
            } else {
                let eos = min(Int(config.eosTokenId), V)
                for i in 0..<eos { logits[i] = -.infinity }      // cannot be text
            }
        }
        // Timestamps never decrease; after a pair, not the same one again.
        if let lastTimestamp = seq.last(where: { Int($0) >= tb }) {
            let floor = lastWasTimestamp && !penultimateWasTimestamp ? Int(lastTimestamp) : Int(lastTimestamp) + 1
            for i in tb..<min(floor, V) { logits[i] = -.infinity }
        }
        if seq.isEmpty {
            for i in 0..<tb { logits[i] = -.infinity }
            if let m = config.maxInitialTimestampIndex {
                for i in min(tb + m + 1, V)..<V { logits[i] = -.infinity }
            }
        }
        // Force a timestamp when their total probability beats every text token's.
        var maxAll = -Float.infinity
        for i in 0..<V where logits[i] > maxAll { maxAll = logits[i] }
        guard maxAll > -.infinity else { return }
        var sum = 0.0, timestampSum = 0.0, maxText = -Float.infinity
        for i in 0..<V {
            let e = Foundation.exp(Double(logits[i] - maxAll))
            sum += e
            if i >= tb { timestampSum += e } else if logits[i] > maxText { maxText = logits[i] }
        }
        let logSum = Foundation.log(sum)
        let timestampLogProb = Foundation.log(timestampSum) - logSum
        let maxTextLogProb = Double(maxText - maxAll) - logSum
        if timestampLogProb > maxTextLogProb {
            for i in 0..<tb { logits[i] = -.infinity }
        }
    }
}

/// One decoded window: its generated tokens (end-of-text removed) and, when asked for, the
/// alignment heads' cross-attention of each generated token but the last, [heads, tokens, frames].
struct DecodedWindow {
    var tokens: [Int32]
    var alignment: Tensor?
}

/// A stretch of speech with its times (seconds from the start of the audio) and tokens.
public struct TranscriptSegment: Sendable {
    public var start: Double
    public var end: Double
    /// Text tokens and timestamp tokens, as generated.
    public var tokens: [Int32]
    public var text: String
    /// Per token: its time in seconds, from the alignment heads (with word timestamps).
    public var tokenTimes: [Float]?
    /// With word timestamps: the words, each kept within the segment's times.
    public var words: [WhisperTranscript.Word]

    public init(start: Double, end: Double, tokens: [Int32], text: String, tokenTimes: [Float]? = nil,
                words: [WhisperTranscript.Word] = []) {
        self.start = start
        self.end = end
        self.tokens = tokens
        self.text = text
        self.tokenTimes = tokenTimes
        self.words = words
    }
}
