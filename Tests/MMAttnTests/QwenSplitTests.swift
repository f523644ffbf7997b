import Foundation
import Testing
@testable import MMAttn

/// The hand-written scanner of Qwen2's and Llama 3's split patterns (`CL100KSplit`) against Swift's
/// `Regex` running the same pattern, and the tokenizers that load it.
@Suite struct QwenSplitTests {
    static let patterns = [CL100KSplit.qwen2Pattern, CL100KSplit.llama3Pattern]

    /// The pattern's `Split` on Swift's `Regex`, the way mmattn ran it before the scanner.
    /// Oniguruma and Rust's regex fold `ſ` (U+017F) to `s` under `(?i)` and Swift's `Regex` does not,
    /// so the contraction `'ſ` is spelled out.
    static func regexSplit(_ pattern: String) throws -> PreTokenizer {
        let source = pattern.replacingOccurrences(of: "(?i:'s|", with: "(?i:'s|'ſ|")
        #expect(source != pattern)
        return .split(.regex(try Regex(source).matchingSemantics(.unicodeScalar), source: source), .isolated, invert: false)
    }

    static func scannerSplit(_ pattern: String) throws -> PreTokenizer {
        .cl100kSplit(maxDigits: try #require(CL100KSplit.maxDigits(pattern: pattern)))
    }

    /// The byte ranges `preTokenizer` cuts `ranges` of `text` into (ranges, not strings: strings
    /// compare equal across canonically equivalent spellings).
    static func pieces(_ preTokenizer: PreTokenizer, _ text: String, _ ranges: [Range<Int>]) -> [Range<Int>] {
        var pieces = Pieces(buffer: Array(text.utf8), ranges: ranges)
        preTokenizer.apply(&pieces)
        return pieces.ranges
    }

    /// Fails with the first few texts whose pieces differ.
    static func compare(_ pattern: String, _ texts: [(text: String, ranges: [Range<Int>])],
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        let regex = try regexSplit(pattern), scanner = try scannerSplit(pattern)
        var failures: [String] = []
        for (text, ranges) in texts {
            let expected = pieces(regex, text, ranges), found = pieces(scanner, text, ranges)
            if found != expected {
                let bytes = Array(text.utf8)
                func show(_ rs: [Range<Int>]) -> String { rs.map { JSON.quote(String(decoding: bytes[$0], as: UTF8.self)) }.joined(separator: " ") }
                failures.append("\(JSON.quote(text)) \(ranges)\n  regex:   \(show(expected))\n  scanner: \(show(found))")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(texts.count) texts differ:\n\(failures.prefix(5).joined(separator: "\n"))",
                sourceLocation: sourceLocation)
    }

    static func whole(_ text: String) -> (text: String, ranges: [Range<Int>]) {
        (text, text.isEmpty ? [] : [0..<text.utf8.count])
    }

    /// Every line of the text fixtures, the multi-line hard cases, and the two text files whole.
    static func fixtureTexts() throws -> [String] {
        var texts: [String] = []
        for name in ["hard_cases.txt", "corpus.txt"] {
            let file = try String(contentsOfFile: Paths.fixture("text/\(name)"), encoding: .utf8)
            texts.append(file)
            texts += file.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        }
        let multiline = try #require(try JSON.load(contentsOf: Paths.fixture("text/hard_cases_multiline.json")).array)
        texts += try multiline.map { try #require($0.string) }
        return texts
    }

    @Test(arguments: patterns)
    func scannerMatchesRegexOnFixtureTexts(pattern: String) throws {
        let texts = try Self.fixtureTexts()
        #expect(texts.count > 1_500)
        try Self.compare(pattern, texts.map(Self.whole))
    }

    /// Characters the pattern's alternatives turn on, by group: texts are runs from random groups.
    static let groups: [[String]] = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".map(String.init),
        ["é", "É", "ß", "ſ", "ı", "İ", "ǅ", "ʰ", "K", "α", "Ω", "ж", "Ж", "ש", "ם", "م", "ر", "漢", "字", "か", "カ", "한", "ไ", "ท", "ह", "न", "𝐀"],
        ["0", "1", "2", "9", "٠", "١", "٩", "۴", "०", "१", "０", "１", "９", "³", "½", "Ⅻ", "⑤", "𝟙"],
        ["'", "'", "'", "’", "ʼ"],
        ["s", "S", "t", "T", "r", "R", "e", "E", "v", "V", "m", "M", "l", "L", "d", "D", "ſ", "'"],
        [" ", " ", " ", "\t", "\r", "\n", "\r\n", "\u{A0}", "\u{2028}", "\u{2029}", "\u{3000}", "\u{85}", "\u{B}", "\u{C}",
         "\u{2009}", "\u{1680}", "\u{202F}", "\u{200B}", "\u{180E}", "\u{FEFF}", "\u{1C}", "\u{0}"],
        ["😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "\u{200D}", "\u{FE0F}"],
        ["\u{301}", "\u{308}", "\u{327}", "\u{93F}", "\u{94D}", "\u{64E}", "\u{20DD}"],
        [".", ",", ";", ":", "!", "?", "-", "–", "—", "(", ")", "[", "]", "{", "}", "\"", "`", "~", "@", "#", "$", "%", "^",
         "&", "*", "_", "+", "=", "<", ">", "/", "\\", "|", "…", "«", "»", "¿", "¡", "·", "\u{E000}"],
    ]

    /// `count` texts of 1 to 12 runs, each of 1 to 4 characters of one group, cut into 1 to 3
    /// ranges at random scalar boundaries (as added tokens cut a text).
    static func generatedTexts(count: Int) -> [(text: String, ranges: [Range<Int>])] {
        var rng = SeededGenerator(state: 20_261_202)
        return (0..<count).map { _ in
            var text = ""
            for _ in 0..<Int.random(in: 1...12, using: &rng) {
                let group = groups.randomElement(using: &rng)!
                for _ in 0..<Int.random(in: 1...4, using: &rng) { text += group.randomElement(using: &rng)! }
            }
            var boundaries: [Int] = []
            var offset = 0
            for s in text.unicodeScalars { boundaries.append(offset); offset += String(s).utf8.count }
            let cuts = (0..<Int.random(in: 0...2, using: &rng)).map { _ in boundaries.randomElement(using: &rng)! }
            let edges = Array(Set([0, offset] + cuts)).sorted()
            return (text, zip(edges, edges.dropFirst()).map { $0..<$1 })
        }
    }

    @Test(arguments: patterns)
    func scannerMatchesRegexOnGeneratedTexts(pattern: String) throws {
        try Self.compare(pattern, Self.generatedTexts(count: 6_000))
    }

    /// What Oniguruma 6.9 (the engine of `tokenizers`) gives for the long s after an apostrophe.
    @Test(arguments: patterns)
    func longSAfterAnApostropheIsAContraction(pattern: String) throws {
        let scanner = try Self.scannerSplit(pattern)
        for (text, expected) in [("'ſab", ["'ſ", "ab"]), ("it'ſ", ["it", "'ſ"]), ("'ſ'S'LL", ["'ſ", "'S", "'LL"]), ("'ſ1", ["'ſ", "1"])] {
            let bytes = Array(text.utf8)
            let found = Self.pieces(scanner, text, [0..<bytes.count]).map { String(decoding: bytes[$0], as: UTF8.self) }
            #expect(found == expected, "\(text)")
        }
    }

    /// The digit limit of the scanner split in `preTokenizer`, or nil when it has none.
    static func scannerDigits(_ preTokenizer: PreTokenizer?) -> Int? {
        switch preTokenizer {
        case .cl100kSplit(let maxDigits)?: return maxDigits
        case .sequence(let all)?: return all.lazy.compactMap(scannerDigits).first
        default: return nil
        }
    }

    @Test func realTokenizersLoadTheScanner() throws {
        #expect(Self.scannerDigits(try Tokenizer(folder: Paths.model("qwen3-embedding")).preTokenizer) == 1)
        #expect(Self.scannerDigits(try Tokenizer(folder: Paths.fixture("tokenizers/split-regex")).preTokenizer) == 3)
    }

    /// Only the exact pattern, isolated and not inverted, goes to the scanner.
    @Test func otherSplitsStayOnTheRegex() throws {
        func load(_ pattern: String, behavior: String, invert: Bool) throws -> PreTokenizer? {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("mmattn-split-\(UUID().uuidString).json").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let split: [String: Any] = ["type": "Split", "pattern": ["Regex": pattern], "behavior": behavior, "invert": invert]
            let json: [String: Any] = ["pre_tokenizer": split, "model": ["type": "WordLevel", "vocab": ["a": 0], "unk_token": "a"]]
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
            return try Tokenizer(file: path).preTokenizer
        }
        #expect(Self.scannerDigits(try load(CL100KSplit.qwen2Pattern, behavior: "Isolated", invert: false)) == 1)
        #expect(Self.scannerDigits(try load(CL100KSplit.llama3Pattern, behavior: "Isolated", invert: false)) == 3)
        #expect(Self.scannerDigits(try load(CL100KSplit.qwen2Pattern, behavior: "Removed", invert: false)) == nil)
        #expect(Self.scannerDigits(try load(CL100KSplit.qwen2Pattern, behavior: "Isolated", invert: true)) == nil)
        #expect(Self.scannerDigits(try load(CL100KSplit.qwen2Pattern.replacingOccurrences(of: #"\p{N}|"#, with: #"\p{N}{1,2}|"#),
                                            behavior: "Isolated", invert: false)) == nil)
    }
}
