import Foundation
import Testing
@testable import MMAttn

/// `transcribe` through the real command line: CONTRACT.md's JSON, text, SRT and WebVTT, several
/// clips, outputs written only when complete, and bad checkpoints and audio refused by name.
@Suite struct TranscribeCLITests {
    static let model = Paths.model("whisper-gen")
    static let arctic = Paths.fixture("audio/arctic_a0007.wav")
    static let cards = Paths.fixture("audio/derived/cards-005-8k.wav")

    func transcript(_ name: String) throws -> JSONFields {
        try JSONFields.load(Paths.reference("whisper/whisper-gen/\(name)/result.json"))
    }

    @Test func jsonHasSegmentsAndWords() throws {
        let r = try CLI.run(["transcribe", Self.arctic, Self.cards, "--model", Self.model, "--json", "--word-timestamps"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONFields(try JSON.parse(Data(r.stdout.utf8)), file: "stdout")
        #expect(try json.string("model") == Self.model)
        let results = try #require(json.object["results"]?.array)
        #expect(results.count == 2)
        for (result, name) in zip(results, ["arctic_a0007_wav", "cards-005-8k_wav"]) {
            let item = try JSONFields(result, file: "stdout")
            #expect(try item.string("text") == (try transcript("\(name)/timestamps").string("text")))
            let segments = try #require(item.object["segments"]?.array)
            let expected = try #require(try transcript("\(name)/timestamps").object["segments"]?.array)
            #expect(segments.count == expected.count)
            for (s, e) in zip(segments, expected) {
                let segment = try JSONFields(s, file: "stdout"), reference = try JSONFields(e, file: name)
                #expect(abs(try segment.double("start", default: .nan) - (try reference.double("start", default: .nan))) < 5e-4)
                #expect(abs(try segment.double("end", default: .nan) - (try reference.double("end", default: .nan))) < 5e-4)
                #expect(try segment.string("text") == (try reference.string("text")))
                #expect(segment.object["words"]?.array != nil)
            }
            let words = segments.flatMap { $0.object?["words"]?.array ?? [] }.compactMap { $0.object?["word"]?.string }
            let pipeline = try #require(try transcript("\(name)/words").object["words"]?.array).compactMap { $0.object?["word"]?.string }
            #expect(words == pipeline)
        }
    }

    @Test func textSubtitlesAndFiles() throws {
        var r = try CLI.run(["transcribe", Self.cards, "--model", Self.model])
        #expect(r.status == 0, "\(r.stderr)")
        let plain = try transcript("cards-005-8k_wav/notimestamps").string("text") ?? ""
        #expect(r.stdout == plain.trimmingCharacters(in: .whitespaces) + "\n")

        r = try CLI.run(["transcribe", Self.cards, "--model", Self.model, "--format", "srt"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("1\n00:00:"), "\(r.stdout)")
        #expect(r.stdout.contains(" --> ") && r.stdout.hasSuffix("\n\n"))

        let dir = CLI.tempDir()
        r = try CLI.run(["transcribe", Self.cards, "--model", Self.model, "--format", "vtt", "--output", dir + "/c.vtt"])
        #expect(r.status == 0 && r.stdout.isEmpty, "\(r.stderr)")
        let vtt = try String(contentsOfFile: dir + "/c.vtt", encoding: .utf8)
        #expect(vtt.hasPrefix("WEBVTT\n\n00:"))

        // Subtitles of several clips: one file per clip in a folder.
        r = try CLI.run(["transcribe", Self.cards, Self.arctic, "--model", Self.model, "--format", "srt", "--output", dir])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/cards-005-8k.srt"))
        #expect(FileManager.default.fileExists(atPath: dir + "/arctic_a0007.srt"))
        r = try CLI.run(["transcribe", Self.cards, Self.arctic, "--model", Self.model, "--format", "srt", "--output", dir + "/one.srt"])
        #expect(r.status == 1 && r.stderr.contains("folder"))
        r = try CLI.run(["transcribe", Self.cards, Self.arctic, "--model", Self.model, "--format", "vtt"])
        #expect(r.status == 64 && r.stderr.contains("--output FOLDER"))

        // With --timestamps the text shows each segment's times.
        r = try CLI.run(["transcribe", Self.cards, "--model", Self.model, "--timestamps"])
        #expect(r.status == 0 && r.stdout.hasPrefix("[00:00."), "\(r.stdout)")
    }

    /// A checkpoint without a decoder, a generation config without a field decoding needs, an
    /// English-only checkpoint asked for a language, and audio that cannot be read: exit 1, the
    /// file and what is wrong on stderr, no output file.
    @Test func badCheckpointsAndAudio() throws {
        let dir = CLI.tempDir()
        // The encoder-only weights of the audio fixtures.
        let encoderOnly = dir + "/encoder-only"
        try FileManager.default.createDirectory(atPath: encoderOnly, withIntermediateDirectories: true)
        let weights = try SafetensorsFile(path: Paths.model("whisper-gen/model.safetensors"))
        var tensors: [String: Tensor] = [:]
        for name in weights.names where name.hasPrefix("model.encoder.") { tensors[name] = try weights.tensor(name).copy() }
        try SafetensorsWriter.write(tensors, to: encoderOnly + "/model.safetensors")
        for name in ["config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: Paths.model("whisper-gen/\(name)"), toPath: encoderOnly + "/" + name)
        }
        var r = try CLI.run(["transcribe", Self.cards, "--model", encoderOnly, "--output", dir + "/a.txt"])
        #expect(r.status == 1 && r.stderr.contains("no Whisper decoder"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/a.txt"))

        // generation_config.json without no_timestamps_token_id: plain text works, timestamps say what is missing.
        let noTimestamps = dir + "/no-timestamps"
        try FileManager.default.createDirectory(atPath: noTimestamps, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: Paths.model("whisper-gen/\(name)"), toPath: noTimestamps + "/" + name)
        }
        var generation = try String(contentsOfFile: Paths.model("whisper-gen/generation_config.json"), encoding: .utf8)
        generation = generation.replacingOccurrences(of: "\"no_timestamps_token_id\"", with: "\"unused_no_timestamps_token_id\"")
        try generation.write(toFile: noTimestamps + "/generation_config.json", atomically: true, encoding: .utf8)
        r = try CLI.run(["transcribe", Self.cards, "--model", noTimestamps, "--json"])
        #expect(r.status == 1 && r.stderr.contains("no_timestamps_token_id") && r.stderr.contains("generation_config.json"), "\(r.stderr)")

        // An even median filter width, and no alignment heads: words are refused by name, not a crash.
        let even = dir + "/even-median"
        try FileManager.default.createDirectory(atPath: even, withIntermediateDirectories: true)
        for name in ["model.safetensors", "preprocessor_config.json", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: Paths.model("whisper-gen/\(name)"), toPath: even + "/" + name)
        }
        let config = try String(contentsOfFile: Paths.model("whisper-gen/config.json"), encoding: .utf8)
        try config.replacingOccurrences(of: "\"median_filter_width\": 7", with: "\"median_filter_width\": 8")
            .write(toFile: even + "/config.json", atomically: true, encoding: .utf8)
        let headless = try String(contentsOfFile: Paths.model("whisper-gen/generation_config.json"), encoding: .utf8)
            .replacingOccurrences(of: "\"alignment_heads\"", with: "\"unused_alignment_heads\"")
        try headless.write(toFile: even + "/generation_config.json", atomically: true, encoding: .utf8)
        r = try CLI.run(["transcribe", Self.cards, "--model", even])
        #expect(r.status == 1 && r.stderr.contains("median_filter_width"), "\(r.stderr)")
        try config.write(toFile: even + "/config.json", atomically: true, encoding: .utf8)
        r = try CLI.run(["transcribe", Self.cards, "--model", even, "--word-timestamps"])
        #expect(r.status == 1 && r.stderr.contains("alignment_heads"), "\(r.stderr)")

        // Two clips whose subtitle files would share a name.
        r = try CLI.run(["transcribe", Self.arctic, Paths.fixture("audio/derived/arctic_a0007.ogg"), "--model", Self.model,
                         "--format", "srt", "--output", dir])
        #expect(r.status == 64 && r.stderr.contains("arctic_a0007.srt"), "\(r.stderr)")

        r = try CLI.run(["transcribe", Self.cards, "--model", Self.model, "--language", "de"])
        #expect(r.status == 1 && r.stderr.contains("English-only"), "\(r.stderr)")

        let text = dir + "/notes.wav"
        try "not audio".write(toFile: text, atomically: true, encoding: .utf8)
        r = try CLI.run(["transcribe", text, "--model", Self.model])
        #expect(r.status == 1 && r.stderr.contains(text), "\(r.stderr)")
    }

    /// A one-sample file and silence transcribe (Whisper decodes them like any window) without
    /// failing; an empty transcript is an empty line.
    @Test func tinyAndSilentAudio() throws {
        let dir = CLI.tempDir()
        let one = dir + "/one.wav", silence = dir + "/silence.wav"
        try writeWAV(one, samples: [0.25])
        try writeWAV(silence, samples: [Float](repeating: 0, count: 16_000 * 2))
        for clip in [one, silence] {
            let r = try CLI.run(["transcribe", clip, "--model", Self.model, "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect((try JSON.parse(Data(r.stdout.utf8))).object?["results"]?.array?.count == 1)
        }
    }

    /// A 16-bit mono 16 kHz WAV.
    func writeWAV(_ path: String, samples: [Float]) throws {
        var data = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: Array("RIFF".utf8)); u32(UInt32(36 + samples.count * 2)); data.append(contentsOf: Array("WAVE".utf8))
        data.append(contentsOf: Array("fmt ".utf8)); u32(16); u16(1); u16(1); u32(16_000); u32(32_000); u16(2); u16(16)
        data.append(contentsOf: Array("data".utf8)); u32(UInt32(samples.count * 2))
        for s in samples { u16(UInt16(bitPattern: Int16(max(-1, min(1, s)) * 32767))) }
        try data.write(to: URL(fileURLWithPath: path))
    }
}
