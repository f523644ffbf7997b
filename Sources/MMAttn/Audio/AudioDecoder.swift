import CSndfile
import Foundation

/// Mono audio: samples (nominally in [-1, 1]) at `sampleRate` Hz.
public struct AudioClip: Sendable {
    /// The samples, one per frame, channels already averaged.
    public var samples: [Float]
    /// Frames per second.
    public var sampleRate: Int

    public init(samples: [Float], sampleRate: Int) {
        self.samples = samples
        self.sampleRate = sampleRate
    }

    /// Length in seconds.
    public var duration: Double { Double(samples.count) / Double(sampleRate) }

    /// The clip at another rate (see `AudioResampler.resample`); the same clip when the rate already matches.
    public func resampled(to rate: Int) throws -> AudioClip {
        if rate == sampleRate { return self }
        return AudioClip(samples: try AudioResampler.resample(samples, from: sampleRate, to: rate), sampleRate: rate)
    }
}

/// Decodes audio files with libsndfile: WAV (PCM 8/16/24/32-bit, float, and the codecs libsndfile knows),
/// FLAC, Ogg Vorbis, Ogg Opus, AIFF, CAF and the other formats libsndfile reads.
///
/// Integer PCM is scaled to [-1, 1) the way libsndfile (and so Python's `soundfile`) does; float files keep
/// their values. Channels are averaged into one (as `librosa.load` and transformers' `load_audio` do).
///
/// Robustness rules:
/// - The header's frame count is never used to size a buffer (a WAV may declare hours and hold one
///   second; Ogg reports an unknown length). The file is read in fixed chunks until the data ends, and the
///   output is reserved at no more than one sample per byte of the file.
/// - A decode that yields no samples is an error (empty, cut before the first audio packet, or undecodable).
/// - A truncated file that still yields samples is accepted: the samples that could be decoded are used,
///   with a warning naming the duration the header declared and the duration read (a FLAC whose frame
///   count is larger than what decodes; a WAV or AIFF whose data chunk claims more bytes than the file
///   holds, which libsndfile shortens to the samples present and notes only in its log). An error that
///   libsndfile reports while decoding is an error, whatever came before, as the rest of the audio is
///   not trustworthy.
/// - 0 channels, more than `maxChannels`, a sample rate outside `sampleRateRange`, NaN or infinite
///   samples, and audio longer than `maxSeconds` are errors.
public enum AudioDecoder {
    /// Sample rates accepted from a file header, in Hz.
    public static let sampleRateRange = 1_000...768_000
    /// Most channels accepted in a file.
    public static let maxChannels = 64
    /// Default longest accepted duration, in seconds (one hour).
    public static let defaultMaxSeconds: Double = 3600

    /// Frames read per libsndfile call.
    static let chunkFrames = 16_384

    /// Decode `path` to mono samples at the file's own rate.
    public static func decode(path: String, maxSeconds: Double = defaultMaxSeconds) throws -> AudioClip {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw MMAttnError("cannot open the audio file (\(String(cString: strerror(errno))))", file: path)
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw MMAttnError("not a regular file; give the path of an audio file (WAV, FLAC, Ogg)", file: path)
        }
        let fileSize = Int(status.st_size)
        guard fileSize > 0 else { throw MMAttnError("the audio file is empty (0 bytes)", file: path) }

        var info = SF_INFO()
        guard let handle = sf_open(path, Int32(SFM_READ), &info) else {
            let reason = String(cString: sf_strerror(nil))
            throw MMAttnError("cannot decode the audio (libsndfile: \(reason)); give a WAV, FLAC or Ogg Vorbis/Opus file", file: path)
        }
        defer { sf_close(handle) }

        let channels = Int(info.channels)
        guard (1...maxChannels).contains(channels) else {
            throw MMAttnError("the header declares \(channels) channels; accepted: 1 to \(maxChannels)", file: path)
        }
        let rate = Int(info.samplerate)
        guard sampleRateRange.contains(rate) else {
            throw MMAttnError("the header declares a sample rate of \(rate) Hz; accepted: \(sampleRateRange.lowerBound) to \(sampleRateRange.upperBound) Hz", file: path)
        }
        guard maxSeconds > 0, maxSeconds.isFinite else {
            throw MMAttnError("the longest accepted duration must be a positive number of seconds, not \(maxSeconds)", file: path)
        }
        let maxFrames = Int(min(maxSeconds * Double(rate), Double(Int32.max)))

        var samples: [Float] = []
        samples.reserveCapacity(min(fileSize, maxFrames, info.frames > 0 ? Int(clamping: info.frames) : fileSize))
        let chunk = UnsafeMutablePointer<Float>.allocate(capacity: chunkFrames * channels)
        defer { chunk.deallocate() }

        while true {
            let got = Int(sf_readf_float(handle, chunk, sf_count_t(chunkFrames)))
            if got <= 0 { break }
            guard samples.count + got <= maxFrames else {
                throw MMAttnError("the audio is longer than \(formatSeconds(maxSeconds)); cut it into shorter files", file: path)
            }
            guard allFinite(chunk, count: got * channels) else {
                throw MMAttnError("the audio holds NaN or infinite sample values", file: path)
            }
            appendMono(chunk, frames: got, channels: channels, to: &samples)
        }

        let code = sf_error(handle)
        if code != 0 {
            let reason = String(cString: sf_error_number(code))
            throw MMAttnError("the audio data cannot be decoded after \(samples.count) frames (libsndfile: \(reason))", file: path)
        }
        guard !samples.isEmpty else {
            throw MMAttnError("the file holds no audio samples (empty, cut before the audio data, or undecodable)", file: path)
        }
        // The header's claim: a FLAC's frame count (SF_COUNT_MAX means unknown, as for Ogg), or for a
        // WAV/AIFF whose data chunk runs past the end of the file (libsndfile shortens those quietly)
        // the chunk's declared size, which libsndfile notes in its log.
        var declared = info.frames > 0 && info.frames != Int64.max ? Int(info.frames) : 0
        if let (claimed, present) = dataChunkSizes(handle), present > 0, claimed > present {
            declared = max(declared, Int(Double(samples.count) * Double(claimed) / Double(present)))
        }
        if declared > samples.count {
            let seconds = { (frames: Int) in String(format: "%.2f s", Double(frames) / Double(rate)) }
            Diagnostics.warn("\(path): the file is cut short: its header declares \(seconds(declared)) of audio but only "
                             + "\(seconds(samples.count)) could be read; using those")
        }
        return AudioClip(samples: samples, sampleRate: rate)
    }

    /// The sizes libsndfile's log reports for an audio data chunk that is longer than the file
    /// ("data : 128000 (should be 2956)" for WAV, "SSND" for AIFF): (declared, present) bytes.
    private static func dataChunkSizes(_ handle: OpaquePointer) -> (Int, Int)? {
        var log = [CChar](repeating: 0, count: 8192)
        sf_command(handle, Int32(SFC_GET_LOG_INFO), &log, Int32(log.count))
        let text = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("data ") || line.hasPrefix("SSND ") {
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            if line.contains("should be"), numbers.count >= 2 { return (numbers[0], numbers[1]) }
        }
        return nil
    }

    private static func formatSeconds(_ s: Double) -> String {
        s >= 3600 && s.truncatingRemainder(dividingBy: 3600) == 0 ? "\(Int(s / 3600)) h" : "\(s) s"
    }

    /// True when none of `count` values is NaN or infinite.
    private static func allFinite(_ p: UnsafePointer<Float>, count: Int) -> Bool {
        // x · 0 is 0 for finite x and NaN otherwise; summing those and comparing once at the end keeps
        // the loop branch-free, and four lanes at a time.
        var lanes = SIMD4<Float>(repeating: 0)
        var i = 0
        while i + 4 <= count {
            lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD4<Float>.self) * 0
            i += 4
        }
        var acc = lanes.sum()
        while i < count {
            acc += p[i] * 0
            i += 1
        }
        return acc == 0
    }

    /// Average interleaved frames into mono (sum in channel order, then divide, as NumPy's `mean(axis=0)`).
    private static func appendMono(_ p: UnsafePointer<Float>, frames: Int, channels: Int, to out: inout [Float]) {
        if channels == 1 {
            out.append(contentsOf: UnsafeBufferPointer(start: p, count: frames))
            return
        }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: frames))
        let divisor = Float(channels)
        out.withUnsafeMutableBufferPointer { o in
            for f in 0..<frames {
                let frame = p + f * channels
                var sum = frame[0]
                for c in 1..<channels { sum += frame[c] }
                o[start + f] = sum / divisor
            }
        }
    }
}
