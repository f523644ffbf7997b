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

    /// Decode `path` to mono samples at `rate` Hz (resampled as `AudioClip.resampled(to:)` does).
    public static func samples(path: String, rate: Int) throws -> [Float] {
        try decode(path: path).resampled(to: rate).samples
    }

    /// Decode `path` to mono samples at the file's own rate.
    public static func decode(path: String, maxSeconds: Double = defaultMaxSeconds) throws -> AudioClip {
        try read(SoundFileReader(path: path, maxSeconds: maxSeconds, frameCap: Int(Int32.max)))
    }

    /// Decode the bytes of an audio file (an upload, say) to mono samples at the file's own rate, with
    /// the same checks as `decode(path:)`; `name` stands for the file in errors.
    public static func decode(data: Data, name: String, maxSeconds: Double = defaultMaxSeconds) throws -> AudioClip {
        try read(SoundFileReader(data: data, name: name, maxSeconds: maxSeconds, frameCap: Int(Int32.max)))
    }

    private static func read(_ reader: SoundFileReader) throws -> AudioClip {
        var samples: [Float] = []
        samples.reserveCapacity(min(reader.fileSize, reader.maxFrames, reader.declaredFrames ?? reader.fileSize))
        while true {
            let got = try reader.readChunk()
            if got == 0 { break }
            samples.append(contentsOf: UnsafeBufferPointer(start: reader.mono, count: got))
        }
        try reader.finish()
        return AudioClip(samples: samples, sampleRate: reader.rate)
    }
}
