import Foundation
import CBLAS

/// The BLAS the library's GEMMs go through, and the one place that touches OpenBLAS-specific
/// symbols (the rest of the library calls standard CBLAS only).
///
/// The library splits each GEMM's output columns over its own threads (`Threads`), each thread
/// making a single-threaded call. By default it therefore sets OpenBLAS to one thread on its first
/// BLAS call, **for the whole process**: `openblas_set_num_threads` is process-wide, so a host
/// application that uses OpenBLAS itself sees its GEMMs become single-threaded. A host that does
/// not want that calls `BLAS.configure(threading: .leaveAsIs)` before its first use of the library.
public enum BLAS {
    /// How the library treats OpenBLAS's own thread pool.
    public enum Threading: Sendable, Equatable {
        /// Set OpenBLAS to one thread for the process on first use (the default): the library's
        /// threads make single-threaded calls. An OpenBLAS worker spins on `sched_yield` for about
        /// 2^28 cycles after each threaded call, so with OpenBLAS threading it held part of a core
        /// during every layer norm, activation and attention the library's threads ran.
        case singleThreadedCalls
        /// Leave OpenBLAS's thread count as the host set it. The library still splits GEMMs over
        /// `Threads.count` threads, so unless OpenBLAS is at one thread the two pools compete;
        /// run the library with `Threads.withCount(1)` (or `MMATTN_NUM_THREADS=1`) to let OpenBLAS
        /// thread each GEMM instead.
        case leaveAsIs
    }

    /// Choose how the library treats OpenBLAS's threads. Call it before the library's first BLAS
    /// call (before loading or running any model); the choice then holds for the process. Returns
    /// false, changing nothing, when the library has already made a BLAS call.
    @discardableResult
    public static func configure(threading: Threading) -> Bool {
        settings.withLock { s in
            guard !s.frozen else { return false }
            s.threading = threading
            return true
        }
    }

    /// The kernel set OpenBLAS runs ("Haswell", "SkylakeX", "Cooperlake", ...): its own choice
    /// for the CPU, made when the process loads it, unless `OPENBLAS_CORETYPE` names one.
    public static var kernels: String { String(cString: openblas_get_corename()) }

    /// The threading in force, fixed by the first BLAS call.
    public static var threading: Threading { applied }

    /// The BLAS build and how GEMMs are threaded, for benchmarks.
    public static var description: String {
        let split = "split over \(Threads.count) library threads, \(kernels) kernels"
        switch applied {
        case .singleThreadedCalls:
            return "\(String(cString: openblas_get_config())), single-threaded calls \(split)"
        case .leaveAsIs:
            return "\(String(cString: openblas_get_config())), OpenBLAS threading left as the host set it, calls \(split)"
        }
    }

    /// Apply the configuration (once per process); every Core function calls this before its
    /// first CBLAS call.
    @inline(__always)
    static func prepare() { _ = applied }

    /// The configuration, applied by the first call to `prepare()`; `configure` is refused afterwards.
    private static let applied: Threading = {
        let threading = settings.withLock { s -> Threading in
            s.frozen = true
            return s.threading
        }
        if threading == .singleThreadedCalls { openblas_set_num_threads(1) }
        return threading
    }()

    private static let settings = LockedSettings()

    /// The requested threading and whether the first BLAS call has fixed it.
    private struct Settings {
        var threading = Threading.singleThreadedCalls
        var frozen = false
    }

    /// `Settings` behind a lock. `@unchecked Sendable` is safe because `state` is only read or
    /// written inside `withLock`, which holds `lock` for the whole access.
    private final class LockedSettings: @unchecked Sendable {
        private let lock = NSLock()
        private var state = Settings()

        func withLock<T>(_ body: (inout Settings) -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body(&state)
        }
    }
}
