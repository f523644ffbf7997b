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
