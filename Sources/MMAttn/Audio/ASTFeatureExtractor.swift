import Foundation

/// The Audio Spectrogram Transformer's input, as transformers' `ASTFeatureExtractor` computes it with
/// torchaudio: `torchaudio.compliance.kaldi.fbank(waveform, sample_frequency=samplingRate,
/// window_type="hanning", num_mel_bins=numMelBins)` with every other option at its default, then zero
/// rows appended (or rows cut) to `maxLength`, then `(x − mean) / (2 · std)` when `doNormalize`.
///
/// The kaldi options in force: frames of 25 ms every 10 ms, only frames that fit whole
/// (`snip_edges`), no dither, each frame's mean removed, pre-emphasis 0.97 (the first sample uses
/// itself as its predecessor), symmetric Hann window, zero-padded to the next power of two (512 at
/// 16 kHz), power spectrum, kaldi mel bank from 20 Hz to Nyquist, natural log floored at the float
/// epsilon (1.19e-7); no energy column. The waveform is used as given, in [-1, 1]: transformers does not
/// scale it to 16-bit integers (the original AST recipe did).
///
/// Audio shorter than one frame gives no frames, so the features are all padding (torchaudio refuses
/// such input; Kaldi itself outputs no frames).
public final class ASTFeatureExtractor: Sendable {
    /// Expected input rate in Hz (`sampling_rate`).
    public let samplingRate: Int
    /// Mel bins (`num_mel_bins`).
    public let numMelBins: Int
    /// Frames after padding or cutting (`max_length`).
    public let maxLength: Int
    /// Whether `(x − mean) / (2 · std)` is applied (`do_normalize`).
    public let doNormalize: Bool
    /// Normalisation mean and standard deviation (`mean`, `std`).
    public let mean: Double, std: Double
    /// Frame length and shift in samples, and the FFT size (next power of two of the frame length).
    public let windowSize: Int, windowShift: Int, paddedWindow: Int
    /// The kaldi mel bank, `[numMelBins, paddedWindow / 2 + 1]` (Nyquist column zero).
    public let melFilters: Tensor

    private let window: [Float]  // [windowSize], symmetric Hann
    private let bank: BandedMelBank
    private let fft: RealFFT

    /// Kaldi's pre-emphasis coefficient.
    static let preemphasis: Float = 0.97
    /// Frames transformed per FFTW call.
    private static let blockFrames = 64

    /// Extractor with transformers' defaults (the AST family's values when a checkpoint has no
    /// `preprocessor_config.json`): 16 kHz, 128 mel bins, 1024 frames, AudioSet mean −4.2677393 and
    /// std 4.5689974.
    public convenience init() {
        self.init(checked: 16_000, numMelBins: 128, maxLength: 1024, doNormalize: true, mean: -4.2677393, std: 4.5689974)
    }

    /// Extractor from a `preprocessor_config.json` (`sampling_rate`, `num_mel_bins`, `max_length`,
    /// `do_normalize`, `mean`, `std`); absent fields take transformers' defaults.
    public convenience init(config: JSONFields) throws {
        do {
            try self.init(samplingRate: config.int("sampling_rate", default: 16_000, in: AudioDecoder.sampleRateRange),
                          numMelBins: config.int("num_mel_bins", default: 128, in: 4...1024),
                          maxLength: config.int("max_length", default: 1024, in: 1...100_000),
                          doNormalize: config.bool("do_normalize", default: true),
                          mean: config.double("mean", default: -4.2677393),
                          std: config.double("std", default: 4.5689974))
        } catch let error as MMAttnError {
            throw error.inFile(config.file)
        }
    }

    /// Extractor from a `preprocessor_config.json` file, or the family defaults when the file does not exist.
    public static func load(preprocessorConfig path: String) throws -> ASTFeatureExtractor {
        guard FileManager.default.fileExists(atPath: path) else { return ASTFeatureExtractor() }
        return try ASTFeatureExtractor(config: JSONFields.load(path))
    }

    /// Extractor with explicit settings; throws when one is out of range.
    public convenience init(samplingRate: Int, numMelBins: Int = 128, maxLength: Int = 1024, doNormalize: Bool = true,
                            mean: Double = -4.2677393, std: Double = 4.5689974) throws {
        guard AudioDecoder.sampleRateRange.contains(samplingRate) else {
            throw MMAttnError("sampling_rate is \(samplingRate); it must be \(AudioDecoder.sampleRateRange.lowerBound) to \(AudioDecoder.sampleRateRange.upperBound) Hz")
        }
        guard (4...1024).contains(numMelBins) else {
            throw MMAttnError("num_mel_bins is \(numMelBins); kaldi fbank needs 4 to 1024 mel bins")
        }
        guard (1...100_000).contains(maxLength), maxLength * numMelBins <= 50_000_000 else {
            throw MMAttnError("max_length is \(maxLength); it must be 1 to 100000 frames")
        }
        guard !doNormalize || (std > 0 && std.isFinite && mean.isFinite) else {
            throw MMAttnError("std is \(std); normalisation needs a positive std")
        }
        self.init(checked: samplingRate, numMelBins: numMelBins, maxLength: maxLength, doNormalize: doNormalize,
                  mean: mean, std: std)
    }

    /// Settings already checked by the initialisers above.
    private init(checked samplingRate: Int, numMelBins: Int, maxLength: Int, doNormalize: Bool, mean: Double, std: Double) {
        self.samplingRate = samplingRate
        self.numMelBins = numMelBins
        self.maxLength = maxLength
        self.doNormalize = doNormalize
        self.mean = mean
        self.std = std
        // Kaldi's milliseconds-to-samples conversion, truncating as torchaudio does.
        windowShift = Int(Double(samplingRate) * 10.0 * 0.001)
        windowSize = Int(Double(samplingRate) * 25.0 * 0.001)
        var padded = 1
        while padded < windowSize { padded *= 2 }
        paddedWindow = padded
        melFilters = MelFilters.kaldi(melCount: numMelBins, paddedWindow: padded, sampleRate: Double(samplingRate),
                                      lowFrequency: 20, highFrequency: Double(samplingRate) / 2)
        bank = BandedMelBank(melFilters)
        let size = windowSize
        window = (0..<size).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(size - 1))) }
        fft = RealFFT(size: padded, blockFrames: Self.blockFrames)
    }

    /// Frames kaldi fbank gives for `sampleCount` samples: 1 + (count − windowSize) / windowShift, or 0.
    public func frameCount(sampleCount: Int) -> Int {
        sampleCount < windowSize ? 0 : 1 + (sampleCount - windowSize) / windowShift
    }

    /// The model input: log-mel fbank padded with zero rows or cut to `maxLength`, normalised when
    /// `doNormalize`. Shape `[maxLength, numMelBins]`.
    public func features(_ samples: [Float]) -> Tensor {
        let out = Tensor(zeros: [maxLength, numMelBins])  // [maxLength, numMelBins]
        samples.withUnsafeBufferPointer { fbank($0, frames: min(maxLength, frameCount(sampleCount: $0.count)), into: out.data) }
        if doNormalize {
            let m = Float(mean), scale = Float(std * 2)
            let p = out.data
            for i in 0..<out.count { p[i] = (p[i] - m) / scale }
        }
        return out
    }

    /// kaldi fbank alone, as `torchaudio.compliance.kaldi.fbank` returns it (no padding, no
    /// normalisation). Shape `[frameCount(sampleCount: samples.count), numMelBins]`.
    public func fbank(_ samples: [Float]) -> Tensor {
        let frames = frameCount(sampleCount: samples.count)
        let out = Tensor(zeros: [frames, numMelBins])  // [frames, numMelBins]
        samples.withUnsafeBufferPointer { fbank($0, frames: frames, into: out.data) }
        return out
    }

    /// Mean of `count` floats, summed in four single-precision lanes (torch sums in float too).
    private static func mean(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD4<Float>(repeating: 0)
        var i = 0
        while i + 4 <= count {
            lanes += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<Float>.self)
            i += 4
        }
        var sum = lanes.sum()
        while i < count {
            sum += x[i]
            i += 1
        }
        return sum / Float(count)
    }

    /// Write `frames` rows of log-mel energies to `out` (`[frames, numMelBins]`).
    private func fbank(_ samples: UnsafeBufferPointer<Float>, frames: Int, into out: UnsafeMutablePointer<Float>) {
        guard frames > 0, let source = samples.baseAddress else { return }
        let bins = paddedWindow / 2 + 1
        let buffers = RealFFT.Buffers(fft)
        let block = Self.blockFrames
        let power = UnsafeMutablePointer<Float>.allocate(capacity: bins * block)  // [bins, block]
        let mel = UnsafeMutablePointer<Float>.allocate(capacity: numMelBins * block)  // [numMelBins, block]
        defer { power.deallocate(); mel.deallocate() }
        let k = Self.preemphasis
        window.withUnsafeBufferPointer { w in
            var t0 = 0
            while t0 < frames {
                let n = min(block, frames - t0)
                for f in 0..<n {
                    let x = source + (t0 + f) * windowShift
                    let frame = buffers.frames + f * paddedWindow
                    let mean = Self.mean(x, count: windowSize)
                    // Pre-emphasis on the mean-removed frame, the first sample against itself.
                    let first = x[0] - mean
                    frame[0] = (first - k * first) * w[0]
                    for i in 1..<windowSize { frame[i] = ((x[i] - mean) - k * (x[i - 1] - mean)) * w[i] }
                    (frame + windowSize).update(repeating: 0, count: paddedWindow - windowSize)
                }
                fft.powerSpectra(buffers, count: n, into: power)
                // out[t0..<t0+n, :] = log(max(melFilters · power, epsilon))ᵀ
                bank.apply(power, frames: n, powerStride: block, into: mel, outStride: block)
                let rows = out + t0 * numMelBins
                for f in 0..<n {
                    for m in 0..<numMelBins { rows[f * numMelBins + m] = mel[m * block + f] }
                }
                _ = FastLog.apply(rows, count: n * numMelBins, floor: .ulpOfOne, scale: 1)
                t0 += n
            }
        }
    }
}
