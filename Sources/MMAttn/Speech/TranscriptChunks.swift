import Foundation

/// The token ids `WhisperTranscript` tells apart. Ids are the checkpoint's: English-only and
/// multilingual vocabularies differ by one from end-of-text on.
public struct WhisperTokenRoles: Sendable {
    /// The first timestamp id (`<|0.00|>`, one past `<|notimestamps|>`); every id at or above it
    /// is a timestamp, `timePrecision` seconds apart.
    public var timestampBegin: Int32
    /// `<|endoftext|>`: word splitting treats pieces starting at or above it as special.
    public var endOfText: Int32
    /// `<|startoftranscript|>` and `<|startofprev|>`, for stripping a previous-text prompt.
    public var startOfTranscript: Int32?
    public var startOfPrevious: Int32?
    /// The tokenizer's special ids (added tokens marked special; real checkpoints list every
    /// `<|...|>` token). They never reach the text.
    public var special: Set<Int32>
    /// The special ids that name a language, with the language's name as transformers spells it
    /// (`"english"`, `"chinese"`).
    public var languages: [Int32: String]

    public init(timestampBegin: Int32, endOfText: Int32, startOfTranscript: Int32? = nil, startOfPrevious: Int32? = nil,
                special: Set<Int32>, languages: [Int32: String] = [:]) {
        self.timestampBegin = timestampBegin
        self.endOfText = endOfText
        self.startOfTranscript = startOfTranscript
        self.startOfPrevious = startOfPrevious
        self.special = special
        self.languages = languages
    }

    /// The roles from a Whisper `tokenizer.json`: timestamps start one past `<|notimestamps|>`,
    /// special ids are the added tokens marked special, languages are the special tokens
    /// `<|code|>` whose code is one of Whisper's. Nil if `<|notimestamps|>` or `<|endoftext|>` is
    /// missing.
    public init?(tokenizer: Tokenizer) {
        guard let noTimestamps = tokenizer.id("<|notimestamps|>"), let eot = tokenizer.id("<|endoftext|>") else { return nil }
        var languages: [Int32: String] = [:]
        for t in tokenizer.addedTokens where t.special && t.content.hasPrefix("<|") && t.content.hasSuffix("|>") {
            let code = String(t.content.dropFirst(2).dropLast(2))
            if let name = WhisperTranscript.languageNames[code] { languages[t.id] = name }
        }
        self.init(timestampBegin: noTimestamps + 1, endOfText: eot, startOfTranscript: tokenizer.id("<|startoftranscript|>"),
                  startOfPrevious: tokenizer.id("<|startofprev|>"),
                  special: Set(tokenizer.addedTokens.filter(\.special).map(\.id)), languages: languages)
    }
}

/// The ASR pipeline's post-processing of Whisper output (transformers' `_decode_asr` for one model
/// output without chunk strides, with `return_timestamps=True` or `"word"`): the token stream is cut
/// into text chunks at timestamp tokens, and each chunk's text tokens into words with times.
///
/// `decode` turns text-token ids into text: `tokenizers`' byte-level decode, no clean-up of
/// spaces (transformers 5 skips it for BPE), invalid UTF-8 becoming U+FFFD per maximal invalid
/// subsequence — `tokenizer.decode(ids)` of this library. It is only ever given text tokens (ids
/// below the special and timestamp ranges), so skipping special tokens or not makes no difference.
public enum WhisperTranscript {
    /// A word with its times in seconds, rounded to 0.01 as Python's `round(t, 2)` does.
    public struct Word: Sendable, Equatable {
        public var text: String
        public var start: Double
        public var end: Double
    }

    /// A stretch of text between timestamp tokens (`return_timestamps=True` chunks).
    public struct Chunk: Sendable, Equatable {
        public var text: String
        /// Seconds, rounded to 0.01; nil when the stream gave no start (or end) timestamp.
        public var start: Double?
        public var end: Double?
        /// The language name of the last language token seen when the chunk began, if any.
        public var language: String?
        /// The chunk's words when token times were given, else empty.
        public var words: [Word]
    }

    /// How words are found: at spaces and punctuation (most languages), or wherever the decoded
    /// text becomes whole characters (languages written without spaces).
    public enum Splitting: Sendable {
        case spaces, unicode

        /// The splitting transformers uses for a language: `.unicode` for Chinese, Japanese, Thai,
        /// Lao, Myanmar and Cantonese (by name, as transformers checks, or by Whisper code),
        /// `.spaces` otherwise and for nil (transformers falls back to English).
        public init(language: String?) {
            let unicode: Set<String> = ["chinese", "japanese", "thai", "lao", "myanmar", "cantonese", "zh", "ja", "th", "lo", "my", "yue"]
            self = unicode.contains(language?.lowercased() ?? "english") ? .unicode : .spaces
        }
    }

    /// The default punctuation merged into the following word (`prepend_punctuations`).
    public static let prependPunctuation = "\"'“¡¿([{-"
    /// The default punctuation merged into the preceding word (`append_punctuations`).
    public static let appendPunctuation = "\"'.。,，!！?？:：”)]}、"

    /// Cut one output's tokens into chunks, as `_decode_asr` does.
    ///
    /// - Parameters:
    ///   - tokens: the output ids as the pipeline hands them over: text, timestamp and special
    ///     tokens (init tokens are usually gone; a language token left in, as with
    ///     `return_language`, sets the language). A stream starting with `<|startofprev|>` loses
    ///     everything before `<|startoftranscript|>` (or everything, without one).
    ///   - tokenTimes: with word timing, one time in seconds per entry of `tokens` (the `token_timestamps`
    ///     of generate, window offset included), indexed by position *after* prompt stripping, as
    ///     transformers does. Text token `i` spans `tokenTimes[i - 1] ..< tokenTimes[i]` (from 0 for
    ///     the first token). Nil: chunks without words.
    ///   - roles: which ids are timestamps, special, languages.
    ///   - language: the language to split words for when no language token says otherwise
    ///     (transformers: the tokenizer's `language`, else English).
    ///   - timePrecision: seconds per timestamp step (0.02).
    ///   - decode: text-token ids → text (see the type's notes).
    public static func chunks(tokens inputTokens: [Int32], tokenTimes: [Float]?, roles: WhisperTokenRoles, language: String? = nil,
                              timePrecision: Double = 0.02, decode: ([Int32]) -> String) -> [Chunk] {
        let tokens = stripPrompt(inputTokens, roles: roles)
        if let tokenTimes { precondition(tokenTimes.count >= tokens.count, "one time per token is needed") }
        var lastLanguage: String?
        var chunks: [Chunk] = []
        var chunk = Chunk(text: "", start: nil, end: nil, language: nil, words: [])
        var current: [Int32] = []
        var currentTimes: [(Double, Double)] = []
        // Long-form outputs concatenate windows whose timestamps restart at 0.
        var maxTimestamp = 0.0, penultimateTimestamp = 0.0, previousWindows = 0.0
        let segmentSize = 1500.0

        func words(_ ids: [Int32], _ times: [(Double, Double)]) -> [Word] {
            collateWords(ids, times: times, splitting: Splitting(language: lastLanguage ?? language),
                         endOfText: roles.endOfText, decode: decode)
        }

        for (i, token) in tokens.enumerated() {
            if roles.special.contains(token) {
                if let name = roles.languages[token] {
                    chunk.language = name
                    lastLanguage = name
                }
            } else if token >= roles.timestampBegin {
                let steps = Double(Int(token) - Int(roles.timestampBegin))
                let timestamp = steps * timePrecision
                if timestamp < maxTimestamp {
                    // A new window began: after a single ending timestamp the window ran its full
                    // 30 s; after a pair, it ended at the pair's time.
                    let singleEnding = i >= 2 && !(tokens[i - 1] >= roles.timestampBegin && tokens[i - 2] >= roles.timestampBegin)
                    if singleEnding {
                        previousWindows += timePrecision * segmentSize
                    } else {
                        maxTimestamp = penultimateTimestamp
                        previousWindows += penultimateTimestamp
                    }
                }
                penultimateTimestamp = maxTimestamp
                maxTimestamp = timestamp
                let time = pythonRound2(steps * timePrecision + 0.0 + previousWindows)
                if chunk.start == nil {
                    chunk.start = time
                } else if time != chunk.start {
                    // An end timestamp (a repeat of the start is taken as the start again).
                    chunk.end = time
                    chunk.text = decode(current)
                    if tokenTimes != nil { chunk.words = words(current, currentTimes) }
                    chunks.append(chunk)
                    current = []
                    currentTimes = []
                    chunk = Chunk(text: "", start: nil, end: nil, language: lastLanguage, words: [])
                }
            } else {
                current.append(token)
                if let tokenTimes {
                    let start = i == 0 ? 0.0 : pythonRound2(Double(tokenTimes[i - 1]))
                    currentTimes.append((start, pythonRound2(Double(tokenTimes[i]))))
                }
            }
        }
        // Text after the last timestamp (audio cut mid-word, or no timestamps at all).
        if !current.isEmpty {
            chunk.text = decode(current)
            if tokenTimes != nil { chunk.words = words(current, currentTimes) }
            chunks.append(chunk)
        }
        return chunks
    }

    /// The words of one output: what the pipeline returns as `chunks` with
    /// `return_timestamps="word"` (every chunk's words, in order). See `chunks` for the parameters.
    public static func words(tokens: [Int32], tokenTimes: [Float], roles: WhisperTokenRoles, language: String? = nil,
                             timePrecision: Double = 0.02, decode: ([Int32]) -> String) -> [Word] {
        chunks(tokens: tokens, tokenTimes: tokenTimes, roles: roles, language: language, timePrecision: timePrecision, decode: decode)
            .flatMap(\.words)
    }

    /// `_strip_prompt`: a stream that starts with `<|startofprev|>` keeps only what follows from
    /// `<|startoftranscript|>` on.
    static func stripPrompt(_ tokens: [Int32], roles: WhisperTokenRoles) -> [Int32] {
        guard let first = tokens.first, let prev = roles.startOfPrevious, first == prev else { return tokens }
        guard let sot = roles.startOfTranscript, let k = tokens.firstIndex(of: sot) else { return [] }
        return Array(tokens[k...])
    }

    /// `_collate_word_timestamps`: words of text tokens, each from the start of its first token to
    /// the end of its last. `times[i]` is token `i`'s (start, end).
    public static func collateWords(_ tokens: [Int32], times: [(Double, Double)], splitting: Splitting,
                                    prepend: String = prependPunctuation, append: String = appendPunctuation,
                                    endOfText: Int32, decode: ([Int32]) -> String) -> [Word] {
        let (texts, _, indices) = combineTokensIntoWords(tokens, splitting: splitting, prepend: prepend, append: append,
                                                         endOfText: endOfText, decode: decode)
        return zip(texts, indices).map { text, idx in
            Word(text: text, start: times[idx[0]].0, end: times[idx[idx.count - 1]].1)
        }
    }

    /// `_combine_tokens_into_words`: split, then merge punctuation into neighbouring words.
    /// Returns the word texts, their tokens and their token positions (parallel arrays, each with
    /// its empty entries removed on its own, as transformers does).
    public static func combineTokensIntoWords(_ tokens: [Int32], splitting: Splitting,
                                              prepend: String = prependPunctuation, append: String = appendPunctuation,
                                              endOfText: Int32, decode: ([Int32]) -> String) -> (words: [String], tokens: [[Int32]], indices: [[Int]]) {
        var pieces = splitting == .unicode ? splitOnUnicode(tokens, decode: decode) : splitOnSpaces(tokens, endOfText: endOfText, decode: decode)
        mergePunctuation(&pieces, prepend: Array(prepend.unicodeScalars), append: Array(append.unicodeScalars))
        return (pieces.words.map(Self.string).filter { !$0.isEmpty }, pieces.tokens.filter { !$0.isEmpty },
                pieces.indices.filter { !$0.isEmpty })
    }

    /// Words as unicode scalar arrays: transformers compares and indexes Python strings, which
    /// are code points, not grapheme clusters.
    struct Pieces {
        var words: [[Unicode.Scalar]] = []
        var tokens: [[Int32]] = []
        var indices: [[Int]] = []
    }

    /// `_split_tokens_on_unicode`: grow a piece token by token until its text has no U+FFFD, or
    /// its first U+FFFD is also in the whole text's decode at that place (a real replacement
    /// character, or bytes that never become valid) or lies past its end.
    static func splitOnUnicode(_ tokens: [Int32], decode: ([Int32]) -> String) -> Pieces {
        let full = Array(decode(tokens).unicodeScalars)
        let replacement: Unicode.Scalar = "\u{FFFD}"
        var out = Pieces()
        var currentTokens: [Int32] = [], currentIndices: [Int] = []
        var offset = 0
        for (k, token) in tokens.enumerated() {
            currentTokens.append(token)
            currentIndices.append(k)
            let decoded = Array(decode(currentTokens).unicodeScalars)
            let whole: Bool
            if let r = decoded.firstIndex(of: replacement) {
                whole = offset + r >= full.count || full[offset + r] == replacement
            } else {
                whole = true
            }
            if whole {
                out.words.append(decoded)
                out.tokens.append(currentTokens)
                out.indices.append(currentIndices)
                currentTokens = []
                currentIndices = []
                offset += decoded.count
            }
        }
        return out
    }

    /// `_split_tokens_on_spaces`: pieces from the unicode split join the previous word unless
    /// they start with a space, are special (first id ≥ end-of-text), or are punctuation (their
    /// stripped text occurs in `string.punctuation`, the empty text included).
    static func splitOnSpaces(_ tokens: [Int32], endOfText: Int32, decode: ([Int32]) -> String) -> Pieces {
        let pieces = splitOnUnicode(tokens, decode: decode)
        let punctuation = Array("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".unicodeScalars)
        var out = Pieces()
        for (k, piece) in pieces.words.enumerated() {
            let special = pieces.tokens[k][0] >= endOfText
            let withSpace = piece.first == " "
            let isPunctuation = contains(punctuation, pythonStrip(piece))
            if special || withSpace || isPunctuation || out.words.isEmpty {
                out.words.append(piece)
                out.tokens.append(pieces.tokens[k])
                out.indices.append(pieces.indices[k])
            } else {
                out.words[out.words.count - 1] += piece
                out.tokens[out.tokens.count - 1] += pieces.tokens[k]
                out.indices[out.indices.count - 1] += pieces.indices[k]
            }
        }
        return out
    }

    /// `_merge_punctuations`: right to left, a word that starts with a space and whose stripped
    /// text occurs in `prepend` moves into the next kept word; then left to right, a word whose
    /// text occurs in `append` moves into the previous word unless that one ends with a space.
    /// Moved words become empty ("occurs in" is substring containment, as Python's `in`).
    static func mergePunctuation(_ p: inout Pieces, prepend: [Unicode.Scalar], append: [Unicode.Scalar]) {
        var i = p.words.count - 2, j = p.words.count - 1
        while i >= 0 {
            if p.words[i].first == " " && contains(prepend, pythonStrip(p.words[i])) {
                p.words[j] = p.words[i] + p.words[j]
                p.tokens[j] = p.tokens[i] + p.tokens[j]
                p.indices[j] = p.indices[i] + p.indices[j]
                p.words[i] = []; p.tokens[i] = []; p.indices[i] = []
            } else {
                j = i
            }
            i -= 1
        }
        i = 0; j = 1
        while j < p.words.count {
            if p.words[i].last != " " && contains(append, p.words[j]) {
                p.words[i] += p.words[j]
                p.tokens[i] += p.tokens[j]
                p.indices[i] += p.indices[j]
                p.words[j] = []; p.tokens[j] = []; p.indices[j] = []
            } else {
                i = j
            }
            j += 1
        }
    }

    /// Python's `needle in haystack` for strings: code-point substring; the empty string is in every string.
    static func contains(_ haystack: [Unicode.Scalar], _ needle: ArraySlice<Unicode.Scalar>) -> Bool {
        guard !needle.isEmpty else { return true }
        guard needle.count <= haystack.count else { return false }
        for s in 0...(haystack.count - needle.count) where haystack[s..<(s + needle.count)].elementsEqual(needle) { return true }
        return false
    }

    static func contains(_ haystack: [Unicode.Scalar], _ needle: [Unicode.Scalar]) -> Bool {
        contains(haystack, needle[...])
    }

    /// Python's `str.strip()`: drop leading and trailing characters for which `str.isspace()` holds.
    static func pythonStrip(_ s: [Unicode.Scalar]) -> ArraySlice<Unicode.Scalar> {
        var a = 0, b = s.count
        while a < b && isPythonSpace(s[a]) { a += 1 }
        while b > a && isPythonSpace(s[b - 1]) { b -= 1 }
        return s[a..<b]
    }

    /// `str.isspace()` of one code point (Unicode White_Space plus the ASCII separators 0x1C–0x1F).
    static func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    static func string(_ scalars: [Unicode.Scalar]) -> String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: scalars)
        return String(s)
    }

    /// Python's `round(x, 2)`: the double nearest to x rounded to hundredths, ties (on x's exact
    /// binary value) to even.
    public static func pythonRound2(_ x: Double) -> Double {
        guard x.isFinite, x != 0 else { return x }
        let a = x.magnitude
        if a >= 0x1p52 { return x }
        guard a.isNormal else { return x < 0 ? -0.0 : 0.0 }
        let significand = a.significandBitPattern | (1 << 52)
        let shift = 52 - Int(a.exponent)  // a = significand / 2^shift
        if shift <= 0 { return x }
        let scaled = significand * 100  // < 2^60
        var q: UInt64
        if shift >= 62 {
            q = 0  // below 2^60 / 2^62 = 0.25
        } else {
            q = scaled >> UInt64(shift)
            let rest = scaled & ((1 << UInt64(shift)) - 1), half = UInt64(1) << UInt64(shift - 1)
            if rest > half || (rest == half && q & 1 == 1) { q += 1 }
        }
        let r = Double(q) / 100
        return x < 0 ? -r : r
    }

    /// Whisper's language codes and the names transformers gives them (`LANGUAGES`).
    public static let languageNames: [String: String] = {
        let table = """
        en english|zh chinese|de german|es spanish|ru russian|ko korean|fr french|ja japanese|pt portuguese|tr turkish|\
        pl polish|ca catalan|nl dutch|ar arabic|sv swedish|it italian|id indonesian|hi hindi|fi finnish|vi vietnamese|\
        he hebrew|uk ukrainian|el greek|ms malay|cs czech|ro romanian|da danish|hu hungarian|ta tamil|no norwegian|\
        th thai|ur urdu|hr croatian|bg bulgarian|lt lithuanian|la latin|mi maori|ml malayalam|cy welsh|sk slovak|\
        te telugu|fa persian|lv latvian|bn bengali|sr serbian|az azerbaijani|sl slovenian|kn kannada|et estonian|\
        mk macedonian|br breton|eu basque|is icelandic|hy armenian|ne nepali|mn mongolian|bs bosnian|kk kazakh|\
        sq albanian|sw swahili|gl galician|mr marathi|pa punjabi|si sinhala|km khmer|sn shona|yo yoruba|so somali|\
        af afrikaans|oc occitan|ka georgian|be belarusian|tg tajik|sd sindhi|gu gujarati|am amharic|yi yiddish|\
        lo lao|uz uzbek|fo faroese|ht haitian creole|ps pashto|tk turkmen|nn nynorsk|mt maltese|sa sanskrit|\
        lb luxembourgish|my myanmar|bo tibetan|tl tagalog|mg malagasy|as assamese|tt tatar|haw hawaiian|ln lingala|\
        ha hausa|ba bashkir|jw javanese|su sundanese|yue cantonese
        """
        var names: [String: String] = [:]
        for entry in table.split(separator: "|") {
            let parts = entry.split(separator: " ", maxSplits: 1)
            names[String(parts[0])] = String(parts[1])
        }
        return names
    }()
}

extension WhisperTranscript.Word {
    /// The word with its times moved into `range` (transformers' pipeline leaves them where DTW
    /// puts them, which can be outside the segment's timestamps).
    func clamped(to range: ClosedRange<Double>) -> WhisperTranscript.Word {
        var w = self
        w.start = min(max(start, range.lowerBound), range.upperBound)
        w.end = min(max(end, w.start), range.upperBound)
        return w
    }
}
