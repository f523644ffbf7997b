import CFFTW
import Foundation

/// Batched real-to-complex DFTs of one size through FFTW in single precision (`fftw3f`).
///
/// Plans are made once per instance with FFTW_ESTIMATE (FFTW_MEASURE took 0.7 s to plan here and
/// ran no faster), then executed on caller-owned buffers through the new-array interface, which is
/// thread-safe; making and destroying plans is not, so both happen under one process-wide lock.
/// Buffers must come from `RealFFT.Buffers` (FFTW-aligned).
/// `@unchecked Sendable` is safe: the plans (opaque C pointers) are made in `init` and destroyed in
/// `deinit` under `plannerLock`, and in between only executed with the new-array interface, which
/// FFTW documents as thread-safe on distinct buffers.
final class RealFFT: @unchecked Sendable {
    /// Serialises FFTW's planner, which is not thread-safe.
    private static let plannerLock = NSLock()

    /// Transform length (samples per frame).
    let size: Int
    /// Output bins per frame: size / 2 + 1.
    let bins: Int
    /// Frames per execution of `blockPlan`.
    let blockFrames: Int
    private let blockPlan: OpaquePointer
    private let singlePlan: OpaquePointer

    /// Input frames `[blockFrames, size]` and output spectra `[blockFrames, bins]` (complex), FFTW-aligned.
    final class Buffers {
        let frames: UnsafeMutablePointer<Float>
        let spectra: UnsafeMutablePointer<fftwf_complex>

        init(_ fft: RealFFT) {
            frames = fftwf_alloc_real(fft.blockFrames * fft.size)
            spectra = fftwf_alloc_complex(fft.blockFrames * fft.bins)
            frames.initialize(repeating: 0, count: fft.blockFrames * fft.size)
        }

        deinit {
            fftwf_free(frames)
            fftwf_free(spectra)
        }
    }

    /// Plans for transforms of `size` points, `blockFrames` at a time (and one at a time for the tail).
    init(size: Int, blockFrames: Int) {
        self.size = size
        self.bins = size / 2 + 1
        self.blockFrames = blockFrames
        let input = fftwf_alloc_real(blockFrames * size)!
        let output = fftwf_alloc_complex(blockFrames * bins)!
        defer { fftwf_free(input); fftwf_free(output) }
        var n = [Int32(size)]
        let flags = UInt32(FFTW_ESTIMATE) | UInt32(FFTW_DESTROY_INPUT)
        RealFFT.plannerLock.lock()
        blockPlan = fftwf_plan_many_dft_r2c(1, &n, Int32(blockFrames), input, nil, 1, Int32(size),
                                            output, nil, 1, Int32(bins), flags)
        // The tail frames sit at offsets FFTW's SIMD alignment may not hold for.
        singlePlan = fftwf_plan_dft_r2c_1d(Int32(size), input, output, flags | UInt32(FFTW_UNALIGNED))
        RealFFT.plannerLock.unlock()
    }

    deinit {
        RealFFT.plannerLock.lock()
        fftwf_destroy_plan(blockPlan)
        fftwf_destroy_plan(singlePlan)
        RealFFT.plannerLock.unlock()
    }

    /// Transform the first `count` frames of `buffers` (count ≤ blockFrames) and write their power
    /// spectra |X|² to `power`, laid out `[bins, blockFrames]`: bin k of frame f at `k · blockFrames + f`
    /// (frames along rows, so a mel band is a sum of contiguous rows). The frames are overwritten.
    func powerSpectra(_ buffers: Buffers, count: Int, into power: UnsafeMutablePointer<Float>) {
        if count == blockFrames {
            fftwf_execute_dft_r2c(blockPlan, buffers.frames, buffers.spectra)
        } else {
            for f in 0..<count {
                fftwf_execute_dft_r2c(singlePlan, buffers.frames + f * size, buffers.spectra + f * bins)
            }
        }
        UnsafeMutableRawPointer(buffers.spectra).withMemoryRebound(to: Float.self, capacity: 2 * blockFrames * bins) { c in
            // Four frames at a time, so each bin's four powers go out in one vector store.
            var f = 0
            while f + 4 <= count {
                let s0 = c + 2 * f * bins, s1 = s0 + 2 * bins, s2 = s1 + 2 * bins, s3 = s2 + 2 * bins
                for k in 0..<bins {
                    let re = SIMD4(s0[2 * k], s1[2 * k], s2[2 * k], s3[2 * k])
                    let im = SIMD4(s0[2 * k + 1], s1[2 * k + 1], s2[2 * k + 1], s3[2 * k + 1])
                    UnsafeMutableRawPointer(power + k * blockFrames + f).storeBytes(of: re * re + im * im, as: SIMD4<Float>.self)
                }
                f += 4
            }
            while f < count {
                let spectrum = c + 2 * f * bins
                for k in 0..<bins {
                    let re = spectrum[2 * k], im = spectrum[2 * k + 1]
                    power[k * blockFrames + f] = re * re + im * im
                }
                f += 1
            }
        }
    }
}
