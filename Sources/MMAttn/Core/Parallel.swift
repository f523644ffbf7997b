import Dispatch
import Foundation
import CBLAS

/// How many threads the library's own loops use (GEMM threading is OpenBLAS's). Defaults to the
/// number of active cores; `MMATTN_NUM_THREADS` overrides it.
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

    /// The BLAS library's build and thread count, for benchmarks.
    public static var blasDescription: String {
        "\(String(cString: openblas_get_config())), \(openblas_get_num_threads()) threads"
    }

    /// Run `body` with OpenBLAS limited to one thread, for regions where the library itself runs
    /// several GEMMs in parallel (per attention head).
    public static func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
        let previous = openblas_get_num_threads()
        if previous == 1 || count == 1 { return try body() }
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(previous) }
        return try body()
    }
}
