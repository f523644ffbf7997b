import Foundation

/// Mel filter banks, computed in code the way the reference implementations compute them.
public enum MelFilters {
    /// Slaney-style bank with Slaney area normalisation, as transformers'
    /// `mel_filter_bank(norm="slaney", mel_scale="slaney")` (and librosa's `filters.mel`) give it:
    /// triangles in Hz between mel-spaced edges, each scaled by 2 / (right edge − left edge).
    /// Computed in Double, rounded to Float. Shape `[melCount, fftBins]`.
    public static func slaney(melCount: Int, fftBins: Int, sampleRate: Int,
                              minFrequency: Double, maxFrequency: Double) -> Tensor {
        func hzToMel(_ f: Double) -> Double {
            f >= 1000 ? 15 + log(f / 1000) * (27 / log(6.4)) : 3 * f / 200
        }
        func melToHz(_ m: Double) -> Double {
            m >= 15 ? 1000 * exp(log(6.4) / 27 * (m - 15)) : 200 * m / 3
        }
        let edges = linspace(hzToMel(minFrequency), hzToMel(maxFrequency), melCount + 2).map(melToHz)
        let fftFrequencies = linspace(0, Double(sampleRate / 2), fftBins)
        let bank = Tensor(zeros: [melCount, fftBins])  // [melCount, fftBins]
        for m in 0..<melCount {
            let lower = edges[m], center = edges[m + 1], upper = edges[m + 2]
            let scale = 2 / (upper - lower)
            let row = bank.row(m)
            for k in 0..<fftBins {
                let f = fftFrequencies[k]
                let rising = -(lower - f) / (center - lower)
                let falling = (upper - f) / (upper - center)
                row[k] = Float(max(0, min(rising, falling)) * scale)
            }
        }
        return bank
    }

    /// Kaldi's bank as `torchaudio.compliance.kaldi.get_mel_banks` builds it (no VTLN warp): triangles in
    /// mel space (mel = 1127 ln(1 + f/700)) between `lowFrequency` and `highFrequency`, evaluated at the
    /// first `paddedWindow / 2` FFT bins in single precision as torchaudio does, plus a zero column for the
    /// Nyquist bin. Shape `[melCount, paddedWindow / 2 + 1]`.
    public static func kaldi(melCount: Int, paddedWindow: Int, sampleRate: Double,
                             lowFrequency: Double, highFrequency: Double) -> Tensor {
        func melScale(_ f: Double) -> Double { 1127 * log(1 + f / 700) }
        let fftBins = paddedWindow / 2
        let binWidth = Float(sampleRate / Double(paddedWindow))
        let melLow = melScale(lowFrequency)
        let melDelta = (melScale(highFrequency) - melLow) / Double(melCount + 1)
        let low = Float(melLow), delta = Float(melDelta)
        let bank = Tensor(zeros: [melCount, fftBins + 1])  // [melCount, fftBins + 1]
        for m in 0..<melCount {
            let left = low + Float(m) * delta
            let center = low + Float(m + 1) * delta
            let right = low + Float(m + 2) * delta
            let row = bank.row(m)
            for k in 0..<fftBins {
                let mel = 1127 * logf(1 + binWidth * Float(k) / 700)
                let up = (mel - left) / (center - left)
                let down = (right - mel) / (right - center)
                row[k] = max(0, min(up, down))
            }
        }
        return bank
    }

    /// NumPy's `linspace(start, stop, count)`: start + i · step, the last value exactly `stop`.
    static func linspace(_ start: Double, _ stop: Double, _ count: Int) -> [Double] {
        guard count > 1 else { return count == 1 ? [start] : [] }
        let step = (stop - start) / Double(count - 1)
        var out = (0..<count).map { Double($0) * step + start }
        out[count - 1] = stop
        return out
    }
}

/// A mel bank stored by bands: filter m is zero outside bins `start[m] ..< start[m] + length[m]`, so
/// applying it costs the band widths (about 2 × the FFT bins in all, since the triangles overlap by
/// halves) instead of melCount × fftBins multiply-adds: 40 times less work than a dense GEMM for
/// Whisper's 80 × 201 bank.
struct BandedMelBank {
    let melCount: Int
    let fftBins: Int
    private let start: [Int]
    private let length: [Int]
    private let offset: [Int]
    private let weights: [Float]

    /// Bands of a dense bank `[melCount, fftBins]` (each from its first to its last non-zero weight).
    init(_ dense: Tensor) {
        melCount = dense.shape[0]
        fftBins = dense.shape[1]
        var start: [Int] = [], length: [Int] = [], offset: [Int] = [], weights: [Float] = []
        for m in 0..<melCount {
            let row = UnsafeBufferPointer(start: dense.row(m), count: fftBins)
            let first = row.firstIndex { $0 != 0 } ?? 0
            let last = row.lastIndex { $0 != 0 } ?? -1
            start.append(first)
            length.append(last - first + 1)
            offset.append(weights.count)
            weights.append(contentsOf: row[first..<(last + 1)])
        }
        self.start = start
        self.length = length
        self.offset = offset
        self.weights = weights
    }

    /// `out[m · outStride + f] = Σ_k bank[m, k] · power[k · powerStride + f]` for frames `f < frames`:
    /// power spectra laid out `[fftBins, powerStride]` (as `RealFFT.powerSpectra` writes them) in, mel
    /// energies laid out `[melCount, outStride]` out. Each band is a weighted sum of contiguous rows.
    func apply(_ power: UnsafePointer<Float>, frames: Int, powerStride: Int,
               into out: UnsafeMutablePointer<Float>, outStride: Int) {
        weights.withUnsafeBufferPointer { w in
            for m in 0..<melCount {
                let row = out + m * outStride
                row.update(repeating: 0, count: frames)
                let band = w.baseAddress! + offset[m]
                for k in 0..<length[m] {
                    let weight = band[k]
                    let source = power + (start[m] + k) * powerStride
                    for f in 0..<frames { row[f] += weight * source[f] }
                }
            }
        }
    }
}
