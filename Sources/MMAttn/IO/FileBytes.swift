import Foundation

/// Reading a whole small file (configs, `.npy` arrays) with the checks every reader needs before
/// it allocates: a regular file (not a FIFO, a device or a folder, whose size says nothing), at
/// most `limit` bytes by `fstat`, and no more bytes kept than that size even if the file grows.
enum FileBytes {
    /// The bytes of `path`; `tooLarge(size)` is the error for a file past `limit` bytes.
    static func read(_ path: String, limit: Int, tooLarge: (Int) -> MMAttnError) throws -> Data {
        func failure(_ what: String) -> MMAttnError {
            MMAttnError("cannot read the file (\(what))", file: path)
        }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)  // O_NONBLOCK: a FIFO must not block the open
        guard fd >= 0 else { throw failure(String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure(String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw failure("not a regular file") }
        let size = Int(info.st_size)
        guard size <= limit else { throw tooLarge(size) }
        var data = Data(count: size)
        let got = try data.withUnsafeMutableBytes { raw -> Int in
            var total = 0
            while total < size {
                let n = Foundation.read(fd, raw.baseAddress! + total, size - total)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw failure(String(cString: strerror(errno)))
                }
                if n == 0 { break }
                total += n
            }
            return total
        }
        if got < size { data.count = got }
        return data
    }
}
