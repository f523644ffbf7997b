import Foundation

// Whisper's long-form features: transformers' `WhisperFeatureExtractor(audio, truncation=False,
// padding="longest")` on audio longer than one window, which `generate(..., return_timestamps=True)`
// then cuts into windows `features[:, seek : seek + min(total - seek, nFrames)]`, each padded with 0.0
// to `nFrames` frames.
//
// The features are the log-mel of the whole unpadded signal: a centred STFT (reflect padding at the
// signal's two ends) whose last frame is dropped, so `sampleCount / hopLength` frames; log10 floored at
// 1e-10, then at (the maximum over the WHOLE signal − 8), then (x + 4) / 4. A frame depends only on the
// `nFFT` samples around it, so a window can be computed from a buffer of samples covering it once the
// signal's peak is known. Frames are always computed in the same blocks of `blockFrames` (64), aligned
// on multiples of 64 from the first frame, the last block holding what is left: every path (whole
// signal, one window, the streamed first pass) runs the same FFTW plan on the same frame, so the
// values are bit-identical whichever path computed them.

extension WhisperFeatureExtractor {
    /// Frames of the long-form features of `sampleCount` samples: `sampleCount / hopLength` (torch's
    /// centred STFT gives one more, which transformers drops; its attention mask has the same length).
    public func longFormFrameCount(sampleCount: Int) -> Int { max(0, sampleCount) / hopLength }

    /// Fewest samples the long-form features accept: more than `nFFT / 2`, as torch's reflect padding
    /// needs (201 at Whisper's settings).
    public var longFormMinimumSamples: Int { nFFT / 2 + 1 }

    /// Throws unless `sampleCount` samples give long-form features.
    func checkLongForm(sampleCount: Int) throws {
        guard sampleCount >= longFormMinimumSamples else {
            throw MMAttnError("\(sampleCount) samples are too few for Whisper's features: at least \(longFormMinimumSamples) are needed (n_fft / 2 + 1)")
        }
    }

    /// The long-form features of all of `samples` (no padding, no cut): `[featureSize, sampleCount / hopLength]`,
    /// equal to transformers' `WhisperFeatureExtractor(samples, truncation=False, padding="longest")`.
    /// Memory grows with the audio (`featureSize · 4` bytes per 10 ms); `LongFormMel` serves windows
    /// of the same values in bounded memory.
    public func longFormFeatures(_ samples: [Float]) throws -> Tensor {
        try checkLongForm(sampleCount: samples.count)
        let frames = longFormFrameCount(sampleCount: samples.count)
        let out = Tensor(zeros: [featureSize, frames])  // log10 mel energies, then the features
        let scratch = LogMelScratch(self)
        var peak = -Float.infinity
        samples.withUnsafeBufferPointer { all in
            for t0 in stride(from: 0, to: frames, by: Self.blockFrames) {
                let n = min(Self.blockFrames, frames - t0)
                peak = max(peak, logMelBlock(t0, count: n, samples: all, offset: 0, sampleCount: all.count, scratch: scratch))
                for m in 0..<featureSize { (out.data + m * frames + t0).update(from: scratch.mel + m * Self.blockFrames, count: n) }
            }
        }
        let floor = peak - 8
        let p = out.data
        for i in 0..<out.count { p[i] = (max(p[i], floor) + 4) / 4 }
        return out
    }

    /// The largest log10 mel energy (floored at 1e-10) over all long-form frames of `samples`: the
    /// `peak` that `longFormWindow` needs.
    public func longFormPeak(_ samples: UnsafeBufferPointer<Float>) throws -> Float {
        try checkLongForm(sampleCount: samples.count)
        let frames = longFormFrameCount(sampleCount: samples.count)
        let scratch = LogMelScratch(self)
        var peak = -Float.infinity
        for t0 in stride(from: 0, to: frames, by: Self.blockFrames) {
            peak = max(peak, logMelBlock(t0, count: min(Self.blockFrames, frames - t0), samples: samples, offset: 0,
                                         sampleCount: samples.count, scratch: scratch))
        }
        return peak
    }

    /// One window of the long-form features of a signal of `sampleCount` samples: frames
    /// `seek ..< seek + frames`, `frames = min(frameCount − seek, nFrames)`, as `[featureSize, nFrames]`
    /// with zeros after the first `frames` columns (transformers pads windows with 0.0, not the floor).
    ///
    /// `samples` holds the signal's samples `offset ..< offset + samples.count`, which must cover
    /// `longFormSampleRange(seek:sampleCount:)`; `peak` is `longFormPeak` of the whole signal.
    /// The result equals the same columns of `longFormFeatures` bit for bit. Requires
    /// `0 ≤ seek < frameCount` and `sampleCount ≥ longFormMinimumSamples`.
    public func longFormWindow(seek: Int, peak: Float, samples: UnsafeBufferPointer<Float>, offset: Int,
                               sampleCount: Int, scratch: LogMelScratch? = nil) -> (features: Tensor, frames: Int) {
        let frameCount = longFormFrameCount(sampleCount: sampleCount)
        precondition(sampleCount >= longFormMinimumSamples && seek >= 0 && seek < frameCount,
                     "longFormWindow: seek \(seek) outside 0..<\(frameCount) frames")
        let frames = min(frameCount - seek, nFrames)
        let blocks = longFormBlocks(covering: seek..<(seek + frames), frameCount: frameCount)
        let needed = longFormSampleRange(frames: blocks, sampleCount: sampleCount)
        precondition(offset <= needed.lowerBound && offset + samples.count >= needed.upperBound,
                     "longFormWindow: samples \(offset)..<\(offset + samples.count) do not cover \(needed)")
        let scratch = scratch ?? LogMelScratch(self)
        let out = Tensor(zeros: [featureSize, nFrames])
        let floor = peak - 8
        for t0 in stride(from: blocks.lowerBound, to: blocks.upperBound, by: Self.blockFrames) {
            let n = min(Self.blockFrames, blocks.upperBound - t0)
            _ = logMelBlock(t0, count: n, samples: samples, offset: offset, sampleCount: sampleCount, scratch: scratch)
            let from = max(t0, seek), to = min(t0 + n, seek + frames)
            for m in 0..<featureSize {
                let src = scratch.mel + m * Self.blockFrames - t0, dst = out.data + m * nFrames - seek
                for t in from..<to { dst[t] = (max(src[t], floor) + 4) / 4 }
            }
        }
        return (out, frames)
    }

    /// The samples the window at `seek` reads, for a signal of `sampleCount` samples.
    public func longFormSampleRange(seek: Int, sampleCount: Int) -> Range<Int> {
        let frameCount = longFormFrameCount(sampleCount: sampleCount)
        let frames = min(frameCount - seek, nFrames)
        return longFormSampleRange(frames: longFormBlocks(covering: seek..<(seek + frames), frameCount: frameCount),
                                   sampleCount: sampleCount)
    }

    /// The whole blocks of frames that cover `frames`.
    func longFormBlocks(covering frames: Range<Int>, frameCount: Int) -> Range<Int> {
        let b = Self.blockFrames
        return (frames.lowerBound / b * b)..<min(frameCount, (frames.upperBound + b - 1) / b * b)
    }

    /// The samples frames `frames` read (the reflection at the start reads up to sample nFFT / 2).
    func longFormSampleRange(frames: Range<Int>, sampleCount: Int) -> Range<Int> {
        guard let last = frames.last else { return 0..<0 }
        let lower = max(0, frames.lowerBound * hopLength - nFFT / 2)
        return lower..<min(sampleCount, max(last * hopLength + nFFT - nFFT / 2, nFFT / 2 + 1))
    }

    /// Samples a streamed first pass must hold, counted from the signal's start, before the block of
    /// frames starting at `t0` can be computed without knowing where the signal ends: the block's
    /// samples, and enough that the signal surely has all its frames (`(t0 + blockFrames) · hop`).
    func longFormSamplesBeforeBlock(_ t0: Int) -> Int {
        let last = t0 + Self.blockFrames - 1
        return max(last * hopLength + nFFT - nFFT / 2, nFFT / 2 + 1, (last + 1) * hopLength)
    }

    /// log10(max(mel, 1e-10)) of frames `t0 ..< t0 + count` into `scratch.mel` (`[featureSize, blockFrames]`);
    /// returns their largest value. `t0` is a multiple of `blockFrames` and `count` is `blockFrames`
    /// unless this is the signal's last block. `samples` holds samples `offset ..< offset + samples.count`
    /// of a signal of `sampleCount` samples (`Int.max` while its end is not known: then no frame may
    /// reach it).
    func logMelBlock(_ t0: Int, count: Int, samples: UnsafeBufferPointer<Float>, offset: Int, sampleCount: Int,
                     scratch: LogMelScratch) -> Float {
        let base = samples.baseAddress! - offset  // sample j at base[j]
        window.withUnsafeBufferPointer { w in
            for f in 0..<count {
                frame(t0 + f, base: base, count: sampleCount, length: sampleCount, padding: 0, window: w,
                      into: scratch.buffers.frames + f * nFFT)
            }
        }
        fft.powerSpectra(scratch.buffers, count: count, into: scratch.power)
        bank.apply(scratch.power, frames: count, powerStride: Self.blockFrames, into: scratch.mel, outStride: Self.blockFrames)
        let log10e: Float = 0.434294481903251827651
        var peak = -Float.infinity
        for m in 0..<featureSize {
            peak = max(peak, FastLog.apply(scratch.mel + m * Self.blockFrames, count: count, floor: 1e-10, scale: log10e))
        }
        return peak
    }
}

/// Working memory for computing blocks of Whisper log-mel frames: FFTW buffers, the power spectra and
/// the mel energies of one block. One per thread.
public final class LogMelScratch {
    let buffers: RealFFT.Buffers
    let power: UnsafeMutablePointer<Float>  // [fftBins, blockFrames]
    let mel: UnsafeMutablePointer<Float>    // [featureSize, blockFrames]

    public init(_ extractor: WhisperFeatureExtractor) {
        buffers = RealFFT.Buffers(extractor.fft)
        power = .allocate(capacity: (extractor.nFFT / 2 + 1) * WhisperFeatureExtractor.blockFrames)
        mel = .allocate(capacity: extractor.featureSize * WhisperFeatureExtractor.blockFrames)
    }

    deinit {
        power.deallocate()
        mel.deallocate()
    }
}
