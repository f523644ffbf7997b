import CSoxr
import Foundation

/// Sample-rate conversion with libsoxr, the resampler behind `librosa.load` (`res_type="soxr_hq"`) and
/// transformers' `load_audio`.
///
/// Quality is `SOXR_HQ` (20-bit, linear phase, libsoxr's default recipe), float32 in and out, one thread:
/// the settings of Python's `soxr.resample(x, in_rate, out_rate, quality="soxr_hq")`. The input is fed to a
/// stream resampler in chunks the way that package does (one call to `soxr_oneshot` gives the same
/// samples but slows down on long inputs), and the output is padded with zeros or cut to
/// `ceil(count · to / from)` samples, as transformers' `load_audio` does after resampling.
public enum AudioResampler {
    /// Resample mono `samples` from `from` Hz to `to` Hz.
    public static func resample(_ samples: [Float], from: Int, to: Int) throws -> [Float] {
        let rates = AudioDecoder.sampleRateRange
        guard rates.contains(from), rates.contains(to) else {
            throw MMAttnError("cannot resample from \(from) Hz to \(to) Hz: rates must lie in \(rates.lowerBound)...\(rates.upperBound) Hz")
        }
        if from == to || samples.isEmpty { return samples }
        let ratio = Double(to) / Double(from)
        let wanted = (Double(samples.count) * ratio).rounded(.up)
        guard wanted <= Double(Int32.max) else {
            throw MMAttnError("resampling \(samples.count) samples from \(from) Hz to \(to) Hz would give \(Int(wanted)) samples, too many")
        }
        let outCount = Int(wanted)
        // Room for everything the resampler can emit: ilen · ratio + 1, as Python's soxr sizes it.
        let capacity = Int(Double(samples.count) * ratio) + 1

        var error: soxr_error_t? = nil
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), 0)
        guard let soxr = soxr_create(Double(from), Double(to), 1, &error, &io, &quality, nil), error == nil else {
            throw MMAttnError("libsoxr cannot resample from \(from) Hz to \(to) Hz: \(error.map { String(cString: $0) } ?? "unknown error")")
        }
        defer { soxr_delete(soxr) }

        var out = [Float](repeating: 0, count: max(capacity, outCount))
        var produced = 0
        let step = max(1000, Int(48_000 * Double(from) / Double(to)))
        try samples.withUnsafeBufferPointer { input in
            try out.withUnsafeMutableBufferPointer { output in
                func process(_ start: UnsafePointer<Float>?, _ count: Int) throws {
                    var done = 0
                    let e = soxr_process(soxr, start, count, nil, output.baseAddress! + produced, capacity - produced, &done)
                    if let e { throw MMAttnError("libsoxr failed while resampling: \(String(cString: e))") }
                    produced += done
                }
                var index = 0
                while index < input.count {
                    let count = min(step, input.count - index)
                    try process(input.baseAddress! + index, count)
                    index += count
                }
                try process(nil, 0)  // end of input: flush what the filter still holds
            }
        }
        // Samples past `produced` are already zero; cut or keep to the expected length.
        out.removeSubrange(outCount...)
        return out
    }
}

/// `AudioResampler.resample` one piece at a time, with the same samples as the whole-array call: the input
/// reaches libsoxr in the same `step`-sized calls whatever the pieces pushed (a call to `push` keeps a
/// partial step back until the next), the output of each call is drained through a bounded buffer, and
/// `finish` flushes the filter and pads or cuts to `ceil(count · to / from)` for the `count` samples pushed.
///
/// Memory is bounded: one input step, one output buffer, libsoxr's own state. Samples are handed to
/// `emit` as they come, never more than `ceil(pushed · to / from)` before `finish` (so the final cut
/// never takes back a sample already given).
final class StreamResampler {
    let from: Int
    let to: Int
    /// Input samples per `soxr_process` call: the step python-soxr (and `AudioResampler.resample`) uses.
    let step: Int
    /// Input samples pushed so far.
    private(set) var pushed = 0
    /// Output samples handed to `emit` so far.
    private(set) var emitted = 0

    private let ratio: Double
    private let soxr: soxr_t
    private let pending: UnsafeMutablePointer<Float>  // [step]: input not given to libsoxr yet
    private var pendingCount = 0
    private let output: UnsafeMutablePointer<Float>   // [outputCapacity]
    private let outputCapacity: Int
    /// Output libsoxr gave that may not be handed out yet (past ceil(pushed · ratio)); tiny, rarely used.
    private var held: [Float] = []

    /// A resampler from `from` Hz to `to` Hz (different rates). `outputCapacity` bounds each drain of
    /// libsoxr's output (tests set it small; the samples do not depend on it).
    init(from: Int, to: Int, outputCapacity capacity: Int? = nil) throws {
        let rates = AudioDecoder.sampleRateRange
        guard rates.contains(from), rates.contains(to), from != to else {
            throw MMAttnError("cannot resample from \(from) Hz to \(to) Hz: rates must differ and lie in \(rates.lowerBound)...\(rates.upperBound) Hz")
        }
        self.from = from
        self.to = to
        ratio = Double(to) / Double(from)
        step = max(1000, Int(48_000 * Double(from) / Double(to)))
        var error: soxr_error_t? = nil
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), 0)
        guard let soxr = soxr_create(Double(from), Double(to), 1, &error, &io, &quality, nil), error == nil else {
            throw MMAttnError("libsoxr cannot resample from \(from) Hz to \(to) Hz: \(error.map { String(cString: $0) } ?? "unknown error")")
        }
        self.soxr = soxr
        pending = .allocate(capacity: step)
        outputCapacity = max(1, capacity ?? Int(Double(step) * ratio) + 1024)
        output = .allocate(capacity: outputCapacity)
    }

    deinit {
        soxr_delete(soxr)
        pending.deallocate()
        output.deallocate()
    }

    /// Samples `ceil(count · to / from)`: the length `resample` gives for `count` input samples.
    func outputCount(forInput count: Int) -> Int { Int((Double(count) * ratio).rounded(.up)) }

    /// Feed input samples; resampled samples go to `emit` (possibly none yet: the filter has a delay).
    func push(_ input: UnsafeBufferPointer<Float>, emit: (UnsafeBufferPointer<Float>) throws -> Void) throws {
        guard var p = input.baseAddress else { return }
        var left = input.count
        pushed += left
        while left > 0 {
            let n = min(step - pendingCount, left)
            (pending + pendingCount).update(from: p, count: n)
            pendingCount += n
            p += n
            left -= n
            if pendingCount == step {
                try process(pending, step, emit: emit)
                pendingCount = 0
            }
        }
    }

    /// End of input: the last partial step, the filter's flush, then zeros or a cut to
    /// `ceil(pushed · to / from)` samples in all.
    func finish(emit: (UnsafeBufferPointer<Float>) throws -> Void) throws {
        if pendingCount > 0 { try process(pending, pendingCount, emit: emit) }
        pendingCount = 0
        try process(nil, 0, emit: emit)
        let wanted = outputCount(forInput: pushed)
        if emitted < wanted {  // the held-back part may now go, then zeros
            let zeros = [Float](repeating: 0, count: min(4096, wanted - emitted))
            while emitted < wanted {
                let n = min(zeros.count, wanted - emitted)
                try zeros.withUnsafeBufferPointer { try emit(UnsafeBufferPointer(rebasing: $0[0..<n])) }
                emitted += n
            }
        }
    }

    /// One `soxr_process` call on `count` samples (nil: flush), then drains libsoxr's output until a
    /// drain leaves the buffer short of full (what one call with an unbounded buffer gives).
    private func process(_ input: UnsafePointer<Float>?, _ count: Int, emit: (UnsafeBufferPointer<Float>) throws -> Void) throws {
        let flushing = input == nil
        let limit = flushing ? outputCount(forInput: pushed) : Int((Double(pushed) * ratio).rounded(.up))
        var first = true
        while true {
            var done = 0
            let e: soxr_error_t?
            if flushing {
                e = soxr_process(soxr, nil, 0, nil, output, outputCapacity, &done)
            } else {
                e = soxr_process(soxr, first ? input : UnsafePointer(pending), first ? count : 0, nil, output, outputCapacity, &done)
            }
            if let e { throw MMAttnError("libsoxr failed while resampling: \(String(cString: e))") }
            first = false
            try hand(UnsafeBufferPointer(start: output, count: done), limit: limit, emit: emit)
            if done < outputCapacity { break }
        }
    }

    /// Hand out new output, keeping back what lies past `limit` samples in all.
    private func hand(_ fresh: UnsafeBufferPointer<Float>, limit: Int, emit: (UnsafeBufferPointer<Float>) throws -> Void) throws {
        if !held.isEmpty {
            let n = min(held.count, max(0, limit - emitted))
            if n > 0 {
                try held.withUnsafeBufferPointer { try emit(UnsafeBufferPointer(rebasing: $0[0..<n])) }
                emitted += n
                held.removeFirst(n)
            }
            if !held.isEmpty {
                held.append(contentsOf: fresh)
                return
            }
        }
        let n = min(fresh.count, max(0, limit - emitted))
        if n > 0 {
            try emit(UnsafeBufferPointer(rebasing: fresh[0..<n]))
            emitted += n
        }
        if n < fresh.count { held.append(contentsOf: fresh[n...]) }
    }
}
