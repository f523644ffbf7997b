import CSndfile
import Foundation

/// An open audio file, read with libsndfile in fixed chunks and averaged to mono, with the checks
/// `AudioDecoder` documents: the path must be a non-empty regular file libsndfile opens; 1 to
/// `AudioDecoder.maxChannels` channels; a rate in `AudioDecoder.sampleRateRange`; no NaN or infinite
/// samples; no more than `maxFrames` frames; no libsndfile error while decoding. Errors name the file.
///
/// The audio comes from a path or, through libsndfile's virtual I/O, from bytes in memory (uploads).
/// Shared by `AudioDecoder.decode` (which keeps every sample) and `AudioStream` (which keeps one chunk),
/// so both read the same samples the same way. Memory: one chunk of `chunkFrames` interleaved frames
/// and one of mono samples.
final class SoundFileReader {
    let path: String
    let channels: Int
    /// Frames per second in the file.
    let rate: Int
    /// File size in bytes (at open).
    let fileSize: Int
    /// The frame count the header declares, when it declares one (not Ogg's "unknown").
    let declaredFrames: Int?
    /// Most frames accepted before "longer than" is an error.
    let maxFrames: Int
    /// Frames read so far.
    private(set) var framesRead = 0

    /// Frames read per libsndfile call.
    let chunkFrames: Int
    private let handle: OpaquePointer
    /// The bytes libsndfile reads through virtual I/O, when the audio came from memory.
    private let memory: MemoryFile?
    private let interleaved: UnsafeMutablePointer<Float>  // [chunkFrames · channels]
    /// Mono samples of the last chunk read (`readChunk`), valid until the next call.
    let mono: UnsafeMutablePointer<Float>  // [chunkFrames]
    private let limitDescription: String

    /// Open `path`; `maxSeconds` bounds the duration read (`maxFrames = maxSeconds · rate`, at most `frameCap`).
    convenience init(path: String, maxSeconds: Double, frameCap: Int = 1 << 62, chunkFrames: Int = AudioDecoder.chunkFrames) throws {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw MMAttnError("cannot open the audio file (\(String(cString: strerror(errno))))", file: path)
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw MMAttnError("not a regular file; give the path of an audio file (WAV, FLAC, Ogg)", file: path)
        }
        guard status.st_size > 0 else { throw MMAttnError("the audio file is empty (0 bytes)", file: path) }
        var info = SF_INFO()
        let handle = sf_open(path, Int32(SFM_READ), &info)
        try self.init(handle: handle, info: info, memory: nil, name: path, fileSize: Int(status.st_size),
                      maxSeconds: maxSeconds, frameCap: frameCap, chunkFrames: chunkFrames)
    }

    /// Decode the bytes of an audio file held in memory (libsndfile's virtual I/O), named `name` in errors.
    convenience init(data: Data, name: String, maxSeconds: Double, frameCap: Int = 1 << 62,
                     chunkFrames: Int = AudioDecoder.chunkFrames) throws {
        guard !data.isEmpty else { throw MMAttnError("the audio file is empty (0 bytes)", file: name) }
        let memory = MemoryFile(data)
        var io = MemoryFile.io
        var info = SF_INFO()
        let handle = sf_open_virtual(&io, Int32(SFM_READ), &info, Unmanaged.passUnretained(memory).toOpaque())
        try self.init(handle: handle, info: info, memory: memory, name: name, fileSize: data.count,
                      maxSeconds: maxSeconds, frameCap: frameCap, chunkFrames: chunkFrames)
    }

    private init(handle: OpaquePointer?, info: SF_INFO, memory: MemoryFile?, name path: String, fileSize: Int,
                 maxSeconds: Double, frameCap: Int, chunkFrames: Int) throws {
        guard let handle else {
            let reason = String(cString: sf_strerror(nil))
            throw MMAttnError("cannot decode the audio (libsndfile: \(reason)); give a WAV, FLAC or Ogg Vorbis/Opus file", file: path)
        }
        let channels = Int(info.channels)
        let rate = Int(info.samplerate)
        var failure: MMAttnError? = nil
        if !(1...AudioDecoder.maxChannels).contains(channels) {
            failure = MMAttnError("the header declares \(channels) channels; accepted: 1 to \(AudioDecoder.maxChannels)", file: path)
        } else if !AudioDecoder.sampleRateRange.contains(rate) {
            let range = AudioDecoder.sampleRateRange
            failure = MMAttnError("the header declares a sample rate of \(rate) Hz; accepted: \(range.lowerBound) to \(range.upperBound) Hz", file: path)
        } else if !(maxSeconds > 0 && maxSeconds.isFinite) {
            failure = MMAttnError("the longest accepted duration must be a positive number of seconds, not \(maxSeconds)", file: path)
        }
        if let failure {
            sf_close(handle)
            throw failure
        }
        self.path = path
        self.handle = handle
        self.memory = memory
        self.channels = channels
        self.rate = rate
        self.fileSize = fileSize
        self.declaredFrames = info.frames > 0 && info.frames != Int64.max ? Int(clamping: info.frames) : nil
        self.maxFrames = Int(min(maxSeconds * Double(rate), Double(frameCap)))
        self.limitDescription = SoundFileReader.formatSeconds(maxSeconds)
        self.chunkFrames = chunkFrames
        interleaved = .allocate(capacity: chunkFrames * channels)
        mono = .allocate(capacity: chunkFrames)
    }

    deinit {
        sf_close(handle)
        interleaved.deallocate()
        mono.deallocate()
    }

    /// The error for audio longer than the limit.
    var tooLong: MMAttnError {
        MMAttnError("the audio is longer than \(limitDescription); cut it into shorter files", file: path)
    }

    /// Read the next chunk into `mono`; the number of frames, 0 at the end of the audio.
    /// Throws when the limit is passed, on NaN or infinite samples, and on a libsndfile decoding error.
    func readChunk() throws -> Int {
        let got = Int(sf_readf_float(handle, interleaved, sf_count_t(chunkFrames)))
        if got <= 0 {
            let code = sf_error(handle)
            if code != 0 {
                let reason = String(cString: sf_error_number(code))
                throw MMAttnError("the audio data cannot be decoded after \(framesRead) frames (libsndfile: \(reason))", file: path)
            }
            return 0
        }
        guard framesRead + got <= maxFrames else { throw tooLong }
        guard Self.allFinite(interleaved, count: got * channels) else {
            throw MMAttnError("the audio holds NaN or infinite sample values", file: path)
        }
        Self.mix(interleaved, frames: got, channels: channels, into: mono)
        framesRead += got
        return got
    }

    /// At the end of the audio: an error when nothing was read, and a warning when the header declared
    /// more audio than could be read (see `AudioDecoder`).
    func finish() throws {
        guard framesRead > 0 else {
            throw MMAttnError("the file holds no audio samples (empty, cut before the audio data, or undecodable)", file: path)
        }
        // The header's claim: a FLAC's frame count (SF_COUNT_MAX means unknown, as for Ogg), or for a
        // WAV/AIFF whose data chunk runs past the end of the file (libsndfile shortens those quietly)
        // the chunk's declared size, which libsndfile notes in its log.
        var declared = declaredFrames ?? 0
        if let (claimed, present) = dataChunkSizes(), present > 0, claimed > present {
            declared = max(declared, Int(Double(framesRead) * Double(claimed) / Double(present)))
        }
        if declared > framesRead {
            let seconds = { (frames: Int) in String(format: "%.2f s", Double(frames) / Double(self.rate)) }
            Diagnostics.warn("\(path): the file is cut short: its header declares \(seconds(declared)) of audio but only "
                             + "\(seconds(framesRead)) could be read; using those")
        }
    }

    /// The sizes libsndfile's log reports for an audio data chunk that is longer than the file
    /// ("data : 128000 (should be 2956)" for WAV, "SSND" for AIFF): (declared, present) bytes.
    private func dataChunkSizes() -> (Int, Int)? {
        var log = [CChar](repeating: 0, count: 8192)
        sf_command(handle, Int32(SFC_GET_LOG_INFO), &log, Int32(log.count))
        let text = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("data ") || line.hasPrefix("SSND ") {
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            if line.contains("should be"), numbers.count >= 2 { return (numbers[0], numbers[1]) }
        }
        return nil
    }

    static func formatSeconds(_ s: Double) -> String {
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
    private static func mix(_ p: UnsafePointer<Float>, frames: Int, channels: Int, into out: UnsafeMutablePointer<Float>) {
        if channels == 1 {
            out.update(from: p, count: frames)
            return
        }
        let divisor = Float(channels)
        for f in 0..<frames {
            let frame = p + f * channels
            var sum = frame[0]
            for c in 1..<channels { sum += frame[c] }
            out[f] = sum / divisor
        }
    }
}

/// Bytes in memory as a file libsndfile reads (`sf_open_virtual`): a read-only cursor over `data`.
final class MemoryFile {
    let data: Data
    var position = 0

    init(_ data: Data) { self.data = data }

    /// The callbacks; each finds its `MemoryFile` in `user_data`.
    static var io: SF_VIRTUAL_IO {
        func file(_ user: UnsafeMutableRawPointer?) -> MemoryFile {
            Unmanaged<MemoryFile>.fromOpaque(user!).takeUnretainedValue()
        }
        return SF_VIRTUAL_IO(
            get_filelen: { user in sf_count_t(file(user).data.count) },
            seek: { offset, whence, user in
                let f = file(user)
                let base: Int
                switch whence {
                case SEEK_CUR: base = f.position
                case SEEK_END: base = f.data.count
                default: base = 0
                }
                let (target, overflow) = base.addingReportingOverflow(Int(offset))
                guard !overflow, target >= 0 else { return -1 }
                f.position = target  // past the end is allowed, as for a file; reads there give 0 bytes
                return sf_count_t(target)
            },
            read: { destination, count, user in
                let f = file(user)
                guard let destination, count > 0, f.position < f.data.count else { return 0 }
                let n = min(Int(count), f.data.count - f.position)
                f.data.withUnsafeBytes { bytes in
                    destination.copyMemory(from: bytes.baseAddress! + f.position, byteCount: n)
                }
                f.position += n
                return sf_count_t(n)
            },
            write: { _, _, _ in 0 },
            tell: { user in sf_count_t(file(user).position) })
    }
}
