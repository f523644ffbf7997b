import Foundation

/// A read-only memory mapping of a whole regular file, unmapped when the last tensor viewing it is
/// gone. `@unchecked Sendable` is safe: the mapping is read-only (`PROT_READ`) and its address and
/// length never change, so any thread may read through it while an owner keeps it alive.
final class FileMapping: @unchecked Sendable {
    let base: UnsafeRawPointer
    let length: Int

    private init(base: UnsafeRawPointer, length: Int) {
        self.base = base
        self.length = length
    }

    /// Map the regular file `path` read-only; `what` names it in errors ("PyTorch weights file").
    /// An empty file, a folder or a device is refused before mapping.
    convenience init(readOnly path: String, what: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MMAttnError("cannot open the \(what) (\(String(cString: strerror(errno))))", file: path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw MMAttnError("cannot read the \(what) (\(String(cString: strerror(errno))))", file: path) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw MMAttnError("not a regular file: expected a \(what)", file: path) }
        let size = Int(st.st_size)
        guard size > 0 else { throw MMAttnError("the file is empty (0 bytes), not a \(what): download it again", file: path) }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw MMAttnError("cannot map the \(what) into memory (\(String(cString: strerror(errno))))", file: path)
        }
        self.init(base: UnsafeRawPointer(p), length: size)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), length) }
}
