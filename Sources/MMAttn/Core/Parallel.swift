import Dispatch
import Foundation
import CBLAS

/// How many threads the library's loops use, GEMMs included (each thread makes its own
/// single-threaded BLAS call). Defaults to the number of active cores; `MMATTN_NUM_THREADS` overrides it.
public enum Threads {
    nonisolated(unsafe) public static var count: Int = {
        if let s = ProcessInfo.processInfo.environment["MMATTN_NUM_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Run `body(start, end)` over `0..<n` split into contiguous chunks, one per thread. Small jobs
    /// (fewer than `grain` items per thread) run inline.
    @inline(__always)
    public static func parallelFor(_ n: Int, grain: Int = 1, _ body: (Int, Int) -> Void) {
        let workers = min(count, max(1, n / max(grain, 1)))
        if workers <= 1 { body(0, n); return }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let start = n * w / workers, end = n * (w + 1) / workers
            if start < end { body(start, end) }
        }
    }

    /// The BLAS library's build and how GEMMs are threaded, for benchmarks.
    public static var blasDescription: String {
        useSingleThreadedBLAS()
        return "\(String(cString: openblas_get_config())), single-threaded calls split over \(count) library threads"
    }

    /// Limit OpenBLAS to one thread (once per process); call before any BLAS call. The library
    /// splits its GEMMs over its own threads instead: an OpenBLAS worker spins on `sched_yield`
    /// for about 2^28 cycles after every threaded call, so with OpenBLAS threading it held part of
    /// a core during every layer norm, activation and attention the library's threads ran.
    @inline(__always)
    public static func useSingleThreadedBLAS() { _ = blasConfigured }

    private static let blasConfigured: Void = { openblas_set_num_threads(1) }()
}
