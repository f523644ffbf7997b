import CSndfile
import Foundation
import Testing
@testable import MMAttn

/// Paths and reference data for the audio tests (`Fixtures/audio`, `Fixtures/reference/audio`, written by
/// `Fixtures/gen_audio.py`).
private enum AudioFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func clip(_ name: String) -> String { root.appendingPathComponent("audio/\(name)").path }
    static func reference(_ name: String) throws -> Tensor {
        try NPY.read(root.appendingPathComponent("reference/audio/\(name)").path)
    }
    static let summary: JSONFields = {
        // A missing or broken summary fails every test that reads it, with the parser's message.
        (try? JSONFields.load(root.appendingPathComponent("reference/audio/summary.json").path))
            ?? JSONFields(object: JSONObject(), file: "summary.json")
    }()

    /// The shared bad-inputs corpus beside the clone (as CI lays it out), if present.
    static var badInputs: String? {
        Paths.badInputs.map { $0 + "/audio" }
    }
}

/// Largest absolute difference between the first `b.count` elements of `a` and those of `b`.
private func prefixMaxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.count >= b.count)
    return withExtendedLifetime((a, b)) {
        var worst: Float = 0
        for i in 0..<b.count { worst = max(worst, abs(a.data[i] - b.data[i])) }
        return worst
    }
}

private func prefixMaxAbsDiff(_ a: [Float], _ b: Tensor) -> Float {
    prefixMaxAbsDiff(Tensor(shape: [a.count], values: a), b)
}

/// Columns `range` of a row-major `[rows, columns]` tensor, as a `[rows, range.count]` tensor.
private func columns(_ t: Tensor, _ range: Range<Int>) -> Tensor {
    let rows = t.shape[0], width = t.shape[1]
    let out = Tensor(zeros: [rows, range.count])
    for r in 0..<rows { (out.data + r * range.count).update(from: t.data + r * width + range.lowerBound, count: range.count) }
    return out
}

/// Warnings collected from `Diagnostics.warn`, which may be called from any thread.
/// `@unchecked Sendable`: every access to `stored` holds `lock`.
final class WarningLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ message: String) { lock.lock(); stored.append(message); lock.unlock() }
    var messages: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}

@Suite struct AudioFrontEndTests {
    // MARK: Decoding

    @Test(arguments: ["arctic_a0007.wav", "cards-001.wav", "cards-005.wav"])
    func decodesWavExactlyAsSoundfile(_ name: String) throws {
        let clip = try AudioDecoder.decode(path: AudioFixtures.clip(name))
        let expected = try #require(try AudioFixtures.summary.fields("decoded")?.fields(name))
        #expect(clip.sampleRate == (try expected.int("sample_rate")))
        #expect(clip.samples.count == (try expected.int("count")))
        // 16-bit PCM maps to k / 32768 in both: the samples must be identical.
        let strided = try AudioFixtures.reference("decoded_\(name.replacingOccurrences(of: ".wav", with: ""))_strided.npy")
        let stride = try AudioFixtures.summary.int("decode_stride")
        let mine = Swift.stride(from: 0, to: clip.samples.count, by: stride).map { clip.samples[$0] }
        #expect(mine == strided.values)
        let sum = clip.samples.reduce(0.0) { $0 + Double($1) }
        #expect(sum == (try expected.double("sum", default: .nan)))
    }

    @Test func decodesVorbisStereoToTheMeanOfItsChannels() throws {
        let clip = try AudioDecoder.decode(path: AudioFixtures.clip("bell.oga"))
        let reference = try AudioFixtures.reference("bell_mono_44100.npy")
        #expect(clip.sampleRate == 44_100)
        try #require(clip.samples.count == reference.count)
        // Vorbis decoding is floating point: libsndfile 1.2.0 here, soundfile's bundled 1.2.2 for the reference.
        let diff = prefixMaxAbsDiff(clip.samples, reference)
        #expect(diff <= 5e-7, "max abs diff \(diff)")  // measured 3.0e-8
    }

    /// Write `frames` of `channels`-channel audio with libsndfile in `format`, then decode it back.
    private func roundTrip(format: Int32, channels: Int, rate: Int = 16_000, frames: Int = 4000,
                           sample: (Int, Int) -> Float) throws -> AudioClip {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mmattn-audio-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var info = SF_INFO(frames: 0, samplerate: Int32(rate), channels: Int32(channels), format: format, sections: 0, seekable: 0)
        let handle = try #require(sf_open(path, Int32(SFM_WRITE), &info))
        var data = [Float](repeating: 0, count: frames * channels)
        for f in 0..<frames { for c in 0..<channels { data[f * channels + c] = sample(f, c) } }
        #expect(sf_writef_float(handle, data, sf_count_t(frames)) == sf_count_t(frames))
        sf_close(handle)
        return try AudioDecoder.decode(path: path)
    }

    @Test(arguments: [
        (Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_U8), Float(1.0 / 64)),
        (Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), Float(1.0 / 16_384)),
        (Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_24), Float(1e-6)),
        (Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_32), Float(1e-6)),
        (Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT), Float(0)),
        (Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16), Float(1.0 / 16_384)),
        (Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_24), Float(1e-6)),
        (Int32(SF_FORMAT_OGG | SF_FORMAT_VORBIS), Float(0.05)),
        (Int32(SF_FORMAT_OGG | SF_FORMAT_OPUS), Float(0.05)),
    ])
    func decodesFormatsAndDownmixesStereo(format: Int32, tolerance: Float) throws {
        // Left: a 440 Hz sine at 0.5; right: minus half of it. The mean of the channels is a quarter of the left.
        let rate = (format & Int32(SF_FORMAT_SUBMASK)) == Int32(SF_FORMAT_OPUS) ? 48_000 : 16_000
        let tone = { (f: Int) in Float(0.5 * sin(2 * Double.pi * 440 * Double(f) / Double(rate))) }
        let clip = try roundTrip(format: format, channels: 2, rate: rate, frames: rate / 2) { f, c in c == 0 ? tone(f) : -tone(f) / 2 }
        #expect(clip.sampleRate == rate)
        #expect(abs(clip.samples.count - rate / 2) <= rate / 100)  // lossy codecs may pad or trim a little
        if tolerance < 0.05 {
            try #require(clip.samples.count == rate / 2)
            let worst = (0..<clip.samples.count).map { abs(clip.samples[$0] - tone($0) / 4) }.max() ?? 0
            #expect(worst <= tolerance, "max abs diff \(worst)")
        } else {
            // Lossy codecs: compare the signal's energy, not the waveform (encoder delay shifts it).
            let energy = clip.samples.reduce(0) { $0 + $1 * $1 } / Float(clip.samples.count)
            #expect(abs(energy - 0.125 * 0.125 / 2) <= 0.2 * 0.125 * 0.125 / 2, "mean square \(energy)")
        }
    }

    @Test func rejectsNonFiniteSamples() throws {
        #expect(throws: MMAttnError.self) {
            _ = try roundTrip(format: Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT), channels: 1) { f, _ in f == 1234 ? .nan : 0.1 }
        }
        #expect(throws: MMAttnError.self) {
            _ = try roundTrip(format: Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT), channels: 1) { f, _ in f == 3999 ? .infinity : 0.1 }
        }
    }

    @Test func acceptsATruncatedFlacWithAWarning() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mmattn-audio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = dir.appendingPathComponent("full.flac").path, cut = dir.appendingPathComponent("cut.flac").path
        var info = SF_INFO(frames: 0, samplerate: 16_000, channels: 1, format: Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16), sections: 0, seekable: 0)
        let handle = try #require(sf_open(full, Int32(SFM_WRITE), &info))
        let tone = (0..<32_000).map { Float(0.3 * sin(2 * Double.pi * 440 * Double($0) / 16_000)) }
        #expect(sf_writef_float(handle, tone, 32_000) == 32_000)
        sf_close(handle)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))

        let warnings = WarningLog()
        let clip = try Diagnostics.capture({ warnings.append($0) }) { try AudioDecoder.decode(path: cut) }
        #expect(clip.samples.count > 0 && clip.samples.count < 32_000)
        #expect(warnings.messages.count == 1 && warnings.messages.first?.contains("declares 2.00 s") == true)
        // The decoded part is the start of the tone.
        let worst = zip(clip.samples, tone).map { abs($0 - $1) }.max() ?? 1
        #expect(worst <= 1.0 / 16_384)
    }

    @Test func enforcesTheLongestDuration() throws {
        let path = AudioFixtures.clip("arctic_a0007.wav")  // 4.0 s
        #expect(throws: MMAttnError.self) { try AudioDecoder.decode(path: path, maxSeconds: 3.5) }
        #expect(try AudioDecoder.decode(path: path, maxSeconds: 4).samples.count == 64_000)
    }

    @Test func rejectsMissingFilesAndFolders() {
        for path in ["/nonexistent/clip.wav", AudioFixtures.root.path] {
            do {
                _ = try AudioDecoder.decode(path: path)
                Issue.record("\(path) was accepted")
            } catch let error as MMAttnError {
                #expect(error.file == path)
            } catch {
                Issue.record("unexpected error type \(error)")
            }
        }
    }

    /// Every file of the shared bad-inputs corpus, read in place: `valid_*` decode, `either_*` decode or
    /// fail cleanly, the rest fail with an error naming the file. Warnings are collected, not printed.
    @Test(.needsBadInputs) func badInputsCorpus() throws {
        let folder = try #require(AudioFixtures.badInputs)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { !$0.hasSuffix(".md") && !$0.hasSuffix(".py") && !$0.hasSuffix(".sh") }.sorted()
        #expect(names.count >= 20)
        for name in names {
            let path = folder + "/" + name
            let outcome: Result<AudioClip, Error> = Result { try AudioDecoder.decode(path: path) }
            switch outcome {
            case .success(let clip):
                #expect(!name.hasPrefix("valid_") || !clip.samples.isEmpty, "\(name)")
                #expect(name.hasPrefix("valid_") || name.hasPrefix("either_"), "\(name) was accepted (\(clip.samples.count) samples at \(clip.sampleRate) Hz)")
                #expect(clip.samples.allSatisfy { $0.isFinite })
                #expect(AudioDecoder.sampleRateRange.contains(clip.sampleRate))
            case .failure(let error):
                #expect(!name.hasPrefix("valid_"), "\(name) was rejected: \(error)")
                let e = try #require(error as? MMAttnError, "\(name): \(error)")
                #expect(e.file == path)
            }
        }
    }

    // MARK: Resampling

    @Test func resamplesLikePythonSoxr() throws {
        let input = try AudioFixtures.reference("bell_mono_44100.npy")
        let reference = try AudioFixtures.reference("bell_soxr_hq_16000.npy")
        let out = try AudioResampler.resample(input.values, from: 44_100, to: 16_000)
        try #require(out.count == reference.count)  // ceil(6151 · 16000 / 44100) = 2232
        // Same libsoxr algorithm and settings; builds differ (Debian 0.1.3 here, the wheel's 0.1.3-14).
        let diff = prefixMaxAbsDiff(out, reference)
        #expect(diff <= 1e-6, "max abs diff \(diff)")  // measured 0 (same libsoxr); kept for its SIMD paths on other CPUs
    }

    @Test func resamplingKeepsLengthRule() throws {
        let ones = [Float](repeating: 0.25, count: 1001)
        #expect(try AudioResampler.resample(ones, from: 48_000, to: 16_000).count == 334)
        #expect(try AudioResampler.resample(ones, from: 8_000, to: 16_000).count == 2002)
        #expect(try AudioResampler.resample(ones, from: 16_000, to: 16_000) == ones)
        #expect(try AudioResampler.resample([], from: 44_100, to: 16_000).isEmpty)
        #expect(throws: MMAttnError.self) { try AudioResampler.resample(ones, from: 0, to: 16_000) }
    }

    // MARK: Whisper log-mel

    @Test func fastLogAgreesWithLibm() {
        // A geometric sweep over the range the extractors see (1e-10 floor up to large energies).
        var values = (0..<20_000).map { Float(1e-10 * pow(1e18, Double($0) / 20_000)) }
        values += [1, 0.7071067, 0.7071068, 2, 0.5, .ulpOfOne, 1e-10]
        let expected = values.map { Float(Foundation.log(Double($0))) }
        var worst: Float = 0
        for (x, y) in zip(values, expected) { worst = max(worst, abs(FastLog.ln(x) - y) / max(abs(y), 1)) }
        #expect(worst <= 2e-7, "max relative error \(worst)")
        var buffer = values + [0, -1, 1e-20]  // below the floor: clamped
        let peak = buffer.withUnsafeMutableBufferPointer { FastLog.apply($0.baseAddress!, count: $0.count, floor: 1e-10, scale: 1) }
        #expect(buffer.suffix(3).allSatisfy { $0 == FastLog.ln(1e-10) })
        #expect(peak == buffer.max())
    }

    @Test func slaneyBankMatchesWhispersOwnFilters() throws {
        let whisper = try AudioFixtures.reference("whisper_mel_filters_80.npy")  // [80, 201], librosa's float32 bank
        let mine = WhisperFeatureExtractor().melFilters
        #expect(mine.shape == [80, 201])
        let diff = prefixMaxAbsDiff(mine, whisper)
        #expect(diff <= 1e-8, "max abs diff \(diff)")  // measured 1.9e-9
    }

    /// Compare features against a stored slice of transformers' output; frames past the slice must all hold
    /// the reference's floor value.
    private func checkWhisper(_ features: Tensor, reference name: String, case key: String) throws {
        let expected = try #require(try AudioFixtures.summary.fields("whisper")?.fields(key))
        let reference = try AudioFixtures.reference(name)
        let stored = reference.shape[1]
        let head = columns(features, 0..<stored)
        let diff = prefixMaxAbsDiff(head, reference)
        #expect(diff <= 1e-4, "\(key): max abs diff \(diff)")  // measured 2.5e-5 (80 and 128 bins)
        let tail = Float(try expected.double("tail_value", default: .nan))
        let rest = columns(features, stored..<features.shape[1]).values
        // Measured 0; the floor follows the clip's peak, which FFT rounding may move on other CPUs.
        #expect(rest.allSatisfy { abs($0 - tail) <= 1e-6 }, "\(key): tail frames differ from \(tail)")
    }

    @Test func whisper80MatchesTransformers() throws {
        let clip = try AudioDecoder.decode(path: AudioFixtures.clip("arctic_a0007.wav"))
        let features = WhisperFeatureExtractor().features(clip.samples)
        #expect(features.shape == [80, 3000])
        try checkWhisper(features, reference: "whisper80_arctic_a0007_first416.npy", case: "whisper80_arctic_a0007")
    }

    @Test func whisper128MatchesTransformers() throws {
        let clip = try AudioDecoder.decode(path: AudioFixtures.clip("cards-005.wav"))
        let extractor = try WhisperFeatureExtractor(featureSize: 128)
        let features = extractor.features(clip.samples)
        #expect(features.shape == [128, 3000])
        try checkWhisper(features, reference: "whisper128_cards-005_first360.npy", case: "whisper128_cards-005")
    }

    @Test func whisperFullWindowMatchesTransformers() throws {
        // arctic_a0007 repeated to exactly 30 s: the reflect padding at the end reaches real audio.
        let clip = try AudioDecoder.decode(path: AudioFixtures.clip("arctic_a0007.wav")).samples
        let full = Array((0..<8).flatMap { _ in clip }.prefix(480_000))
        let features = WhisperFeatureExtractor().features(full)
        let head = try AudioFixtures.reference("whisper80_tiled30s_head40.npy")
        let tail = try AudioFixtures.reference("whisper80_tiled30s_tail40.npy")
        let first = columns(features, 0..<40), last = columns(features, 2960..<3000)
        let d1 = prefixMaxAbsDiff(first, head)
        let d2 = prefixMaxAbsDiff(last, tail)
        #expect(d1 <= 1e-5, "first 40 frames: max abs diff \(d1)")  // measured 7.2e-7
        #expect(d2 <= 1e-4, "last 40 frames: max abs diff \(d2)")  // measured 5.4e-6
        let expected = try #require(try AudioFixtures.summary.fields("whisper")?.fields("whisper80_tiled30s"))
        let mean = features.values.reduce(0.0) { $0 + Double($1) } / Double(features.count)
        #expect(abs(mean - (try expected.double("mean", default: .nan))) <= 2e-7)  // measured 1.3e-8
    }

    @Test func whisperValidFramesMatchTheAttentionMask() throws {
        let extractor = WhisperFeatureExtractor()
        let counts = try #require(try AudioFixtures.summary.fields("whisper_valid_frames"))
        for key in counts.object.keys {
            let samples = try #require(Int(key))
            #expect(extractor.validFrames(sampleCount: samples) == (try counts.int(key)), "\(samples) samples")
            // CONTRACT.md: the encoder's mean covers min(1500, ceil(samples / 320)) frames = ceil(mel frames / 2).
            #expect((extractor.validFrames(sampleCount: samples) + 1) / 2 == min(1500, (samples + 319) / 320))
        }
    }

    @Test func whisperWindowsCoverLongAudio() throws {
        let clip = try AudioDecoder.decode(path: AudioFixtures.clip("cards-005.wav")).samples
        let long = Array((0..<19).flatMap { _ in clip })  // 1,064,760 samples: 66.5 s
        let extractor = WhisperFeatureExtractor()
        let windows = extractor.windows(long)
        #expect(windows.map(\.validFrames) == [3000, 3000, (1_064_760 - 960_000 + 159) / 160])
        let last = extractor.features(Array(long[960_000...]))
        #expect(windows[2].features.values == last.values)
        #expect(windows[0].features.values == extractor.features(long).values)
        #expect(extractor.windows([]).count == 1)
        // Silence: every value is the floor, (log10(1e-10) + 4) / 4.
        #expect(extractor.features([]).values.allSatisfy { $0 == -1.5 })
    }

    @Test func extractorsGiveTheSameFeaturesFromConcurrentCalls() async throws {
        let clip = try AudioDecoder.decode(path: AudioFixtures.clip("cards-005.wav")).samples
        let whisper = WhisperFeatureExtractor(), ast = ASTFeatureExtractor()
        let expected = (whisper.features(clip).values, ast.features(clip).values)
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<6 {
                group.addTask { whisper.features(clip).values == expected.0 && ast.features(clip).values == expected.1 }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == Array(repeating: true, count: 6))
    }

    @Test func whisperConfigIsReadAndChecked() throws {
        func config(_ text: String) throws -> JSONFields {
            try JSONFields(JSON.parse(Data(text.utf8)), file: "/m/preprocessor_config.json")
        }
        let large = try WhisperFeatureExtractor(config: config(#"{"feature_size": 128, "sampling_rate": 16000, "hop_length": 160, "n_fft": 400, "chunk_length": 30, "padding_value": 0.0, "processor_class": "WhisperProcessor"}"#))
        #expect(large.featureSize == 128 && large.nFrames == 3000 && large.melFilters.shape == [128, 201])
        for bad in [#"{"feature_size": 0}"#, #"{"hop_length": 0}"#, #"{"sampling_rate": 0}"#, #"{"n_fft": 0}"#,
                    #"{"chunk_length": 0}"#, #"{"feature_size": "80"}"#, #"{"hop_length": 1e9}"#] {
            do {
                _ = try WhisperFeatureExtractor(config: config(bad))
                Issue.record("accepted \(bad)")
            } catch let error as MMAttnError {
                #expect(error.file == "/m/preprocessor_config.json", "\(bad): \(error)")
            }
        }
        let defaults = try WhisperFeatureExtractor.load(preprocessorConfig: "/nonexistent/preprocessor_config.json")
        #expect(defaults.featureSize == 80 && defaults.samplingRate == 16_000 && defaults.nSamples == 480_000)
    }

    // MARK: AST kaldi fbank

    @Test func astFbankMatchesTorchaudio() throws {
        let clip = try AudioDecoder.decode(path: AudioFixtures.clip("cards-001.wav"))
        let extractor = try ASTFeatureExtractor(samplingRate: 16_000, numMelBins: 128, maxLength: 1024, doNormalize: false)
        let reference = try AudioFixtures.reference("ast_fbank128_cards-001.npy")  // [108, 128]
        let fbank = extractor.fbank(clip.samples)
        try #require(fbank.shape == reference.shape)
        let diff = prefixMaxAbsDiff(fbank, reference)
        #expect(diff <= 1e-3, "max abs diff \(diff)")  // measured 2.5e-4 on log energies up to ~20 (kept: 4×)
        let features = extractor.features(clip.samples)
        #expect(features.shape == [1024, 128])
        #expect(prefixMaxAbsDiff(features, reference) == diff)
        #expect(features.rows(108..<1024).values.allSatisfy { $0 == 0 })
    }

    @Test func astFeaturesAreNormalizedAndPaddedLikeTransformers() throws {
        let clip = try AudioDecoder.decode(path: AudioFixtures.clip("cards-001.wav"))
        let expected = try #require(try AudioFixtures.summary.fields("ast"))
        let features = ASTFeatureExtractor().features(clip.samples)  // family defaults: 128 bins, 1024 frames
        let first = try AudioFixtures.reference("ast_features128_cards-001_first8.npy")
        let diff = prefixMaxAbsDiff(features, first)
        #expect(diff <= 2e-5, "max abs diff \(diff)")  // measured 1.5e-6
        let padding = Float(try expected.double("normalized_padding_value", default: .nan))
        #expect(features.rows(108..<1024).values.allSatisfy { $0 == padding })

        // max_length 100 cuts the 108 frames.
        let short = try ASTFeatureExtractor(samplingRate: 16_000, maxLength: 100).features(clip.samples)
        let last = try AudioFixtures.reference("ast_features128_max100_cards-001_last8.npy")
        let shortTail = short.rows(92..<100)
        let d2 = prefixMaxAbsDiff(shortTail, last)
        #expect(short.shape == [100, 128] && d2 <= 1e-4, "max abs diff \(d2)")  // measured 8.8e-6

        // Shorter than one 25 ms frame: no frames, so padding only.
        #expect(ASTFeatureExtractor().features([Float](repeating: 0.1, count: 399)).values.allSatisfy { $0 == padding })
    }

    @Test func astConfigIsReadAndChecked() throws {
        func config(_ text: String) throws -> JSONFields {
            try JSONFields(JSON.parse(Data(text.utf8)), file: "/m/preprocessor_config.json")
        }
        let fe = try ASTFeatureExtractor(config: config(#"{"feature_extractor_type": "ASTFeatureExtractor", "feature_size": 1, "num_mel_bins": 64, "max_length": 512, "do_normalize": true, "mean": -4.27, "std": 4.57, "sampling_rate": 16000, "padding_value": 0.0, "return_attention_mask": false}"#))
        #expect(fe.numMelBins == 64 && fe.maxLength == 512 && fe.windowSize == 400 && fe.windowShift == 160 && fe.paddedWindow == 512)
        #expect(fe.features([Float](repeating: 0, count: 16_000)).shape == [512, 64])
        for bad in [#"{"num_mel_bins": 0}"#, #"{"sampling_rate": 0}"#, #"{"max_length": 0}"#, #"{"std": 0}"#, #"{"mean": "x"}"#] {
            do {
                _ = try ASTFeatureExtractor(config: config(bad))
                Issue.record("accepted \(bad)")
            } catch let error as MMAttnError {
                #expect(error.file == "/m/preprocessor_config.json", "\(bad): \(error)")
            }
        }
    }
}
