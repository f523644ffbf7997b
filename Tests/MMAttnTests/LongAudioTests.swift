import CSndfile
import Foundation
import Testing
@testable import MMAttn

/// Clips, derived files and references for the long-audio tests (`Fixtures/audio`, `Fixtures/audio/derived`,
/// `Fixtures/reference/long-audio` written by `Fixtures/gen_long_audio.py`).
private enum LongAudio {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func clip(_ name: String) -> String { root.appendingPathComponent("audio/\(name)").path }
    /// A file of `Fixtures/audio/derived`, if present.
    static func derived(_ name: String) -> String? {
        let path = root.appendingPathComponent("audio/derived/\(name)").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
    static func reference(_ name: String) throws -> Tensor {
        try NPY.read(root.appendingPathComponent("reference/long-audio/\(name)").path)
    }
    static let summary: JSONFields = {
        (try? JSONFields.load(root.appendingPathComponent("reference/long-audio/summary.json").path))
            ?? JSONFields(object: JSONObject(), file: "summary.json")
    }()

    /// "speech-mix": 4 × [arctic_a0007, 0.6 s zeros, cards-005, 0.8 s zeros, cards-001, 0.5 s zeros] at 16 kHz,
    /// 671,864 samples (41.99 s): the samples of `derived/speech-mix.flac`, built as gen_long_audio.py builds them.
    static let speechMix: [Float] = {
        let parts = [("arctic_a0007.wav", 9600), ("cards-005.wav", 12_800), ("cards-001.wav", 8000)].map { name, gap in
            (try! AudioDecoder.decode(path: clip(name)).samples) + [Float](repeating: 0, count: gap)
        }
        return Array((0..<4).flatMap { _ in parts.joined() })
    }()

    /// A fresh temporary folder, removed by the caller.
    static func temporaryFolder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mmattn-long-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Write `frames` frames of `channels`-channel audio with libsndfile; `sample(frame, channel)` gives the values.
    static func write(_ path: String, format: Int32, rate: Int, channels: Int, frames: Int,
                      sample: (Int, Int) -> Float) throws {
        var info = SF_INFO(frames: 0, samplerate: Int32(rate), channels: Int32(channels), format: format, sections: 0, seekable: 0)
        let handle = try #require(sf_open(path, Int32(SFM_WRITE), &info), "libsndfile cannot write \(path)")
        defer { sf_close(handle) }
        let block = 8192
        var data = [Float](repeating: 0, count: block * channels)
        var f0 = 0
        while f0 < frames {
            let n = min(block, frames - f0)
            for f in 0..<n { for c in 0..<channels { data[f * channels + c] = sample(f0 + f, c) } }
            #expect(sf_writef_float(handle, data, sf_count_t(n)) == sf_count_t(n))
            f0 += n
        }
    }

    /// Every sample of `stream`, read in pieces of changing sizes (1 sample to 100,000).
    static func readAll(_ stream: AudioStream) throws -> [Float] {
        let sizes = [1, 777, 4096, 100_000, 3, 16_384]
        var all: [Float] = []
        var i = 0
        while true {
            let part = try stream.read(maxCount: sizes[i % sizes.count])
            if part.isEmpty { return all }
            all += part
            i += 1
        }
    }
}

/// Columns `range` of a `[rows, width]` tensor.
private func columns(_ t: Tensor, _ range: Range<Int>) -> [Float] {
    let rows = t.shape[0], width = t.shape[1]
    return withExtendedLifetime(t) { (0..<rows).flatMap { r in UnsafeBufferPointer(start: t.pointer + r * width + range.lowerBound, count: range.count) } }
}

/// Columns 0, stride, 2·stride, ... of a `[rows, width]` tensor, as a flat row-major array.
private func stridedColumns(_ t: Tensor, stride: Int) -> [Float] {
    let rows = t.shape[0], width = t.shape[1]
    return withExtendedLifetime(t) {
        (0..<rows).flatMap { r in Swift.stride(from: 0, to: width, by: stride).map { t.pointer[r * width + $0] } }
    }
}

/// nil when `a` and `b` hold the same values bit for bit, else where they first differ. (`#expect(a == b)` on
/// arrays of millions of values would spend minutes diffing them for its message.)
private func mismatch(_ a: [Float], _ b: [Float]) -> String? {
    guard a.count == b.count else { return "\(a.count) values vs \(b.count)" }
    guard let i = a.indices.first(where: { a[$0].bitPattern != b[$0].bitPattern }) else { return nil }
    return "first difference at \(i): \(a[i]) vs \(b[i])"
}

private func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

@Suite struct LongAudioTests {
    // MARK: Long-form features against transformers

    @Test func speechMixIsTheDerivedFile() throws {
        let signal = LongAudio.speechMix
        let expected = try #require(try LongAudio.summary.fields("signal"))
        #expect(signal.count == (try expected.int("count")))
        let sum = signal.reduce(0.0) { $0 + Double($1) }
        #expect(abs(sum - (try expected.double("sum", default: .nan))) <= 1e-9)
        if let flac = LongAudio.derived("speech-mix.flac") {
            let clip = try AudioDecoder.decode(path: flac)
            #expect(clip.sampleRate == 16_000)
            #expect(mismatch(clip.samples, signal) == nil)
        }
    }

    @Test func frameCountsFollowTransformers() throws {
        let extractor = WhisperFeatureExtractor()
        let counts = try #require(try LongAudio.summary.fields("frame_counts"))
        #expect(counts.object.keys.count >= 8)
        for key in counts.object.keys {
            let n = try #require(Int(key))
            let expected = try #require(try counts.fields(key))
            #expect(extractor.longFormFrameCount(sampleCount: n) == (try expected.int("frames")), "\(n) samples")
            #expect(extractor.longFormFrameCount(sampleCount: n) == (try expected.int("attention_mask_sum")), "\(n) samples")
        }
        // torch's reflect padding needs more than n_fft / 2 samples.
        #expect(throws: MMAttnError.self) { try extractor.longFormFeatures([Float](repeating: 0.1, count: 200)) }
        #expect(try extractor.longFormFeatures([Float](repeating: 0.1, count: 201)).shape == [80, 1])
        #expect(throws: MMAttnError.self) { try LongFormMel(samples: [0.1, 0.2]) }
    }

    @Test func longFormFeaturesMatchTransformers80() throws {
        let whisper = try #require(try LongAudio.summary.fields("whisper"))
        let extractor = WhisperFeatureExtractor()
        let features = try extractor.longFormFeatures(LongAudio.speechMix)
        let frames = try whisper.int("frames")
        #expect(features.shape == [80, frames])  // 4199: the last STFT frame dropped
        let strided = try LongAudio.reference("whisper80_strided5.npy")
        let d1 = maxAbsDiff(stridedColumns(features, stride: try whisper.int("stride_80")), strided.values)
        let d2 = maxAbsDiff(columns(features, 0..<40), try LongAudio.reference("whisper80_head40.npy").values)
        let d3 = maxAbsDiff(columns(features, (frames - 40)..<frames), try LongAudio.reference("whisper80_tail40.npy").values)
        let d4 = maxAbsDiff(columns(features, 2990..<3010), try LongAudio.reference("whisper80_2990_3010.npy").values)
        // The tolerance of the 30 s window tests (AudioFrontEndTests); measured 1.5e-5, 7.2e-7, 1.2e-7, 6.0e-7.
        #expect(d1 <= 1e-4, "every 5th frame: max abs diff \(d1)")
        #expect(d2 <= 1e-4, "first 40 frames: max abs diff \(d2)")
        #expect(d3 <= 1e-4, "last 40 frames: max abs diff \(d3)")
        #expect(d4 <= 1e-4, "frames 2990..<3010: max abs diff \(d4)")
        // The floor is relative to the whole signal's peak, not to a window's.
        let peak = try LongAudio.speechMix.withUnsafeBufferPointer { try extractor.longFormPeak($0) }
        let referencePeak = Float(try whisper.double("peak_log10_80", default: .nan))
        #expect(abs(peak - referencePeak) <= 1e-5, "peak \(peak) vs \(referencePeak)")  // measured 1.2e-7 (one float ulp)
        #expect(abs(features.values.min()! - Float(try whisper.double("min_80", default: .nan))) <= 1e-5)
        let mean = features.values.reduce(0.0) { $0 + Double($1) } / Double(features.count)
        #expect(abs(mean - (try whisper.double("mean_80", default: .nan))) <= 1e-6, "mean \(mean)")  // measured 9.4e-9
    }

    @Test func longFormFeaturesMatchTransformers128() throws {
        let whisper = try #require(try LongAudio.summary.fields("whisper"))
        let features = try WhisperFeatureExtractor(featureSize: 128).longFormFeatures(LongAudio.speechMix)
        #expect(features.shape == [128, try whisper.int("frames_128")])
        let strided = try LongAudio.reference("whisper128_strided25.npy")
        let diff = maxAbsDiff(stridedColumns(features, stride: try whisper.int("stride_128")), strided.values)
        #expect(diff <= 1e-4, "every 25th frame: max abs diff \(diff)")  // measured 2.0e-5
    }

    // MARK: Windows equal the whole features

    /// Window `seek` of `mel` must equal columns `seek ..< seek + frames` of `whole`, then zeros.
    private func checkWindows(_ mel: LongFormMel, whole: Tensor, seeks: [Int], label: String) throws {
        let total = whole.shape[1]
        #expect(mel.frameCount == total, "\(label)")
        for seek in seeks {
            let (features, frames) = try mel.window(at: seek)
            #expect(features.shape == [whole.shape[0], 3000])
            #expect(frames == min(total - seek, 3000), "\(label) seek \(seek)")
            let differs = mismatch(columns(features, 0..<frames), columns(whole, seek..<(seek + frames)))
            #expect(differs == nil, "\(label): window at \(seek) differs from the whole features: \(differs ?? "")")
            #expect(columns(features, frames..<3000).allSatisfy { $0 == 0 }, "\(label): padding at \(seek) is not 0.0")
        }
    }

    @Test func windowsAreBitIdenticalToTheWholeFeatures() throws {
        let samples = LongAudio.speechMix
        let extractor = WhisperFeatureExtractor()
        let whole = try extractor.longFormFeatures(samples)
        let total = whole.shape[1]  // 4199
        // Increasing seeks as generation asks for them, block edges (64), the last frames, then going back.
        let seeks = [0, 1, 63, 64, 65, 1234, 2999, 3000, 3001, total - 3000, total - 65, total - 64, total - 1, 5, 0]

        let inMemory = try LongFormMel(samples: samples, extractor: extractor)
        try checkWindows(inMemory, whole: whole, seeks: seeks, label: "samples")

        // From a file: the derived FLAC, or the same samples written to one (as 16-bit integers k, the
        // samples being k / 32768: libsndfile would scale floats by 32767).
        let dir = try LongAudio.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        var path = dir.appendingPathComponent("speech-mix.flac").path
        if let flac = LongAudio.derived("speech-mix.flac") {
            path = flac
        } else {
            var info = SF_INFO(frames: 0, samplerate: 16_000, channels: 1, format: Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16), sections: 0, seekable: 0)
            let handle = try #require(sf_open(path, Int32(SFM_WRITE), &info))
            let shorts = samples.map { Int16($0 * 32_768) }
            #expect(sf_writef_short(handle, shorts, sf_count_t(shorts.count)) == sf_count_t(shorts.count))
            sf_close(handle)
        }
        #expect(mismatch(try AudioDecoder.decode(path: path).samples, samples) == nil)
        let streamed = try LongFormMel(path: path, extractor: extractor)
        #expect(streamed.peak == inMemory.peak && streamed.sampleCount == samples.count)
        try checkWindows(streamed, whole: whole, seeks: seeks, label: "stream")
        #expect(throws: MMAttnError.self) { try streamed.window(at: total) }
        #expect(throws: MMAttnError.self) { try streamed.window(at: -1) }

        // 128 bins, seeks off the block grid.
        let large = try WhisperFeatureExtractor(featureSize: 128)
        try checkWindows(try LongFormMel(path: path, extractor: large), whole: try large.longFormFeatures(samples),
                         seeks: [0, 2873, total - 1], label: "stream, 128 bins")
    }

    @Test func windowsOfAResampledFileEqualTheDecodersFeatures() throws {
        // A 48 kHz stereo file: the windows must be those of AudioDecoder + resampling + longFormFeatures.
        let dir = try LongAudio.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("mix48.wav").path
        let up = try AudioResampler.resample(Array(LongAudio.speechMix.prefix(560_000)), from: 16_000, to: 48_000)
        try LongAudio.write(path, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), rate: 48_000, channels: 2,
                            frames: up.count) { f, c in c == 0 ? up[f] : 0.5 * up[up.count - 1 - f] }
        let samples = try AudioDecoder.decode(path: path).resampled(to: 16_000).samples
        let extractor = WhisperFeatureExtractor()
        let whole = try extractor.longFormFeatures(samples)
        try checkWindows(try LongFormMel(path: path), whole: whole, seeks: [0, 2950, whole.shape[1] - 1], label: "48 kHz stereo")
    }

    // MARK: The stream gives the decoder's samples

    /// Files for the stream tests: the derived clips when present (else equivalents written here), and
    /// longer files that take several libsndfile chunks and several resampler steps.
    private static func streamCases(in dir: URL) throws -> [String] {
        var paths: [String] = []
        let wav16 = Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        func file(_ name: String, _ make: (String) throws -> Void) rethrows {
            if let derived = LongAudio.derived(name) {
                paths.append(derived)
            } else {
                let path = dir.appendingPathComponent(name).path
                try make(path)
                paths.append(path)
            }
        }
        let cards1 = try AudioDecoder.decode(path: LongAudio.clip("cards-001.wav")).samples
        let cards5 = try AudioDecoder.decode(path: LongAudio.clip("cards-005.wav")).samples
        let arctic = try AudioDecoder.decode(path: LongAudio.clip("arctic_a0007.wav")).samples
        try file("cards-001-48k.wav") { path in
            let x = try AudioResampler.resample(cards1, from: 16_000, to: 48_000)
            try LongAudio.write(path, format: wav16, rate: 48_000, channels: 1, frames: x.count) { f, _ in x[f] }
        }
        try file("cards-005-8k.wav") { path in
            let x = try AudioResampler.resample(cards5, from: 16_000, to: 8000)
            try LongAudio.write(path, format: wav16, rate: 8000, channels: 1, frames: x.count) { f, _ in x[f] }
        }
        try file("arctic_a0007.ogg") { path in
            try LongAudio.write(path, format: Int32(SF_FORMAT_OGG | SF_FORMAT_VORBIS), rate: 16_000, channels: 1,
                                frames: arctic.count) { f, _ in arctic[f] }
        }
        paths.append(LongAudio.clip("bell.oga"))  // Vorbis, 44.1 kHz stereo
        // 12 s of 48 kHz stereo (5 libsoxr steps), 8 s of 44.1 kHz stereo Vorbis, 10 s of 22.05 kHz float.
        let mix = LongAudio.speechMix
        let at48 = try AudioResampler.resample(Array(mix.prefix(192_000)), from: 16_000, to: 48_000)
        let stereo48 = dir.appendingPathComponent("mix-48k-stereo.wav").path
        try LongAudio.write(stereo48, format: wav16, rate: 48_000, channels: 2, frames: at48.count) { f, c in
            c == 0 ? at48[f] : -0.25 * at48[(f * 7) % at48.count]
        }
        let at44 = try AudioResampler.resample(Array(mix.prefix(128_000)), from: 16_000, to: 44_100)
        let vorbis44 = dir.appendingPathComponent("mix-44k-stereo.ogg").path
        try LongAudio.write(vorbis44, format: Int32(SF_FORMAT_OGG | SF_FORMAT_VORBIS), rate: 44_100, channels: 2,
                            frames: at44.count) { f, c in c == 0 ? at44[f] : 0.5 * at44[at44.count - 1 - f] }
        let float22 = dir.appendingPathComponent("tone-22k-float.wav").path
        try LongAudio.write(float22, format: Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT), rate: 22_050, channels: 1,
                            frames: 220_500) { f, _ in Float(0.3 * sin(Double(f) * Double(f) * 1e-7)) }
        return paths + [stereo48, vorbis44, float22, LongAudio.clip("arctic_a0007.wav")]
    }

    @Test func streamGivesTheDecoderSamples() throws {
        let dir = try LongAudio.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        for path in try Self.streamCases(in: dir) {
            let name = URL(fileURLWithPath: path).lastPathComponent
            let expected = try AudioDecoder.decode(path: path).resampled(to: 16_000).samples
            let stream = try AudioStream(path: path, sampleRate: 16_000)
            let first = try LongAudio.readAll(stream)
            let differs = mismatch(first, expected)
            #expect(differs == nil, "\(name): the stream's samples differ from the decoder's: \(differs ?? "")")
            #expect(stream.count == expected.count && stream.isAtEnd)
            try stream.rewind()
            #expect(mismatch(try LongAudio.readAll(stream), expected) == nil, "\(name): second pass")
            // libsoxr's output drained 7 samples at a time: the same samples.
            let small = try AudioStream(path: path, sampleRate: 16_000, maxSeconds: 60, resamplerOutputCapacity: 7)
            #expect(mismatch(try LongAudio.readAll(small), expected) == nil, "\(name): small resampler output buffer")
            // At the file's own rate: the decoder's samples unchanged.
            let native = try AudioStream(path: path)
            #expect(mismatch(try native.readAll(), try AudioDecoder.decode(path: path).samples) == nil, "\(name): own rate")
        }
    }

    @Test func streamResamplerMatchesPythonSoxrOverManySteps() throws {
        let mix = LongAudio.speechMix
        let resampled = try #require(try LongAudio.summary.fields("resampled"))
        let stride = try LongAudio.summary.int("resample_stride")
        for rate in [44_100, 8000] {
            let whole = try AudioResampler.resample(mix, from: 16_000, to: rate)
            #expect(whole.count == (try #require(try resampled.fields(String(rate))).int("count")))
            let reference = try LongAudio.reference("speech_mix_soxr_hq_\(rate)_strided\(stride).npy")
            let diff = maxAbsDiff(Swift.stride(from: 0, to: whole.count, by: stride).map { whole[$0] }, reference.values)
            #expect(diff <= 1e-6, "\(rate) Hz: max abs diff \(diff)")  // measured 0 (the same libsoxr)
            // Pushed in uneven pieces: the same samples.
            let resampler = try StreamResampler(from: 16_000, to: rate)
            var out: [Float] = []
            var index = 0, piece = 1
            while index < mix.count {
                let n = min(piece, mix.count - index)
                try mix.withUnsafeBufferPointer { try resampler.push(UnsafeBufferPointer(rebasing: $0[index..<(index + n)])) { out += $0 } }
                index += n
                piece = piece * 3 + 1
                if piece > 100_000 { piece = 5 }
            }
            try resampler.finish { out += $0 }
            #expect(mismatch(out, whole) == nil, "\(rate) Hz: pushed in pieces")
        }
    }

    // MARK: Bad input

    @Test func streamRejectsBadFilesNamingThem() throws {
        let dir = try LongAudio.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty.wav").path
        try Data().write(to: URL(fileURLWithPath: empty))
        let text = dir.appendingPathComponent("notes.wav").path
        try Data("not audio at all".utf8).write(to: URL(fileURLWithPath: text))
        let nan = dir.appendingPathComponent("nan.wav").path
        try LongAudio.write(nan, format: Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT), rate: 16_000, channels: 1, frames: 60_000) { f, _ in
            f == 50_000 ? .nan : 0.1
        }
        let short = dir.appendingPathComponent("short.wav").path
        try LongAudio.write(short, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), rate: 16_000, channels: 1, frames: 150) { _, _ in 0.1 }
        let twoSeconds = dir.appendingPathComponent("two.flac").path
        try LongAudio.write(twoSeconds, format: Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16), rate: 16_000, channels: 1, frames: 32_000) { f, _ in
            Float(0.3 * sin(Double(f) * 0.1))
        }
        func expectError(_ path: String, containing words: String, _ body: () throws -> Void) {
            do {
                try body()
                Issue.record("\(path) was accepted")
            } catch let error as MMAttnError {
                #expect(error.file == path, "\(error)")
                #expect(error.message.contains(words), "\(error)")
            } catch {
                Issue.record("unexpected error type \(error)")
            }
        }
        expectError("/nonexistent/long.wav", containing: "cannot open") { _ = try AudioStream(path: "/nonexistent/long.wav") }
        expectError(dir.path, containing: "not a regular file") { _ = try LongFormMel(path: dir.path) }
        expectError(empty, containing: "empty") { _ = try LongFormMel(path: empty) }
        expectError(text, containing: "cannot decode") { _ = try LongFormMel(path: text) }
        expectError(nan, containing: "NaN") { _ = try LongFormMel(path: nan) }  // found in the first pass
        expectError(short, containing: "too few") { _ = try LongFormMel(path: short) }
        // The header's length is checked before reading; the reading is checked too (Ogg has no length).
        expectError(twoSeconds, containing: "header declares 2.00 s") { _ = try AudioStream(path: twoSeconds, maxSeconds: 1.5) }
        expectError(LongAudio.clip("bell.oga"), containing: "longer than") {
            _ = try LongFormMel(path: LongAudio.clip("bell.oga"), maxSeconds: 0.1)
        }
        expectError(LongAudio.clip("cards-001.wav"), containing: "Hz") {
            _ = try LongFormMel(stream: AudioStream(path: LongAudio.clip("cards-001.wav"), sampleRate: 8000))
        }

        // A cut FLAC: its samples are used, with one warning over both passes.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: twoSeconds))
        let cut = dir.appendingPathComponent("cut.flac").path
        try bytes.prefix(bytes.count * 3 / 4).write(to: URL(fileURLWithPath: cut))
        let warnings = WarningLog()
        let mel = try Diagnostics.capture({ warnings.append($0) }) { () throws -> LongFormMel in
            let mel = try LongFormMel(path: cut)
            _ = try mel.window(at: 0)
            return mel
        }
        let decoded = try Diagnostics.capture({ _ in }) { try AudioDecoder.decode(path: cut).samples }
        #expect(mel.sampleCount == decoded.count && decoded.count < 32_000)
        #expect(warnings.messages.count == 1 && warnings.messages.first?.contains("cut short") == true, "\(warnings.messages)")
    }

    /// Every file of the shared bad-inputs corpus: the stream accepts what the decoder accepts, with the same
    /// samples, and refuses what it refuses with an error naming the file (never a crash).
    @Test(.needsBadInputs) func streamAgreesWithTheDecoderOnTheBadInputsCorpus() throws {
        let folder = try #require(Paths.badInputs.map { $0 + "/audio" })
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { !$0.hasSuffix(".md") && !$0.hasSuffix(".py") && !$0.hasSuffix(".sh") }.sorted()
        #expect(names.count >= 20)
        for name in names {
            let path = folder + "/" + name
            let (decoded, streamed) = Diagnostics.capture({ _ in }) {
                (Result { try AudioDecoder.decode(path: path).resampled(to: 16_000).samples },
                 Result { try LongAudio.readAll(try AudioStream(path: path, sampleRate: 16_000, maxSeconds: AudioDecoder.defaultMaxSeconds)) })
            }
            switch (decoded, streamed) {
            case (.success(let a), .success(let b)):
                #expect(mismatch(a, b) == nil, "\(name): the stream's samples differ from the decoder's")
            case (.failure, .failure(let error)):
                #expect((error as? MMAttnError)?.file == path, "\(name): \(error)")
            case (.success, .failure(let error)):
                Issue.record("\(name): decoded, but the stream fails: \(error)")
            case (.failure(let error), .success):
                Issue.record("\(name): the stream reads it, but the decoder fails: \(error)")
            }
        }
    }

    // MARK: Bounded memory

    /// Serve windows as generation does (seek growing by a window or less) over a synthetic file of
    /// `seconds` at 8 kHz, and report the largest buffers held.
    private func bufferPeaks(seconds: Int, in dir: URL) throws -> (samples: Int, queued: Int, frames: Int) {
        let path = dir.appendingPathComponent("synthetic-\(seconds)s.wav").path
        var state: UInt32 = 12_345
        try LongAudio.write(path, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), rate: 8000, channels: 1, frames: seconds * 8000) { f, _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            let noise = Float(Int32(bitPattern: state) >> 16) / 65_536 * 0.05
            return Float(0.3 * sin(2 * Double.pi * (200 + Double(f % 80_000) / 100) * Double(f) / 8000)) + noise
        }
        let stream = try AudioStream(path: path, sampleRate: 16_000)
        let mel = try LongFormMel(stream: stream)
        #expect(mel.sampleCount == seconds * 16_000 && mel.frameCount == seconds * 100)
        // The first windows, then a jump to the last ones (the samples in between are read and dropped).
        var seek = 0
        for step in [2873, 3000, 1500] {
            _ = try mel.window(at: seek)
            seek += step
        }
        seek = mel.frameCount - 4000
        while seek < mel.frameCount {
            let (_, frames) = try mel.window(at: seek)
            seek += min(frames, 2900)
        }
        return (mel.peakBufferCapacity, stream.peakQueued, mel.frameCount)
    }

    @Test func memoryDoesNotGrowWithTheFileLength() throws {
        let dir = try LongAudio.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let short = try bufferPeaks(seconds: 60, in: dir)
        let long = try bufferPeaks(seconds: 600, in: dir)
        #expect(long.frames == 10 * short.frames)
        #expect(long.samples == short.samples, "sample buffer: \(short.samples) for 1 min, \(long.samples) for 10 min")
        #expect(long.queued == short.queued, "stream queue: \(short.queued) for 1 min, \(long.queued) for 10 min")
        // One window of samples and its blocks, plus one read: (3000 + 2 · 64) · 160 + 400 + 65,536, rounded up by Array.
        #expect(long.samples <= 2 * ((3000 + 128) * 160 + 400 + LongFormMel.readSamples))
        // What one libsndfile chunk completes: up to a chunk and a resampler step (24,000 samples at 8 kHz),
        // resampled 8 → 16 kHz.
        #expect(long.queued <= 2 * (AudioDecoder.chunkFrames + 24_000))
    }
}
