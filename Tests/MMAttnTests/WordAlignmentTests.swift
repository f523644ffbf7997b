import Foundation
import Testing
@testable import MMAttn

/// References of `Fixtures/reference/alignment` (written by `Fixtures/gen_alignment.py`): transformers'
/// token timestamps, median filter and DTW, the ASR pipeline's word and chunk post-processing, and
/// openai-whisper's subtitle writers.
enum AlignmentReference {
    static func load(_ name: String) throws -> JSONObject {
        try #require(try JSON.load(contentsOf: Paths.reference("alignment/\(name)")).object)
    }

    static func ints(_ v: JSON?) -> [Int] { (v?.array ?? []).compactMap(\.int) }
    /// Numbers with JSON null as NaN (how the generator writes NaN).
    static func floats(_ v: JSON?) -> [Float] { (v?.array ?? []).map { $0.double.map(Float.init) ?? .nan } }
    static func doubles(_ v: JSON?) -> [Double] { (v?.array ?? []).map { $0.double ?? .nan } }

    /// `attention` of the generator: SplitMix64 outputs 1… from `seed`, `[heads, tokens, frames]`.
    static func attention(kind: String, seed: UInt64, heads: Int, tokens: Int, frames: Int) -> Tensor {
        let t = Tensor(zeros: [heads, tokens, frames])
        let p = t.data
        for h in 0..<heads {
            for r in 0..<tokens {
                let centre = (r + 1) * frames / (tokens + 1)
                for f in 0..<frames {
                    let i = UInt64((h * tokens + r) * frames + f)
                    var z = seed &+ (i + 1) &* 0x9E37_79B9_7F4A_7C15
                    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                    z ^= z >> 31
                    var v: Float
                    if kind == "levels" {
                        v = Float(z >> 61)
                    } else {
                        v = Float(z >> 40) * 0x1p-24
                        if kind == "diagonal" && abs(f - centre) < 8 { v += 1 }
                    }
                    p[(h * tokens + r) * frames + f] = v
                }
            }
        }
        return t
    }

    static func tokenizer() throws -> Tokenizer { try Tokenizer(folder: Paths.fixture("tokenizers/gpt2-whisper")) }
}

@Suite("Whisper word timestamps")
struct WordAlignmentTests {
    @Test("DTW paths equal transformers' _dynamic_time_warping (ties, NaN, float32 rounding)")
    func dtw() throws {
        let cases = try #require(try AlignmentReference.load("token_timestamps.json")["dtw"]?.array)
        #expect(cases.count == 9)
        for c in cases {
            let o = try #require(c.object)
            let name = o["name"]?.string ?? "?"
            let rows = try #require(o["rows"]?.int), columns = try #require(o["columns"]?.int)
            let matrix = AlignmentReference.floats(o["matrix"]).map(Double.init)
            let path = matrix.withUnsafeBufferPointer { WhisperAlignment.dynamicTimeWarping($0, rows: rows, columns: columns) }
            #expect(path.text == AlignmentReference.ints(o["text_indices"]), "\(name): token indices")
            #expect(path.time == AlignmentReference.ints(o["time_indices"]), "\(name): frame indices")
        }
    }

    @Test("The median filter equals transformers' _median_filter (reflect padding, NaN, short rows)")
    func medianFilter() throws {
        let cases = try #require(try AlignmentReference.load("token_timestamps.json")["median"]?.array)
        #expect(cases.count == 8)
        for c in cases {
            let o = try #require(c.object)
            let name = o["name"]?.string ?? "?"
            let out = WhisperAlignment.medianFilter(AlignmentReference.floats(o["input"]), rowLength: try #require(o["row_length"]?.int),
                                                    width: try #require(o["width"]?.int))
            let expected = AlignmentReference.floats(o["output"])
            #expect(out.count == expected.count, "\(name)")
            // Values equal (torch.sort treats -0 and +0 as equal, so which of them a window of
            // zeros yields is its sort's accident), NaN where NaN.
            #expect(zip(out, expected).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(name): \(out) vs \(expected)")
        }
    }

    @Test("Token timestamps equal transformers' _extract_token_timestamps bit for bit")
    func tokenTimestamps() throws {
        let cases = try #require(try AlignmentReference.load("token_timestamps.json")["cases"]?.array)
        #expect(cases.count == 16)
        for c in cases {
            let o = try #require(c.object)
            let name = o["name"]?.string ?? "?"
            let heads = try #require(o["heads"]?.int), tokens = try #require(o["tokens"]?.int), frames = try #require(o["frames"]?.int)
            let width = try #require(o["median_filter_width"]?.int), prompt = try #require(o["prompt"]?.int)
            let numFrames = o["num_frames"]?.int
            let attention = AlignmentReference.attention(kind: o["kind"]?.string ?? "", seed: UInt64(try #require(o["seed"]?.int)),
                                                         heads: heads, tokens: tokens, frames: frames)
            let result = WhisperAlignment.align(crossAttention: attention, numFrames: numFrames, medianFilterWidth: width,
                                                timePrecision: 0.02, promptLength: prompt)
            let expected = AlignmentReference.floats(o["timestamps"])
            #expect(result.times == expected, "\(name): timestamps")
            if heads * tokens * frames < 100_000 {
                #expect(WhisperAlignment.tokenTimestamps(crossAttention: attention, numFrames: numFrames, medianFilterWidth: width,
                                                         promptLength: prompt) == expected, "\(name): timestamps (public entry)")
            }
            guard tokens > 0 else { continue }

            // The matrix the DTW saw, then the path through it.
            let matrix = result.matrix
            let shape = AlignmentReference.ints(o["matrix_shape"])
            #expect(shape == [tokens, matrix.count / tokens], "\(name): matrix shape")
            #expect(matrix.filter(\.isNaN).count == o["matrix_nan"]?.int, "\(name): NaN count")
            for cell in o["matrix_cells"]?.array ?? [] {
                let pair = try #require(cell.array)
                let i = try #require(pair[0].int), v = pair[1].double.map(Float.init) ?? .nan
                #expect(matrix[i].bitPattern == v.bitPattern || (matrix[i].isNaN && v.isNaN), "\(name): cell \(i) \(matrix[i]) vs \(v)")
            }
            let sum = matrix.reduce(0.0) { $1.isNaN ? $0 : $0 + Double($1) }
            let expectedSum = try #require(o["matrix_sum"]?.double)
            #expect(abs(sum - expectedSum) <= 1e-9 * max(1, abs(expectedSum)), "\(name): matrix sum \(sum) vs \(expectedSum)")
            #expect(result.text == AlignmentReference.ints(o["text_indices"]), "\(name): DTW token indices")
            #expect(result.time == AlignmentReference.ints(o["time_indices"]), "\(name): DTW frame indices")
        }
    }

    @Test("Token timestamps ignore frames past numFrames / 2")
    func cropIgnoresTheRest() {
        let a = AlignmentReference.attention(kind: "diagonal", seed: 21, heads: 3, tokens: 12, frames: 1500)
        let b = a.copy()
        for h in 0..<3 { for t in 0..<12 { for f in 400..<1500 { b.data[(h * 12 + t) * 1500 + f] = Float(f % 7) } } }
        #expect(WhisperAlignment.tokenTimestamps(crossAttention: a, numFrames: 800) == WhisperAlignment.tokenTimestamps(crossAttention: b, numFrames: 800))
        #expect(WhisperAlignment.tokenTimestamps(crossAttention: a, numFrames: nil) != WhisperAlignment.tokenTimestamps(crossAttention: b, numFrames: nil))
    }

    @Test("The roles read from the Whisper tokenizer match transformers'")
    func roles() throws {
        let reference = try AlignmentReference.load("words.json")
        let roles = try #require(WhisperTokenRoles(tokenizer: try AlignmentReference.tokenizer()))
        #expect(Int(roles.timestampBegin) == reference["timestamp_begin"]?.int)
        #expect(Int(roles.endOfText) == reference["end_of_text"]?.int)
        #expect(roles.special.count == 107)
        #expect(roles.languages.count == 98)  // tiny.en has no <|yue|>, and <|iw|> for Hebrew, a code transformers does not know
    }

    @Test("Words and chunks equal the ASR pipeline's (_decode_asr) on real token streams")
    func words() throws {
        let reference = try AlignmentReference.load("words.json")
        let tokenizer = try AlignmentReference.tokenizer()
        let roles = try #require(WhisperTokenRoles(tokenizer: tokenizer))
        let decode = { (ids: [Int32]) in tokenizer.decode(ids) }
        let cases = try #require(reference["cases"]?.array)
        #expect(cases.count == 18)
        for c in cases {
            let o = try #require(c.object)
            let name = o["name"]?.string ?? "?"
            let ids = AlignmentReference.ints(o["ids"]).map(Int32.init)
            let times = AlignmentReference.floats(o["times"])
            let words = WhisperTranscript.words(tokens: ids, tokenTimes: times, roles: roles, decode: decode)
            let expected = try (o["words"]?.array ?? []).map { w -> WhisperTranscript.Word in
                let wo = try #require(w.object)
                return WhisperTranscript.Word(text: wo["text"]?.string ?? "", start: try #require(wo["start"]?.double), end: try #require(wo["end"]?.double))
            }
            #expect(words.map(\.text) == expected.map(\.text), "\(name): word texts")
            #expect(words == expected, "\(name): word times")
            let chunks = WhisperTranscript.chunks(tokens: ids, tokenTimes: nil, roles: roles, decode: decode)
            let expectedChunks = try (o["chunks"]?.array ?? []).map { w -> WhisperTranscript.Chunk in
                let wo = try #require(w.object)
                return WhisperTranscript.Chunk(text: wo["text"]?.string ?? "", start: wo["start"]?.double, end: wo["end"]?.double,
                                               language: wo["language"]?.string, words: [])
            }
            #expect(chunks == expectedChunks, "\(name): chunks")
            #expect(chunks.map(\.text).joined() == o["text"]?.string, "\(name): full text")
        }
    }

    @Test("Word splitting equals _combine_tokens_into_words for both splittings")
    func combine() throws {
        let reference = try AlignmentReference.load("words.json")
        let tokenizer = try AlignmentReference.tokenizer()
        let cases = try #require(reference["combine"]?.array)
        #expect(cases.count == 20)
        for c in cases {
            let o = try #require(c.object)
            let ids = AlignmentReference.ints(o["ids"]).map(Int32.init)
            let language = o["language"]?.string
            let got = WhisperTranscript.combineTokensIntoWords(ids, splitting: .init(language: language), endOfText: 50256,
                                                               decode: { tokenizer.decode($0) })
            let label = "\(JSON.quote(o["text"]?.string ?? "")) \(language ?? "")"
            #expect(got.words == (o["words"]?.array ?? []).compactMap(\.string), "\(label): words")
            #expect(got.tokens.map { $0.map(Int.init) } == (o["word_tokens"]?.array ?? []).map(AlignmentReference.ints), "\(label): tokens")
            #expect(got.indices == (o["indices"]?.array ?? []).map(AlignmentReference.ints), "\(label): indices")
        }
    }

    @Test("The splitting follows transformers' language names (and Whisper codes)")
    func splittingByLanguage() {
        #expect(WhisperTranscript.Splitting(language: nil) == .spaces)
        #expect(WhisperTranscript.Splitting(language: "english") == .spaces)
        for l in ["chinese", "japanese", "thai", "lao", "myanmar", "cantonese", "zh", "yue"] {
            #expect(WhisperTranscript.Splitting(language: l) == .unicode, "\(l)")
        }
        #expect(WhisperTranscript.Splitting(language: "korean") == .spaces)
    }

    @Test("Times round to hundredths as Python's round(x, 2)")
    func pythonRound() throws {
        let cases = try #require(try AlignmentReference.load("words.json")["round"]?.array)
        #expect(cases.count > 100)
        for c in cases {
            let o = try #require(c.object)
            let x = try #require(o["x"]?.double), r = try #require(o["rounded"]?.double)
            #expect(WhisperTranscript.pythonRound2(x) == r, "round(\(x), 2) = \(r), got \(WhisperTranscript.pythonRound2(x))")
        }
    }

    @Test("SRT and WebVTT equal openai-whisper's WriteSRT and WriteVTT")
    func subtitles() throws {
        let reference = try AlignmentReference.load("subtitles.json")
        let cases = try #require(reference["cases"]?.array)
        #expect(cases.count == 4)
        for c in cases {
            let o = try #require(c.object)
            let cues = try (o["segments"]?.array ?? []).map { s -> SubtitleCue in
                let a = try #require(s.array)
                return SubtitleCue(start: try #require(a[0].double), end: try #require(a[1].double), text: a[2].string ?? "")
            }
            #expect(Subtitles.srt(cues) == o["srt"]?.string)
            #expect(Subtitles.webVTT(cues) == o["vtt"]?.string)
            #expect(Subtitles.webVTT(cues, alwaysIncludeHours: true) == o["vtt_hours"]?.string)
        }
        for s in reference["timestamps"]?.array ?? [] {
            let o = try #require(s.object)
            let seconds = try #require(o["seconds"]?.double)
            #expect(Subtitles.timestamp(seconds, alwaysIncludeHours: true, decimalMarker: ",") == o["srt"]?.string, "\(seconds)")
            #expect(Subtitles.timestamp(seconds, alwaysIncludeHours: false, decimalMarker: ".") == o["vtt"]?.string, "\(seconds)")
        }
        #expect(Subtitles.timestamp(-1, alwaysIncludeHours: true, decimalMarker: ",") == "00:00:00,000")
    }
}
