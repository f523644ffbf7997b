import Dispatch
import Foundation

/// Writes an output file so that it appears only when complete: the bytes go to a temporary name
/// in the same folder (`.NAME.PID-N.partial`), the temporary is flushed to disk (`fsync`), renamed
/// over the target, and the folder is flushed so the rename itself survives a crash. Any failure
/// removes the temporary and throws an `MMAttnError` naming the target.
///
/// Temporaries in progress are kept in a process-wide registry. A program (not the library: a host
/// application's signals are its own business) can call `installInterruptCleanup()` once at start so
/// that Ctrl-C or `kill` removes them instead of leaving them behind.
public enum AtomicFile {
    /// Write `data` to `path`, atomically.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { sink in try sink.write(data) }
    }

    /// Write the bytes `body` gives to `sink` to `path`, atomically; `body` may write in as many
    /// pieces as it likes (a large output never has to be held in memory whole). An error thrown by
    /// `body` removes the temporary and is passed on unchanged.
    public static func write(to path: String, _ body: (Sink) throws -> Void) throws {
        let target = URL(fileURLWithPath: path)
        let folder = target.deletingLastPathComponent().path
        let (tmp, fd) = try createTemporary(for: target, file: path)
        var closed = false
        do {
            let sink = Sink(fd: fd, file: path)
            try body(sink)
            guard fsync(fd) == 0 else { throw failure("cannot flush the output file to disk", path) }
            closed = true
            guard close(fd) == 0 else { throw failure("cannot write the output file", path) }
            try registry.withLock { temporaries in
                guard rename(tmp, target.path) == 0 else { throw failure("cannot rename the finished output into place", path) }
                temporaries.remove(tmp)
            }
        } catch {
            if !closed { close(fd) }
            registry.withLock { temporaries in
                unlink(tmp)
                temporaries.remove(tmp)
            }
            throw error
        }
        // The file is complete under its name; flushing the folder makes the rename durable. A
        // folder that cannot be opened or flushed (some network file systems) is not an error.
        let dirfd = open(folder.isEmpty ? "." : folder, O_RDONLY | O_CLOEXEC)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
    }

    /// Rename a finished file, written and held open as `fd`, over `path`: flushed to disk first,
    /// the folder flushed after. `fd` stays open (the caller closes it).
    static func publish(fd: Int32, temporary: String, to path: String) throws {
        guard fsync(fd) == 0 else { throw failure("cannot flush the output file to disk", path) }
        try publish(temporary: temporary, to: path)
    }

    /// Rename a finished file already flushed to disk over `path`, then flush the folder.
    static func publish(temporary: String, to path: String) throws {
        guard rename(temporary, path) == 0 else { throw failure("cannot rename the finished output into place", path) }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let dirfd = open(folder.isEmpty ? "." : folder, O_RDONLY | O_CLOEXEC)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
    }

    /// Appends bytes to the temporary file of one `write(to:_:)` call.
    public struct Sink {
        let fd: Int32
        let file: String

        /// Append `data`; a short write (full disk, file-size limit) throws with the system's reason.
        public func write(_ data: Data) throws {
            try data.withUnsafeBytes { try write($0) }
        }

        /// Append `count` zero bytes.
        public func writeZeros(_ count: Int) throws {
            let zeros = [UInt8](repeating: 0, count: min(count, 1 << 16))
            var left = count
            while left > 0 {
                let n = min(left, zeros.count)
                try zeros.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                left -= n
            }
        }

        /// Append the bytes of `buffer`.
        public func write(_ buffer: UnsafeRawBufferPointer) throws {
            guard var p = buffer.baseAddress else { return }
            var left = buffer.count
            while left > 0 {
                let n = Foundation.write(fd, p, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw failure("cannot write the output file", file)
                }
                if n == 0 { throw MMAttnError("cannot write the output file (no progress writing)", file: file) }
                p += n
                left -= n
            }
        }
    }

    /// Prove that an output can be created at `path` before any work is done: its folder must exist
    /// and accept a new file, and `path` must not be a folder. A temporary is created there and
    /// removed again (checking permission bits is not enough: root ignores them, and a read-only
    /// mount or a full quota shows only when a file is created).
    static func checkWritable(_ path: String) throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw MMAttnError("the output path is a folder: give a file name", file: path)
        }
        let target = URL(fileURLWithPath: path)
        let (tmp, fd) = try createTemporary(for: target, file: path)
        close(fd)
        registry.withLock { temporaries in
            unlink(tmp)
            temporaries.remove(tmp)
        }
    }

    /// Create a new temporary beside `target` and record it in the registry (under the registry's
    /// lock, so an interrupt either comes first and nothing is created, or later and removes it).
    static func createTemporary(for target: URL, file: String) throws -> (path: String, fd: Int32) {
        let folder = target.deletingLastPathComponent().path
        let name = shortened(target.lastPathComponent, maxBytes: 200)
        for _ in 0..<100 {
            let tmp = (folder as NSString).appendingPathComponent(".\(name).\(getpid())-\(nextSerial()).partial")
            let result: Result<Int32, MMAttnError>? = registry.withLock { temporaries in
                let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
                if fd >= 0 {
                    temporaries.insert(tmp)
                    return .success(fd)
                }
                if errno == EEXIST { return nil }  // a leftover of another process: try the next name
                let reason = String(cString: strerror(errno))
                var isFolder: ObjCBool = false
                if !FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) || !isFolder.boolValue {
                    return .failure(MMAttnError("the output folder \(folder) does not exist", file: file))
                }
                return .failure(MMAttnError("cannot create a file in the output folder \(folder) (\(reason))", file: file))
            }
            if let result { return (tmp, try result.get()) }
        }
        throw MMAttnError("cannot create a temporary file in the output folder \(folder)", file: file)
    }

    /// `name` cut to at most `maxBytes` UTF-8 bytes on a character boundary (file names are limited
    /// to 255 bytes, and the temporary adds a prefix and a suffix).
    static func shortened(_ name: String, maxBytes: Int) -> String {
        var out = "", bytes = 0
        for c in name {
            bytes += c.utf8.count
            if bytes > maxBytes { break }
            out.append(c)
        }
        return out
    }

    static func failure(_ what: String, _ file: String) -> MMAttnError {
        MMAttnError("\(what) (\(String(cString: strerror(errno))))", file: file)
    }

    // MARK: temporaries in progress and interrupt cleanup

    /// Temporaries that exist right now, by path.
    static let registry = Registry()

    /// The set of temporaries behind a lock. `@unchecked Sendable` is safe: `paths` is read and
    /// written only inside `withLock`, which holds `lock` for the whole access.
    final class Registry: @unchecked Sendable {
        private let lock = NSLock()
        private var paths: Set<String> = []
        private var serial = 0
        /// Lines printed on stderr when an interrupt ends the process, by key.
        private(set) var notes: [Int: String] = [:]

        func setNote(_ key: Int, _ note: String?) {
            lock.lock()
            defer { lock.unlock() }
            notes[key] = note
        }

        func withLock<T>(_ body: (inout Set<String>) throws -> T) rethrows -> T {
            lock.lock()
            defer { lock.unlock() }
            return try body(&paths)
        }

        func nextSerial() -> Int {
            lock.lock()
            defer { lock.unlock() }
            serial += 1
            return serial
        }

        /// Paths in progress right now (for tests).
        var current: Set<String> { withLock { $0 } }

        /// Remove every temporary and keep the lock forever: nothing can create or rename a
        /// temporary after this, so the process can end without leaving one behind.
        func removeAllAndFreeze() {
            lock.lock()
            for p in paths { unlink(p) }
            paths.removeAll()
            for note in notes.keys.sorted().compactMap({ notes[$0] }) {
                FileHandle.standardError.write(Data(("\ninterrupted: " + note + "\n").utf8))
            }
        }
    }

    static func nextSerial() -> Int { registry.nextSerial() }

    /// Say `note` on stderr should an interrupt end the process (what an unfinished output keeps);
    /// returns a key for `removeInterruptNote`.
    static func addInterruptNote(_ note: String) -> Int {
        let key = nextSerial()
        registry.setNote(key, note)
        return key
    }

    static func removeInterruptNote(_ key: Int) { registry.setNote(key, nil) }

    /// For programs (the `mmattn` CLI), once at start, before other threads run: on SIGINT (Ctrl-C)
    /// or SIGTERM remove the temporaries of unfinished outputs, then end the process by that same
    /// signal, so the shell reports the conventional status (130 for SIGINT, 143 for SIGTERM) and a
    /// shell loop stops. Also ignores SIGXFSZ, so a write over the file-size limit (`ulimit -f`)
    /// fails with an error (and cleanup) instead of killing the process.
    ///
    /// The library never calls this itself: a host application's signals are its own business.
    /// The signals are received through Dispatch signal sources with their default action set to
    /// ignore, so the cleanup runs on a queue, not inside a signal handler. Calling it again does
    /// nothing.
    public static func installInterruptCleanup() {
        interruptCleanup.install()
    }

    private static let interruptCleanup = InterruptCleanup()

    /// The installed signal sources (kept alive for the life of the process). `@unchecked
    /// Sendable` is safe: `sources` is read and written only while `lock` is held.
    private final class InterruptCleanup: @unchecked Sendable {
        private let lock = NSLock()
        private var sources: [DispatchSourceSignal] = []
        private let queue = DispatchQueue(label: "mmattn.interrupt-cleanup")

        func install() {
            lock.lock()
            defer { lock.unlock() }
            guard sources.isEmpty else { return }
            signal(SIGXFSZ, SIG_IGN)
            for sig in [SIGINT, SIGTERM] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                source.setEventHandler { AtomicFile.cleanUpAndExit(signal: sig) }
                source.resume()
                sources.append(source)
            }
        }
    }

    /// Remove the temporaries, then end the process by `sig` with its default action (or, should
    /// that not end it, exit with 128 + `sig`).
    static func cleanUpAndExit(signal sig: Int32) -> Never {
        registry.removeAllAndFreeze()
        signal(sig, SIG_DFL)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, sig)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        raise(sig)
        _exit(128 + sig)
    }
}
