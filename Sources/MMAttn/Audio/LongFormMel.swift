import Foundation

/// Whisper's long-form log-mel features served one window at a time, in memory that does not grow
/// with the audio: the windows transformers' `generate(..., return_timestamps=True)` cuts from
/// `WhisperFeatureExtractor(audio, truncation=False, padding="longest")` (see `longFormFeatures`), bit
/// for bit equal to slicing those whole features.
///
/// Two passes. The first (in `init`) computes every frame once to find the frame count and the
/// signal's peak log-mel (the −8 floor is relative to it) and keeps nothing. Then `window(at:)` computes
/// the window at `seek` from the samples around it. From a file (`init(path:)`, `init(stream:)`) the
/// samples are read again through `AudioStream`, keeping only a rolling buffer of one window of
/// samples and one read (2.3 MB at Whisper's settings) besides the stream's own; from samples in memory
/// (`init(samples:)`) nothing is copied.
///
/// Windows are cheapest at non-decreasing `seek` (the order generation asks for them); a `seek`
/// before the buffered samples reads the file again from the start. One thread at a time.
public final class LongFormMel {
    public let extractor: WhisperFeatureExtractor
    /// Samples in the signal (at `extractor.samplingRate`).
    public let sampleCount: Int
    /// Frames of the long-form features: `sampleCount / hopLength`.
    public let frameCount: Int
    /// The largest log10 mel energy over all frames; the floor is `peak − 8`.
    public let peak: Float
    /// Frames in a window (3000): the width of `window(at:)`'s features.
    public var windowFrames: Int { extractor.nFrames }

    private enum Source {
        case samples([Float])
        case stream(AudioStream)
    }
    private let source: Source
    private let scratch: LogMelScratch
    /// Stream only: samples `bufferStart ..< bufferStart + buffer.count` of the signal.
    private var buffer: [Float] = []
    private var bufferStart = 0
    private var streamRewound = false
    /// Largest capacity the sample buffer reached, in samples (for tests of bounded memory).
    private(set) var peakBufferCapacity = 0
    /// Samples read from the stream per call.
    static let readSamples = 1 << 16

    /// Long-form features of mono samples at `extractor.samplingRate`.
    public init(samples: [Float], extractor: WhisperFeatureExtractor = WhisperFeatureExtractor()) throws {
        self.extractor = extractor
        source = .samples(samples)
        scratch = LogMelScratch(extractor)
        sampleCount = samples.count
        frameCount = extractor.longFormFrameCount(sampleCount: samples.count)
        peak = try samples.withUnsafeBufferPointer { try extractor.longFormPeak($0) }
    }

    /// Long-form features of an audio file, read at `extractor.samplingRate` as `AudioStream` reads it
    /// (the samples `AudioDecoder` + resampling give); errors name the file.
    public convenience init(path: String, extractor: WhisperFeatureExtractor = WhisperFeatureExtractor(),
                            maxSeconds: Double = AudioStream.defaultMaxSeconds) throws {
        try self.init(stream: AudioStream(path: path, sampleRate: extractor.samplingRate, maxSeconds: maxSeconds),
                      extractor: extractor)
    }

    /// Long-form features of a stream at `extractor.samplingRate`, read from its start (the first pass
    /// runs here; the stream is rewound for the windows).
    public init(stream: AudioStream, extractor: WhisperFeatureExtractor = WhisperFeatureExtractor()) throws {
        guard stream.sampleRate == extractor.samplingRate else {
            throw MMAttnError("the stream gives \(stream.sampleRate) Hz audio; the features need \(extractor.samplingRate) Hz", file: stream.path)
        }
        let scratch = LogMelScratch(extractor)
        if stream.position > 0 || stream.isAtEnd { try stream.rewind() }

        // First pass: each block of frames as soon as its samples are in, then its samples are dropped.
        let blockFrames = WhisperFeatureExtractor.blockFrames
        var peak = -Float.infinity
        var t0 = 0
        var buffer: [Float] = []
        buffer.reserveCapacity(extractor.longFormSamplesBeforeBlock(0) + Self.readSamples)
        var start = 0
        var capacity = 0
        while try Self.append(from: stream, to: &buffer) > 0 {
            buffer.withUnsafeBufferPointer { samples in
                while extractor.longFormSamplesBeforeBlock(t0) <= start + samples.count {
                    peak = max(peak, extractor.logMelBlock(t0, count: blockFrames, samples: samples, offset: start,
                                                           sampleCount: .max, scratch: scratch))
                    t0 += blockFrames
                }
            }
            let keep = max(0, t0 * extractor.hopLength - extractor.nFFT / 2)
            if keep > start {
                buffer.removeFirst(min(keep - start, buffer.count))
                start = keep
            }
            capacity = max(capacity, buffer.capacity)
        }
        let count = stream.count ?? start + buffer.count
        try attributing(to: stream.path) { try extractor.checkLongForm(sampleCount: count) }
        let frames = extractor.longFormFrameCount(sampleCount: count)
        buffer.withUnsafeBufferPointer { samples in
            while t0 < frames {  // the last blocks, which may reach the signal's end
                peak = max(peak, extractor.logMelBlock(t0, count: min(blockFrames, frames - t0), samples: samples,
                                                       offset: start, sampleCount: count, scratch: scratch))
                t0 += blockFrames
            }
        }
        self.extractor = extractor
        self.scratch = scratch
        source = .stream(stream)
        sampleCount = count
        frameCount = frames
        self.peak = peak
        peakBufferCapacity = capacity
    }

    /// The window at `seek` (0 ≤ seek < frameCount): features `[featureSize, windowFrames]` holding frames
    /// `seek ..< seek + frames` of the long-form features, then zeros; `frames = min(frameCount − seek, windowFrames)`.
    public func window(at seek: Int) throws -> (features: Tensor, frames: Int) {
        guard seek >= 0, seek < frameCount else {
            throw MMAttnError("no window starts at frame \(seek): the features have \(frameCount) frames")
        }
        switch source {
        case .samples(let samples):
            return samples.withUnsafeBufferPointer {
                extractor.longFormWindow(seek: seek, peak: peak, samples: $0, offset: 0, sampleCount: sampleCount, scratch: scratch)
            }
        case .stream(let stream):
            let needed = extractor.longFormSampleRange(seek: seek, sampleCount: sampleCount)
            if !streamRewound || needed.lowerBound < bufferStart {
                try stream.rewind()
                // A window's blocks of frames and their samples, and one read.
                let blocks = (extractor.nFrames + 2 * WhisperFeatureExtractor.blockFrames) * extractor.hopLength + extractor.nFFT
                buffer.reserveCapacity(blocks + Self.readSamples)
                buffer.removeAll(keepingCapacity: true)
                bufferStart = 0
                streamRewound = true
            }
            if needed.lowerBound > bufferStart {
                buffer.removeFirst(min(needed.lowerBound - bufferStart, buffer.count))
                bufferStart = needed.lowerBound
            }
            while bufferStart + buffer.count < needed.upperBound {
                let position = stream.position
                if try Self.append(from: stream, to: &buffer) == 0 {
                    throw MMAttnError("the file changed while it was being read: it ended after \(position) samples, the first pass read \(sampleCount)", file: stream.path)
                }
                if position < bufferStart {  // samples before the window (a seek past the buffer's end)
                    let skip = min(bufferStart - position, buffer.count)
                    buffer.removeFirst(skip)
                }
            }
            peakBufferCapacity = max(peakBufferCapacity, buffer.capacity)
            return buffer.withUnsafeBufferPointer {
                extractor.longFormWindow(seek: seek, peak: peak, samples: $0, offset: bufferStart, sampleCount: sampleCount, scratch: scratch)
            }
        }
    }

    /// Read up to `readSamples` samples from `stream` onto the end of `buffer`; how many.
    private static func append(from stream: AudioStream, to buffer: inout [Float]) throws -> Int {
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: readSamples))
        let got = try buffer.withUnsafeMutableBufferPointer { try stream.read(into: UnsafeMutableBufferPointer(rebasing: $0[old...])) }
        buffer.removeSubrange((old + got)...)
        return got
    }
}
