import Foundation

/// Whisper's log-mel spectrogram, as transformers' `WhisperFeatureExtractor` computes it:
///
/// 1. pad with `paddingValue` (or cut) to `chunkLength · samplingRate` samples (30 s at 16 kHz);
/// 2. centred STFT: reflect-pad `nFFT / 2` samples at both ends, frames of `nFFT` samples every
///    `hopLength`, periodic Hann window, real FFT of size `nFFT`, power |X|²; the last frame is dropped
///    (3000 frames for 30 s);
/// 3. a Slaney mel bank (`featureSize` filters, 0 to 8000 Hz, Slaney area norm), applied band by band
///    (each filter touches only the FFT bins under its triangle);
/// 4. log10(max(x, 1e-10)), floored at (its maximum over the window − 8), then (x + 4) / 4.
///
/// FFTW plans are made once per extractor; `features` may be called from several threads at once.
public final class WhisperFeatureExtractor: Sendable {
    /// Mel bins (`feature_size`).
    public let featureSize: Int
    /// Expected input rate in Hz (`sampling_rate`).
    public let samplingRate: Int
    /// Samples between frames (`hop_length`).
    public let hopLength: Int
    /// FFT and window size (`n_fft`).
    public let nFFT: Int
    /// Window length in seconds (`chunk_length`).
    public let chunkLength: Int
    /// Value the audio is padded with (`padding_value`).
    public let paddingValue: Float
    /// Samples per window: chunkLength · samplingRate.
    public let nSamples: Int
    /// Frames per window: the centred STFT's frame count less the dropped last frame (3000).
    public let nFrames: Int
    /// The mel bank, `[featureSize, nFFT / 2 + 1]`.
    public let melFilters: Tensor

    let window: [Float]  // [nFFT], periodic Hann
    let bank: BandedMelBank
    let fft: RealFFT

    /// Frames transformed per FFTW call.
    static let blockFrames = 64

    /// Extractor with transformers' defaults (the Whisper family's values when a checkpoint has no
    /// `preprocessor_config.json`): 80 mel bins, 16 kHz, hop 160, FFT 400, 30 s windows.
    public convenience init() {
        self.init(checked: 80, samplingRate: 16_000, hopLength: 160, chunkLength: 30, nFFT: 400, paddingValue: 0)
    }

    /// Extractor from a `preprocessor_config.json` (`feature_size`, `sampling_rate`, `hop_length`,
    /// `n_fft`, `chunk_length`, `padding_value`); absent fields take transformers' defaults.
    public convenience init(config: JSONFields) throws {
        let dither = try config.double("dither", default: 0)
        if dither != 0 {
            Diagnostics.warn("\(config.file): \"dither\" is \(dither); mmattn computes features without dithering")
        }
        do {
            try self.init(featureSize: config.int("feature_size", default: 80, in: 1...1024),
                          samplingRate: config.int("sampling_rate", default: 16_000, in: AudioDecoder.sampleRateRange),
                          hopLength: config.int("hop_length", default: 160, in: 1...65_536),
                          chunkLength: config.int("chunk_length", default: 30, in: 1...600),
                          nFFT: config.int("n_fft", default: 400, in: 2...65_536),
                          paddingValue: Float(config.double("padding_value", default: 0)))
        } catch let error as MMAttnError {
            throw error.inFile(config.file)
        }
    }

    /// Extractor from a `preprocessor_config.json` file, or the family defaults when the file does not exist.
    public static func load(preprocessorConfig path: String) throws -> WhisperFeatureExtractor {
        guard FileManager.default.fileExists(atPath: path) else { return WhisperFeatureExtractor() }
        return try WhisperFeatureExtractor(config: JSONFields.load(path))
    }

    /// Extractor with explicit settings; throws when one is out of range.
    public convenience init(featureSize: Int, samplingRate: Int = 16_000, hopLength: Int = 160, chunkLength: Int = 30,
                            nFFT: Int = 400, paddingValue: Float = 0) throws {
        guard featureSize >= 1, featureSize <= 1024 else {
            throw MMAttnError("feature_size is \(featureSize); it must be 1 to 1024 mel bins")
        }
        guard AudioDecoder.sampleRateRange.contains(samplingRate) else {
            throw MMAttnError("sampling_rate is \(samplingRate); it must be \(AudioDecoder.sampleRateRange.lowerBound) to \(AudioDecoder.sampleRateRange.upperBound) Hz")
        }
        guard nFFT >= 2, nFFT <= 65_536 else { throw MMAttnError("n_fft is \(nFFT); it must be 2 to 65536") }
        guard hopLength >= 1, hopLength <= nFFT else {
            throw MMAttnError("hop_length is \(hopLength); it must be 1 to n_fft (\(nFFT))")
        }
        guard chunkLength >= 1, chunkLength <= 600 else {
            throw MMAttnError("chunk_length is \(chunkLength); it must be 1 to 600 seconds")
        }
        guard paddingValue.isFinite else { throw MMAttnError("padding_value must be a finite number") }
        let samples = chunkLength * samplingRate
        guard samples > nFFT / 2 else {
            throw MMAttnError("a window of chunk_length · sampling_rate = \(samples) samples is too short for n_fft \(nFFT)")
        }
        // torch.stft with center=True: 1 + (samples + 2·(nFFT/2) − nFFT) / hop frames, less the last one.
        let frames = (samples + 2 * (nFFT / 2) - nFFT) / hopLength
        guard frames >= 1 else {
            throw MMAttnError("a window of \(samples) samples gives no frames with n_fft \(nFFT) and hop_length \(hopLength)")
        }
        guard samples <= 50_000_000, frames * featureSize <= 50_000_000 else {
            throw MMAttnError("the window (\(samples) samples, \(frames) frames × \(featureSize) mel bins) is too large")
        }
        self.init(checked: featureSize, samplingRate: samplingRate, hopLength: hopLength, chunkLength: chunkLength,
                  nFFT: nFFT, paddingValue: paddingValue)
    }

    /// Settings already checked by the initialisers above.
    private init(checked featureSize: Int, samplingRate: Int, hopLength: Int, chunkLength: Int, nFFT: Int,
                 paddingValue: Float) {
        let samples = chunkLength * samplingRate
        self.featureSize = featureSize
        self.samplingRate = samplingRate
        self.hopLength = hopLength
        self.nFFT = nFFT
        self.chunkLength = chunkLength
        self.paddingValue = paddingValue
        self.nSamples = samples
        self.nFrames = (samples + 2 * (nFFT / 2) - nFFT) / hopLength
        self.melFilters = MelFilters.slaney(melCount: featureSize, fftBins: nFFT / 2 + 1, sampleRate: samplingRate,
                                            minFrequency: 0, maxFrequency: 8000)
        self.bank = BandedMelBank(melFilters)
        self.window = (0..<nFFT).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(nFFT))) }
        self.fft = RealFFT(size: nFFT, blockFrames: Self.blockFrames)
    }

    /// Mel frames that cover real audio for a window of `sampleCount` samples: ceil(sampleCount / hop),
    /// at most `nFrames` — the frames transformers' attention mask marks (3000 for a full window). After
    /// Whisper's stride-2 convolution that is min(1500, ceil(sampleCount / 320)) encoder frames at 16 kHz.
    public func validFrames(sampleCount: Int) -> Int {
        min(nFrames, (max(0, sampleCount) + hopLength - 1) / hopLength)
    }

    /// The log-mel features of one window: `samples` padded or cut to `nSamples`. Shape `[featureSize, nFrames]`.
    public func features(_ samples: [Float]) -> Tensor {
        samples.withUnsafeBufferPointer { features($0) }
    }

    /// Features of consecutive `chunkLength` windows covering all of `samples` (at least one window),
    /// each with the number of its frames that cover real audio.
    public func windows(_ samples: [Float]) -> [(features: Tensor, validFrames: Int)] {
        samples.withUnsafeBufferPointer { all in
            stride(from: 0, to: max(all.count, 1), by: nSamples).map { start in
                let part = UnsafeBufferPointer(rebasing: all[start..<min(start + nSamples, all.count)])
                return (features(part), validFrames(sampleCount: part.count))
            }
        }
    }

    /// `features` on a buffer.
    public func features(_ samples: UnsafeBufferPointer<Float>) -> Tensor {
        let count = min(samples.count, nSamples)
        let bins = nFFT / 2 + 1
        // Frames whose samples are all padding zeros have zero power; skip their FFTs. Frame t spans
        // window samples [t·hop − nFFT/2, t·hop − nFFT/2 + nFFT); the reflection at the window's end
        // reaches real audio only when the audio ends within nFFT/2 + 1 samples of it.
        var activeFrames = nFrames
        if paddingValue == 0, count + nFFT / 2 + 1 <= nSamples {
            activeFrames = min(nFrames, (count + nFFT / 2 + hopLength - 1) / hopLength)
        }
        let out = Tensor(zeros: [featureSize, nFrames])  // [featureSize, nFrames]: mel energies, then log-mel
        let buffers = RealFFT.Buffers(fft)
        let power = UnsafeMutablePointer<Float>.allocate(capacity: bins * Self.blockFrames)  // [bins, block]
        defer { power.deallocate() }
        window.withUnsafeBufferPointer { w in
            var t0 = 0
            while t0 < activeFrames {
                let n = min(Self.blockFrames, activeFrames - t0)
                for f in 0..<n {
                    frame(t0 + f, base: samples.baseAddress, count: count, length: nSamples, padding: paddingValue, window: w,
                          into: buffers.frames + f * nFFT)
                }
                fft.powerSpectra(buffers, count: n, into: power)
                bank.apply(power, frames: n, powerStride: Self.blockFrames, into: out.data + t0, outStride: nFrames)
                t0 += n
            }
        }
        logCompress(out, activeFrames: activeFrames)
        return out
    }

    /// Frame `t` of the centred STFT, times the window, over a signal of `length` samples reflected at
    /// its two ends (numpy/torch "reflect": the edge sample is not repeated): sample j is `base[j]`
    /// for j < `count`, `padding` after it (a padded window's tail). One 30 s window reflects at its
    /// padded end; long-form features at the signal's own end (`count` = `length`).
    @inline(__always)
    func frame(_ t: Int, base: UnsafePointer<Float>?, count: Int, length: Int, padding: Float,
               window w: UnsafeBufferPointer<Float>, into frame: UnsafeMutablePointer<Float>) {
        let first = t * hopLength - nFFT / 2
        if first >= 0, first <= count - nFFT, let base {
            let x = base + first
            for i in 0..<nFFT { frame[i] = x[i] * w[i] }
            return
        }
        let last = length - 1
        for i in 0..<nFFT {
            var j = first + i
            if j < 0 { j = -j } else if j > last { j = 2 * last - j }
            frame[i] = (j < count ? base![j] : padding) * w[i]
        }
    }

    /// log10(max(x, 1e-10)), then max(x, max − 8), then (x + 4) / 4, in place. Frames past `activeFrames`
    /// hold zero energy, so their value is the floor.
    private func logCompress(_ out: Tensor, activeFrames: Int) {
        let log10e: Float = 0.434294481903251827651
        let p = out.data
        var peak = -Float.infinity
        for m in 0..<featureSize {
            peak = max(peak, FastLog.apply(p + m * nFrames, count: activeFrames, floor: 1e-10, scale: log10e))
        }
        let silent = FastLog.ln(1e-10) * log10e
        if activeFrames < nFrames { peak = max(peak, silent) }
        let floor = peak - 8
        for m in 0..<featureSize {
            let row = p + m * nFrames
            for t in 0..<activeFrames { row[t] = (max(row[t], floor) + 4) / 4 }
            let rest = (max(silent, floor) + 4) / 4
            for t in activeFrames..<nFrames { row[t] = rest }
        }
    }
}
