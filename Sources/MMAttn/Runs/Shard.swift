#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The K-th of N contiguous parts of an input (`--shard K/N`). A file is cut by bytes: part K
/// covers bytes `[size·K/N, size·(K+1)/N)`, and a record (a FASTA record, a line) belongs to the
/// part in which its first byte lies, as Hadoop splits text files. No part reads the bytes before
/// its range, and the parts of 0..<N, concatenated, hold every record once and in order.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// K, counted from 0.
    public let index: Int
    /// N, at least 1.
    public let count: Int

    /// The whole input: part 0 of 1.
    public static let whole = Shard(uncheckedIndex: 0, count: 1)

    init(uncheckedIndex index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Part `index` of `count`; throws unless 0 <= index < count.
    public init(index: Int, count: Int) throws {
        guard count >= 1, (0..<count).contains(index) else {
            throw MMAttnError("--shard \(index)/\(count): K must be at least 0 and less than N (for example 0/4 to 3/4)")
        }
        self.init(uncheckedIndex: index, count: count)
    }

    /// Parses `K/N`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw MMAttnError("--shard takes K/N (the K-th of N parts, K from 0), for example 0/4; got \"\(text)\"")
        }
        try self.init(index: k, count: n)
    }

    public var isWhole: Bool { count == 1 }

    public var description: String { "\(index)/\(count)" }

    /// This part's byte range of a file of `size` bytes.
    public func byteRange(size: Int64) -> Range<Int64> {
        func cut(_ k: Int) -> Int64 {
            // size·k/N in 128 bits: no overflow for any size and N.
            Int64(count).dividingFullWidth(size.multipliedFullWidth(by: Int64(k))).quotient
        }
        return cut(index)..<cut(index + 1)
    }

    /// This part's items of a list of `count` items (arguments given on the command line).
    public func itemRange(count items: Int) -> Range<Int> {
        let range = byteRange(size: Int64(items))
        return Int(range.lowerBound)..<Int(range.upperBound)
    }

    /// How far a reader of this part is: the fraction of the part's bytes `[start, end)` before
    /// `position`.
    public static func fraction(position: Int64, start: Int64, end: Int64) -> Double {
        Double(position - start) / Double(max(1, end - start))
    }
}

/// Finding record boundaries inside a file, for reading one part of it.
enum RecordBoundary {
    /// What starts a record: any line, or a line that starts with `>` (a FASTA header).
    enum Kind { case line, fastaHeader }

    /// The offset of the first record that starts at or after `offset`: the start of a line (the
    /// file's start, or the byte after a line feed) that, for FASTA, begins with `>`. Returns the
    /// file's size when no record starts there. Reads forward from `offset - 1` only; offset 0 is
    /// the start of the first part, whatever the file holds there.
    static func firstStart(fd: Int32, size: Int64, from offset: Int64, kind: Kind, file: String) throws -> Int64 {
        // The first part starts at the file's start, whatever is there (a byte-order mark, or
        // residues before the first header, which the reader reports).
        if offset <= 0 { return 0 }
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk)
        var at = offset - 1
        var afterNewline = false  // the byte at `at` starts a line
        while at < size {
            let n = try buffer.withUnsafeMutableBytes { try readAt(fd, $0.baseAddress!, min(chunk, Int(size - at)), at, file: file) }
            if n == 0 { break }
            for i in 0..<n {
                let b = buffer[i]
                if afterNewline && at + Int64(i) >= offset && (kind == .line || b == UInt8(ascii: ">")) {
                    return at + Int64(i)
                }
                afterNewline = b == UInt8(ascii: "\n")
            }
            at += Int64(n)
        }
        return size
    }

    /// `pread` that retries on interruption; throws with the system's reason.
    static func readAt(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64, file: String) throws -> Int {
        while true {
            let n = pread(fd, buffer, count, off_t(offset))
            if n >= 0 { return n }
            if errno != EINTR { throw MMAttnError("read failed at byte \(offset): \(String(cString: strerror(errno)))", file: file) }
        }
    }

    /// Line feeds in the first `count` bytes of the file (for line numbers inside a part, on error
    /// paths only: it reads everything before).
    static func lineFeeds(fd: Int32, before count: Int64, file: String) throws -> Int {
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var lines = 0
        var at: Int64 = 0
        while at < count {
            let n = try buffer.withUnsafeMutableBytes { try readAt(fd, $0.baseAddress!, Int(min(Int64(chunk), count - at)), at, file: file) }
            if n == 0 { break }
            lines += buffer.withUnsafeBufferPointer { p in
                var c = 0
                for i in 0..<n where p[i] == UInt8(ascii: "\n") { c += 1 }
                return c
            }
            at += Int64(n)
        }
        return lines
    }
}
