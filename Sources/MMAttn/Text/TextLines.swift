import Foundation

/// UTF-8 checks for text input: invalid bytes are an error that says where, unless the caller
/// asks for lossy decoding (each invalid sequence becomes U+FFFD, as Python's `errors="replace"`).
public enum UTF8Text {
    /// The byte offset of the first byte that is not part of valid UTF-8 (overlong forms,
    /// surrogates and values past U+10FFFF are invalid), or nil when all of `bytes` is valid. With
    /// `rejectingNUL`, a NUL byte counts as invalid; with `allowingTruncatedEnd`, a sequence cut
    /// off by the end of `bytes` does not.
    public static func firstInvalidByte(_ bytes: UnsafeBufferPointer<UInt8>, rejectingNUL: Bool = false,
                                        allowingTruncatedEnd: Bool = false) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b == 0 && rejectingNUL { return i }
            if b < 0x80 { i += 1; continue }
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF  // the second byte's range
            switch b {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0               // overlong below
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F              // surrogates above
            case 0xF0: length = 4; low = 0x90               // overlong below
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F              // past U+10FFFF above
            default: return i
            }
            for k in 1..<length {
                if i + k >= n { return allowingTruncatedEnd ? nil : i }
                let c = bytes[i + k]
                if k == 1 ? !(low...high).contains(c) : c & 0xC0 != 0x80 { return i }
            }
            i += length
        }
        return nil
    }

    /// `bytes` as a String: checked (throwing an error that names `what` and the byte offset), or
    /// lossy.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, lossy: Bool, what: @autoclosure () -> String, file: String? = nil) throws -> String {
        if !lossy, let bad = firstInvalidByte(bytes) {
            throw MMAttnError("\(what()): invalid UTF-8 at byte offset \(bad) (byte 0x\(String(bytes[bad], radix: 16, uppercase: true))); "
                              + "convert the text to UTF-8, or pass --lossy-utf8 to replace invalid bytes with U+FFFD", file: file)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The lines of a text file, read a block at a time so a file of any size streams: one text per
/// line, `\n` or `\r\n` endings, a UTF-8 byte order mark skipped. Empty lines are texts too; the
/// newline that ends the file does not start another.
///
/// With a byte `range` (one part of the file, `Shard.byteRange`), only the lines that start inside
/// it are read, and nothing before it (except the file's first bytes, checked for UTF-16).
public final class TextLineReader {
    public let path: String
    public let lossy: Bool
    /// Bytes of the file (nil for pipes), and the offset just past what was consumed.
    public let totalBytes: Int?
    public private(set) var bytesRead = 0
    /// Where reading starts (a line start) and where lines stop being this reader's.
    public let startOffset: Int64
    public let endOffset: Int64?
    /// Lines handed out so far.
    public private(set) var lineNumber = 0
    /// The fraction of the file (or of the part) read so far; nil for a pipe.
    public var fractionRead: Double? {
        guard let total = totalBytes else { return nil }
        return Shard.fraction(position: Int64(bytesRead), start: startOffset, end: endOffset ?? Int64(total))
    }
    /// The byte offset in the file of each line the last `next` returned (a byte-order mark counts
    /// as part of the first line).
    public private(set) var offsets: [Int64] = []
    private let handle: FileHandle
    private var pending: [UInt8] = []
    /// Where the unread part of `pending` starts (consumed lines are dropped once per block), and
    /// the file offset of `pending[0]`.
    private var offset = 0
    private var pendingStart: Int64
    private var atStart: Bool
    private var finished = false

    static let blockSize = 1 << 20

    public init(path: String, lossy: Bool, range: Range<Int64>? = nil) throws {
        self.path = path
        self.lossy = lossy
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw MMAttnError("file not found", file: path) }
        guard !isDir.boolValue else { throw MMAttnError("is a folder; --input takes a text file with one text per line", file: path) }
        guard let h = FileHandle(forReadingAtPath: path) else { throw MMAttnError("cannot open the file for reading", file: path) }
        handle = h
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        totalBytes = (attributes?[.type] as? FileAttributeType) == .typeRegular ? (attributes?[.size] as? NSNumber)?.intValue : nil
        let knownSize = totalBytes
        let whole = range.map { r in r.lowerBound <= 0 && knownSize.map { r.upperBound >= Int64($0) } == true } ?? true
        endOffset = whole ? nil : range?.upperBound
        guard let range, !whole, range.lowerBound > 0 else {
            startOffset = 0
            pendingStart = 0
            atStart = true
            return
        }
        guard let size = totalBytes else {
            throw MMAttnError("a part (--shard) of the input needs a regular file, not a pipe or device", file: path)
        }
        let fd = h.fileDescriptor
        var first = [UInt8](repeating: 0, count: 2)
        let n = try first.withUnsafeMutableBytes { try RecordBoundary.readAt(fd, $0.baseAddress!, 2, 0, file: path) }
        try Self.checkNotUTF16(first[..<n], path: path)
        startOffset = try RecordBoundary.firstStart(fd: fd, size: Int64(size), from: range.lowerBound, kind: .line, file: path)
        pendingStart = startOffset
        bytesRead = Int(startOffset)
        atStart = false
        do { try h.seek(toOffset: UInt64(startOffset)) } catch {
            throw MMAttnError("cannot seek to byte \(startOffset) (\(error.localizedDescription))", file: path)
        }
    }

    deinit { try? handle.close() }

    /// Up to `count` more lines, or nil at the end of the file (or of the part).
    public func next(_ count: Int) throws -> [String]? {
        var lines: [String] = []
        offsets.removeAll(keepingCapacity: true)
        while lines.count < count {
            // The file's first line starts at byte 0, a byte-order mark before it or not.
            let lineStart = lineNumber == 0 && startOffset == 0 ? 0 : pendingStart + Int64(offset)
            if let endOffset, lineStart >= endOffset {
                finished = true  // the next part's first line
                pending = []
                offset = 0
                break
            }
            if let newline = pending[offset...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > offset && pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                lines.append(try line(pending[offset..<end]))
                offsets.append(lineStart)
                offset = newline + 1
                continue
            }
            if finished {
                if offset < pending.count {
                    lines.append(try line(pending[offset...]))
                    offsets.append(lineStart)
                }
                pending = []; offset = 0
                break
            }
            let block: Data
            do { block = try handle.read(upToCount: Self.blockSize) ?? Data() } catch {
                throw MMAttnError("cannot read the file (\(error.localizedDescription))", file: path)
            }
            if block.isEmpty { finished = true; continue }
            bytesRead += block.count
            pending.removeSubrange(..<offset)
            pendingStart += Int64(offset)
            offset = 0
            pending.append(contentsOf: block)
            try checkStart()
        }
        return lines.isEmpty && finished && pending.isEmpty ? nil : lines
    }

    private func checkStart() throws {
        guard atStart else { return }
        atStart = false
        try Self.checkNotUTF16(pending.prefix(2), path: path)
        if pending.starts(with: [0xEF, 0xBB, 0xBF]) {
            pending.removeFirst(3)
            pendingStart = 3
        }
    }

    private static func checkNotUTF16(_ first: ArraySlice<UInt8>, path: String) throws {
        if first.starts(with: [0xFF, 0xFE]) || first.starts(with: [0xFE, 0xFF]) {
            throw MMAttnError("the file is UTF-16 text; convert it to UTF-8 first (for example iconv -f UTF-16 -t UTF-8)", file: path)
        }
    }

    private func line(_ bytes: ArraySlice<UInt8>) throws -> String {
        lineNumber += 1
        let number = lineNumber
        return try bytes.withUnsafeBufferPointer {
            try UTF8Text.decode($0, lossy: lossy, what: "line \(fileLine(number))", file: path)
        }
    }

    /// The file's line number of the `local`-th line this reader handed out: a reader of one part
    /// counts the lines before its part only when a message needs them.
    private func fileLine(_ local: Int) -> Int {
        guard startOffset > 0 else { return local }
        return local + ((try? RecordBoundary.lineFeeds(fd: handle.fileDescriptor, before: startOffset, file: path)) ?? 0)
    }
}
