import Foundation

/// An audio file read as a stream of mono samples at a chosen rate, in bounded memory, with the same
/// samples `AudioDecoder.decode(path:)` then `AudioClip.resampled(to:)` give (transformers' `load_audio`):
/// libsndfile decodes fixed chunks, channels are averaged, libsoxr resamples in the same steps as
/// `AudioResampler.resample`, and at the end of the stream the output is padded with zeros or cut to
/// `ceil(frames · rate / fileRate)` samples.
///
/// Memory does not depend on the file's length: one libsndfile chunk (16,384 frames), one resampler step
/// (3 s of input when resampling to 16 kHz), what they produce, and libsoxr's state: about 1 MB for 48 kHz
/// stereo. The decoder's checks apply (the file is named in every error);
/// instead of the in-memory path's one hour, the longest accepted duration is `maxSeconds` (24 h by
/// default), checked against the header's frame count when it has one and while reading.
///
/// `rewind()` starts another pass over the same samples (the file is opened again); a pass that ends
/// with a different length than the first is an error (the file changed). Warnings about a truncated
/// file are given once, at the end of the first pass. Not thread-safe: one reader at a time.
public final class AudioStream {
    /// The file.
    public let path: String
    /// Frames per second in the file.
    public let fileRate: Int
    /// Samples per second given by `read` (the file's rate unless another was asked for).
    public let sampleRate: Int
    /// Channels in the file (averaged into one).
    public let channels: Int
    /// Longest accepted duration, in seconds.
    public let maxSeconds: Double
    /// Default longest duration, in seconds (24 hours).
    public static let defaultMaxSeconds: Double = 86_400

    /// Samples given by `read` in this pass.
    public private(set) var position = 0
    /// The stream's length in samples, known once a pass has reached the end.
    public private(set) var count: Int?
    /// Whether this pass has given its last sample.
    public var isAtEnd: Bool { ended && head == queue.count }

    private var reader: SoundFileReader
    private var resampler: StreamResampler?
    private let outputCapacity: Int?
    /// Samples ready for `read`: `queue[head...]`.
    private var queue: [Float] = []
    private var head = 0
    private var ended = false
    /// Samples put in `queue` in this pass.
    private var queued = 0
    private var passes = 0
    /// Largest `queue` held (samples), for tests of bounded memory.
    private(set) var peakQueued = 0

    /// Open `path` for reading at `sampleRate` Hz (nil: the file's own rate).
    public convenience init(path: String, sampleRate: Int? = nil, maxSeconds: Double = AudioStream.defaultMaxSeconds) throws {
        try self.init(path: path, sampleRate: sampleRate, maxSeconds: maxSeconds, resamplerOutputCapacity: nil)
    }

    /// `resamplerOutputCapacity` bounds each drain of libsoxr's output (for tests: the samples do not depend on it).
    init(path: String, sampleRate: Int?, maxSeconds: Double, resamplerOutputCapacity: Int?) throws {
        self.path = path
        self.maxSeconds = maxSeconds
        self.outputCapacity = resamplerOutputCapacity
        reader = try SoundFileReader(path: path, maxSeconds: maxSeconds)
        fileRate = reader.rate
        channels = reader.channels
        self.sampleRate = sampleRate ?? reader.rate
        try start()
    }

    /// Checks and state for a new pass on a freshly opened reader.
    private func start() throws {
        if let declared = reader.declaredFrames, declared > reader.maxFrames {
            let seconds = Double(declared) / Double(fileRate)
            let length = seconds >= 3600 ? String(format: "%.1f h", seconds / 3600) : String(format: "%.2f s", seconds)
            throw MMAttnError("the header declares \(length) of audio, longer than \(SoundFileReader.formatSeconds(maxSeconds)); "
                              + "cut it into shorter files", file: path)
        }
        do {
            resampler = sampleRate == fileRate ? nil : try StreamResampler(from: fileRate, to: sampleRate, outputCapacity: outputCapacity)
        } catch let error as MMAttnError {
            throw error.inFile(path)
        }
        queue.removeAll(keepingCapacity: true)
        head = 0
        position = 0
        queued = 0
        ended = false
    }

    /// Start again from the first sample.
    public func rewind() throws {
        let again = try SoundFileReader(path: path, maxSeconds: maxSeconds)
        guard again.rate == fileRate, again.channels == channels else {
            throw MMAttnError("the file changed while it was being read (now \(again.channels) channels at \(again.rate) Hz)", file: path)
        }
        reader = again
        try start()
    }

    /// Read up to `buffer.count` samples into `buffer`; the number read, 0 only at the end of the stream.
    public func read(into buffer: UnsafeMutableBufferPointer<Float>) throws -> Int {
        guard let out = buffer.baseAddress, buffer.count > 0 else { return 0 }
        var filled = 0
        while filled < buffer.count {
            if head == queue.count {
                if ended { break }
                try refill()
                continue
            }
            let n = min(buffer.count - filled, queue.count - head)
            queue.withUnsafeBufferPointer { (out + filled).update(from: $0.baseAddress! + head, count: n) }
            head += n
            filled += n
        }
        position += filled
        return filled
    }

    /// Up to `maxCount` samples (fewer only at the end of the stream).
    public func read(maxCount: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: max(0, maxCount))
        let n = try out.withUnsafeMutableBufferPointer { try read(into: $0) }
        out.removeSubrange(n...)
        return out
    }

    /// Every remaining sample (for tests and short files: memory grows with the file).
    func readAll() throws -> [Float] {
        var all: [Float] = []
        while true {
            let part = try read(maxCount: 1 << 16)
            if part.isEmpty { return all }
            all += part
        }
    }

    /// Decode the next chunk into `queue` (which is empty), or end the pass.
    private func refill() throws {
        queue.removeAll(keepingCapacity: true)
        head = 0
        let append = { [self] (samples: UnsafeBufferPointer<Float>) in queue.append(contentsOf: samples) }
        let got = try reader.readChunk()
        if got > 0 {
            let mono = UnsafeBufferPointer(start: reader.mono, count: got)
            if let resampler {
                try attributing(to: path) { try resampler.push(mono, emit: append) }
            } else {
                append(mono)
            }
        } else {
            if passes == 0 { try reader.finish() }  // no samples: an error; cut short: a warning (once)
            if let resampler { try attributing(to: path) { try resampler.finish(emit: append) } }
            ended = true
        }
        queued += queue.count
        peakQueued = max(peakQueued, queue.count)
        if ended {
            if let count, count != queued {
                throw MMAttnError("the file changed while it was being read: this pass gives \(queued) samples, the first gave \(count)", file: path)
            }
            count = queued
            passes += 1
        }
    }
}
