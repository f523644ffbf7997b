#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One FASTA record.
public struct FastaRecord: Sendable, Equatable {
    /// The first whitespace-separated word of the header.
    public let id: String
    /// The rest of the header (without the separating whitespace), possibly empty.
    public let description: String
    /// The residues, upper case, without line breaks, blanks or a final `*`.
    public let sequence: String
    /// The 1-based line number of the header in the file; for a reader of one part of a file
    /// (`range`), counted from the part's first line.
    public let line: Int
    /// The byte offset of the header's `>` in the file.
    public let offset: Int64

    public init(id: String, description: String, sequence: String, line: Int, offset: Int64 = 0) {
        self.id = id
        self.description = description
        self.sequence = sequence
        self.line = line
        self.offset = offset
    }
}

/// A streaming FASTA reader: reads the file through a fixed-size buffer and yields one record at a time,
/// so memory holds one record (at most `maxResidues` residues) plus the ids seen so far (for duplicates).
///
/// Accepted: `>id description` headers, sequences over any number of lines, LF or CRLF line ends, blank lines,
/// spaces and tabs inside sequence lines (ignored), lower case (upper-cased), a leading UTF-8 byte-order mark,
/// and a `*` (stop codon) at the very end of a record, which is dropped with a warning.
/// Rejected with an error naming the file, line (and column) and record: residues before the first header,
/// a header without an id, a record without residues, a duplicate id, a character that is not a residue
/// (of `alphabet`, or without one: a letter, `.` or `-`), a `*` inside a record, control characters, NUL bytes
/// or bytes that are not UTF-8, a record longer than `maxResidues`, a header longer than `maxHeaderBytes`,
/// and a file without records.
public final class FastaReader {
    /// Default bound on the residues of one record.
    public static let defaultMaxResidues = 100_000_000
    /// Bound on the length of one header line.
    public static let maxHeaderBytes = 1 << 20

    /// The file being read.
    public let path: String
    /// Records that ended with a `*` (dropped) so far, and the first of them.
    public private(set) var stopCodonRecords = 0
    public private(set) var firstStopCodon: (id: String, line: Int, offset: Int64)?

    /// One line about the dropped stop codons so far, or nil: a summary, not a line per record.
    public var stopCodonSummary: String? {
        guard let first = firstStopCodon else { return nil }
        let which = stopCodonRecords == 1
            ? "\(location(line: first.line, offset: first.offset)): record '\(first.id)' ends"
            : "\(stopCodonRecords) records end (the first: '\(first.id)', \(location(line: first.line, offset: first.offset)))"
        return "\(path): \(which) with '*' (stop codon); dropped it"
    }

    private let maxResidues: Int
    private let alphabetDescription: String
    /// Byte class table, 256 entries: a residue byte maps to its upper-case form (>= `Code.firstResidue`),
    /// the other bytes to one of the `Code` values.
    private let table: [UInt8]

    private enum Code {
        static let invalid: UInt8 = 0, blank: UInt8 = 1, newline: UInt8 = 2, carriageReturn: UInt8 = 3, stop: UInt8 = 4
        static let firstResidue: UInt8 = 0x21
    }
    private enum Mode { case lineStart, header, sequence }

    // File and buffer.
    private let fd: Int32
    /// Size of the file when it is a regular file (not a pipe), for progress estimates.
    public let fileSize: Int64?
    /// The file offset just past the last byte consumed.
    public var bytesRead: Int64 { bufferOffset + Int64(pos) }
    /// Where this reader starts (a record boundary) and where records stop being its own: a
    /// record whose header starts at or after `endOffset` belongs to the next part.
    public let startOffset: Int64
    public let endOffset: Int64?
    /// The fraction of the file (or of the part) read so far; nil for a pipe.
    public var fractionRead: Double? {
        guard let size = fileSize else { return nil }
        return Shard.fraction(position: bytesRead, start: startOffset, end: endOffset ?? size)
    }
    /// Lines before `startOffset`, once known (0 for a reader from the file's start).
    private var lineBase: Int?
    /// Set once the first record of the next part is reached.
    private var stopped = false
    private let seekable: Bool
    private let capacity: Int
    private let buffer: UnsafeMutablePointer<UInt8>
    private var pos = 0, end = 0
    private var bufferOffset: Int64 = 0  // file offset of buffer[0]
    private var atEndOfFile = false
    private var sniffed = false

    // Parse state.
    private var mode = Mode.lineStart
    private var lineNumber = 1
    private var consumedInLine = 0  // bytes of the current line before buffer[pos]
    private var carriageReturnPending = false
    private var header: [UInt8] = []
    private var headerLine = 0
    private var headerOffset: Int64 = 0

    // Current record.
    private var current: (id: String, description: String, line: Int, offset: Int64)?
    private var residues: [UInt8] = []
    private var stop: (line: Int, column: Int)?
    private var recordCount = 0
    private var failure: MMAttnError?

    // Ids seen: 64-bit hashes in a compact table (8 bytes a slot, at most 80 % full: some 10-20 bytes
    // per record, so a database of millions of records costs megabytes, not gigabytes). A hash seen
    // before sends the reader back over the headers it read to find the earlier record (a duplicate,
    // an error) or learn that two ids share a hash; such ids, and all ids of a file that cannot be
    // re-read (a pipe), are kept whole in `exactIds` (id -> header line).
    private var idHashes = IdHashSet()
    private var exactIds: [String: Int] = [:]

    /// Opens `path`. With `alphabet`, residues are checked against its one-character tokens; without, any
    /// letter, `.` and `-` are residues.
    /// With `range`, only the records whose header starts inside it are read (one part of the file,
    /// `Shard.byteRange`): reading begins at the first header at or after its start, and nothing
    /// before it is read (except the file's first bytes, checked to be text).
    public convenience init(path: String, alphabet: ESMAlphabet?, maxResidues: Int = FastaReader.defaultMaxResidues,
                            range: Range<Int64>? = nil) throws {
        try self.init(path: path, alphabet: alphabet, maxResidues: maxResidues, bufferSize: 1 << 20, range: range)
    }

    init(path: String, alphabet: ESMAlphabet?, maxResidues: Int, bufferSize: Int, range: Range<Int64>? = nil) throws {
        self.path = path
        self.maxResidues = max(1, maxResidues)
        var table = [UInt8](repeating: Code.invalid, count: 256)
        table[Int(UInt8(ascii: " "))] = Code.blank
        table[Int(UInt8(ascii: "\t"))] = Code.blank
        table[Int(UInt8(ascii: "\n"))] = Code.newline
        table[Int(UInt8(ascii: "\r"))] = Code.carriageReturn
        table[Int(UInt8(ascii: "*"))] = Code.stop
        var allowed: [UInt8] = []
        for b in UInt8(0x21)..<0x7F where b != UInt8(ascii: "*") && b != UInt8(ascii: ">") {
            let upper = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) ? b - 32 : b
            let isResidue: Bool
            if let alphabet { isResidue = alphabet.byteIds[Int(upper)] >= 0 } else {
                isResidue = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(upper)
                    || upper == UInt8(ascii: ".") || upper == UInt8(ascii: "-")
            }
            if isResidue {
                table[Int(b)] = upper
                if upper == b { allowed.append(b) }
            }
        }
        self.table = table
        let letters = String(decoding: allowed.filter { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }, as: UTF8.self)
        let symbols = allowed.filter { $0 < UInt8(ascii: "A") || $0 > UInt8(ascii: "Z") }.map { "'\(Character(Unicode.Scalar($0)))'" }
        alphabetDescription = alphabet == nil ? "letters, '.' and '-'"
            : "the model alphabet's letters \(letters) (either case)" + (symbols.isEmpty ? "" : " and " + symbols.joined(separator: ", "))

        fd = open(path, O_RDONLY)
        if fd < 0 { throw MMAttnError("cannot open the FASTA file: \(String(cString: strerror(errno)))", file: path) }
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw MMAttnError("is a folder, not a FASTA file", file: path)
        }
        seekable = lseek(fd, 0, SEEK_CUR) >= 0
        fileSize = (info.st_mode & S_IFMT) == S_IFREG ? Int64(info.st_size) : nil
        capacity = max(16, bufferSize)
        buffer = .allocate(capacity: capacity)
        let knownSize = fileSize
        let whole = range.map { r in r.lowerBound <= 0 && knownSize.map { r.upperBound >= $0 } == true } ?? true
        endOffset = whole ? nil : range?.upperBound
        guard let range, !whole else {
            startOffset = 0
            lineBase = 0
            return
        }
        guard let size = fileSize, seekable else {
            buffer.deallocate()
            close(fd)
            throw MMAttnError("a part (--shard) of the input needs a regular file, not a pipe or device", file: path)
        }
        do {
            // The file's first bytes say whether it is text at all; then go to the part's first record.
            let n = try RecordBoundary.readAt(fd, buffer, capacity, 0, file: path)
            _ = try Self.sniff(UnsafeBufferPointer(start: buffer, count: n), path: path)
            startOffset = try RecordBoundary.firstStart(fd: fd, size: size, from: range.lowerBound, kind: .fastaHeader, file: path)
        } catch {
            buffer.deallocate()
            close(fd)
            throw error
        }
        if startOffset > 0 {
            sniffed = true
            bufferOffset = startOffset
            lseek(fd, off_t(startOffset), SEEK_SET)
        } else {
            lineBase = 0
        }
    }

    deinit {
        buffer.deallocate()
        close(fd)
    }

    /// The next record in file order, or nil after the last one. Throws `MMAttnError` on malformed input
    /// (and again on every later call).
    public func next() throws -> FastaRecord? {
        if let failure { throw failure }
        do {
            return try advance()
        } catch let error as MMAttnError {
            failure = error
            throw error
        }
    }

    private func fail(_ message: String) -> MMAttnError { MMAttnError(message, file: path) }

    private var recordName: String {
        guard let current else { return "" }
        return " in record '\(current.id)' (header at line \(line(current.line)))"
    }

    private func advance() throws -> FastaRecord? {
        if stopped { return nil }
        while true {
            if pos == end {
                if try !refill() { return try finishFile() }
                continue
            }
            switch mode {
            case .lineStart:
                if buffer[pos] == UInt8(ascii: ">") {
                    // The file's first record starts at byte 0, a byte-order mark before it or not.
                    let start = bufferOffset + Int64(pos) <= 3 && lineNumber == 1 ? 0 : bufferOffset + Int64(pos)
                    if let endOffset, start >= endOffset {
                        stopped = true  // the next part's first record
                        return try finishRecord()
                    }
                    headerLine = lineNumber
                    headerOffset = bufferOffset + Int64(pos)
                    header.removeAll(keepingCapacity: true)
                    pos += 1
                    consumedInLine = 1
                    mode = .header
                    if let record = try finishRecord() { return record }
                } else {
                    mode = .sequence
                }
            case .header:
                try scanHeader()
            case .sequence:
                try scanSequence()
            }
        }
    }

    /// Reads the next chunk; false at the end of the file. The first chunk is checked for binary content.
    private func refill() throws -> Bool {
        if atEndOfFile { return false }
        bufferOffset += Int64(end)
        pos = 0
        end = 0
        while true {
            let n = read(fd, buffer, capacity)
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("read failed at byte \(bufferOffset): \(String(cString: strerror(errno)))")
            }
            if n == 0 { atEndOfFile = true; return false }
            end = n
            break
        }
        if !sniffed {
            sniffed = true
            try sniffFirstChunk()
        }
        return true
    }

    /// Rejects a file whose start is not text (NUL bytes or invalid UTF-8), and skips a UTF-8 byte-order mark.
    private func sniffFirstChunk() throws {
        pos = try Self.sniff(UnsafeBufferPointer(start: buffer, count: end), path: path)
    }

    /// Checks the first bytes of a file: compressed or binary content is an error. Returns the
    /// length of a UTF-8 byte-order mark at the start (0 or 3).
    private static func sniff(_ bytes: UnsafeBufferPointer<UInt8>, path: String) throws -> Int {
        func fail(_ message: String) -> MMAttnError { MMAttnError(message, file: path) }
        let compressed: [(magic: [UInt8], format: String, tool: String)] = [
            ([0x1F, 0x8B], "gzip", "gunzip -c"), ([0x42, 0x5A, 0x68], "bzip2", "bzip2 -dc"),
            ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "xz", "xz -dc"), ([0x28, 0xB5, 0x2F, 0xFD], "zstd", "zstd -dc"),
        ]
        for c in compressed where bytes.starts(with: c.magic) {
            throw fail("\(c.format)-compressed: decompress it first, or stream it: "
                       + "\(c.tool) \(path) | mmattn embed-protein /dev/stdin ...")
        }
        if let bad = UTF8Text.firstInvalidByte(bytes, rejectingNUL: true, allowingTruncatedEnd: true) {
            let line = 1 + bytes[..<bad].reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            let what = bytes[bad] == 0 ? "a NUL byte" : "the byte \(FastaText.hex(bytes[bad])), which is not UTF-8"
            throw fail("not a text file: \(what) at byte \(bad) (line \(line)); expected FASTA text "
                       + "('>id description' header lines followed by residue lines)")
        }
        return bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    }

    private func scanHeader() throws {
        let start = buffer + pos
        let available = end - pos
        let newline = memchr(start, Int32(UInt8(ascii: "\n")), available)
        let length = newline.map { UnsafeMutableRawPointer(mutating: $0) - UnsafeMutableRawPointer(start) } ?? available
        if header.count + length > Self.maxHeaderBytes {
            throw fail("line \(line(headerLine)): the header is longer than \(Self.maxHeaderBytes) bytes; "
                       + "is this a FASTA file?")
        }
        header.append(contentsOf: UnsafeBufferPointer(start: start, count: length))
        if newline == nil {
            pos = end
            return
        }
        pos += length + 1
        try startRecord()
        lineNumber += 1
        consumedInLine = 0
        mode = .lineStart
    }

    /// Scans sequence bytes up to the end of the line or of the buffer.
    private func scanSequence() throws {
        if carriageReturnPending {
            carriageReturnPending = false
            if buffer[pos] != UInt8(ascii: "\n") { try throwInvalid(at: pos - 1, byte: UInt8(ascii: "\r")) }
        }
        try table.withUnsafeBufferPointer { table in
            var p = pos
            var runStart = p
            while p < end {
                let code = table[Int(buffer[p])]
                if code >= Code.firstResidue {
                    buffer[p] = code
                    p += 1
                    continue
                }
                if p > runStart { try appendResidues(from: runStart, to: p) }
                switch code {
                case Code.newline:
                    pos = p + 1
                    lineNumber += 1
                    consumedInLine = 0
                    mode = .lineStart
                    return
                case Code.blank:
                    break
                case Code.carriageReturn:
                    if p + 1 < end {
                        if buffer[p + 1] != UInt8(ascii: "\n") { try throwInvalid(at: p, byte: buffer[p]) }
                    } else {
                        carriageReturnPending = true
                    }
                case Code.stop:
                    let column = consumedInLine + (p - pos) + 1
                    if let stop {
                        throw fail("line \(line(lineNumber)), column \(column): a second '*' (stop) after the one at line "
                                   + "\(line(stop.line)), column \(stop.column)\(recordName); '*' may only end a record")
                    }
                    if current == nil { try throwResiduesBeforeHeader() }
                    stop = (lineNumber, column)
                default:
                    try throwInvalid(at: p, byte: buffer[p])
                }
                p += 1
                runStart = p
            }
            if p > runStart { try appendResidues(from: runStart, to: p) }
            consumedInLine += end - pos
            pos = end
        }
    }

    private func appendResidues(from start: Int, to stopIndex: Int) throws {
        if current == nil { try throwResiduesBeforeHeader() }
        if let stop {
            throw fail("line \(line(stop.line)), column \(stop.column): '*' (stop codon) inside the sequence\(recordName); "
                       + "'*' is only accepted as the last character of a record")
        }
        let count = stopIndex - start
        if residues.count + count > maxResidues {
            throw fail("line \(line(lineNumber))\(recordName): the record is longer than \(maxResidues) residues; "
                       + "split it or check the file")
        }
        residues.append(contentsOf: UnsafeBufferPointer(start: buffer + start, count: count))
    }

    private func throwResiduesBeforeHeader() throws -> Never {
        throw fail("line \(line(lineNumber)): sequence data before the first header; every record must start with a "
                   + "'>id description' line")
    }

    /// Throws the error for a byte that is not a residue at buffer index `p` of the current line.
    private func throwInvalid(at p: Int, byte: UInt8) throws -> Never {
        let column = consumedInLine + (p - pos) + 1
        let place = "line \(line(lineNumber)), column \(column)\(recordName)"
        if byte == 0 {
            throw fail("\(place): a NUL byte; this is binary data, not FASTA text")
        }
        if byte >= 0x80 {
            let rest = UnsafeBufferPointer(start: buffer + p, count: end - p)
            if let scalar = FastaText.decodeScalar(rest) {
                throw fail("\(place): '\(Character(scalar))' (U+\(String(scalar.value, radix: 16, uppercase: true))) "
                           + "is not a residue; residues are \(alphabetDescription)")
            }
            throw fail("\(place): the byte \(FastaText.hex(byte)) is not UTF-8; this is not FASTA text")
        }
        if byte < 0x20 || byte == 0x7F {
            let name = byte == UInt8(ascii: "\r") ? "a carriage return (CR) not followed by a line feed" : "control character"
            throw fail("\(place): \(name) (\(FastaText.hex(byte))); is this a text file?")
        }
        let c = Character(Unicode.Scalar(byte))
        throw fail("\(place): '\(c)' is not a residue; residues are \(alphabetDescription)")
    }

    /// Parses the header bytes collected in `header` and starts a new record.
    private func startRecord() throws {
        if header.last == UInt8(ascii: "\r") { header.removeLast() }
        try header.withUnsafeBufferPointer { bytes in
            if let bad = UTF8Text.firstInvalidByte(bytes, rejectingNUL: true) {
                let column = 2 + FastaText.scalarCount(UnsafeBufferPointer(rebasing: bytes[..<bad]))
                let what = bytes[bad] == 0 ? "a NUL byte" : "the byte \(FastaText.hex(bytes[bad])), which is not UTF-8"
                throw fail("line \(line(headerLine)), column \(column): \(what) in the header; is this a text file?")
            }
            if let bad = bytes.firstIndex(where: { ($0 < 0x20 && $0 != UInt8(ascii: "\t")) || $0 == 0x7F }) {
                let column = 2 + FastaText.scalarCount(UnsafeBufferPointer(rebasing: bytes[..<bad]))
                throw fail("line \(line(headerLine)), column \(column): control character \(FastaText.hex(bytes[bad])) in the "
                           + "header; is this a text file?")
            }
        }
        let isBlank = { (b: UInt8) in b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }
        let idStart = header.firstIndex { !isBlank($0) } ?? header.endIndex
        let idEnd = header[idStart...].firstIndex(where: isBlank) ?? header.endIndex
        if idStart == idEnd {
            throw fail("line \(line(headerLine)): the header has no id; write '>id description' (the id is the first word)")
        }
        let descStart = header[idEnd...].firstIndex { !isBlank($0) } ?? header.endIndex
        let descEnd = (header[descStart...].lastIndex { !isBlank($0) }).map { $0 + 1 } ?? descStart
        let id = String(decoding: header[idStart..<idEnd], as: UTF8.self)
        let description = String(decoding: header[descStart..<descEnd], as: UTF8.self)
        try checkUnique(id, idBytes: header[idStart..<idEnd])
        current = (id, description, headerLine, headerOffset)
        residues.removeAll(keepingCapacity: residues.capacity <= 1 << 24)
        stop = nil
    }

    private func checkUnique(_ id: String, idBytes: ArraySlice<UInt8>) throws {
        func duplicate(of earlier: Int) -> MMAttnError {
            fail("line \(line(headerLine)): the id '\(id)' was already used by the record at line \(earlier); "
                 + "ids (the first word of each header) must be unique")
        }
        if !exactIds.isEmpty, let earlier = exactIds[id] { throw duplicate(of: line(earlier)) }
        guard seekable else { exactIds[id] = headerLine; return }
        let hash = keyedHash(Array(idBytes))  // keyed: ids built to collide would make every one re-read the file
        if idHashes.insert(hash) { return }
        if let earlier = try headerLine(of: Array(idBytes), before: headerOffset) { throw duplicate(of: line(earlier)) }
        exactIds[id] = headerLine
    }

    /// The line (counted from this reader's start) of the first header before `offset` whose id is
    /// `id`, or nil: reads the headers again (only when an id's hash was seen before).
    private func headerLine(of id: [UInt8], before offset: Int64) throws -> Int? {
        let chunk = 1 << 20
        var bytes = [UInt8](repeating: 0, count: chunk)
        var at = startOffset
        if startOffset == 0 {
            // Past a byte-order mark: the first header starts the first line all the same.
            var mark = [UInt8](repeating: 0, count: 3)
            let n = try mark.withUnsafeMutableBytes { try RecordBoundary.readAt(fd, $0.baseAddress!, 3, 0, file: path) }
            if n == 3 && mark == [0xEF, 0xBB, 0xBF] { at = 3 }
        }
        var local = 1, lineStart = true
        // While reading a header's id: its bytes so far (leading blanks skipped), in one buffer.
        var readingId = false
        var word: [UInt8] = []
        while at < offset {
            let n = try bytes.withUnsafeMutableBytes {
                try RecordBoundary.readAt(fd, $0.baseAddress!, Int(min(Int64(chunk), offset - at)), at, file: path)
            }
            if n == 0 { break }
            for b in bytes[..<n] {
                let endOfLine = b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r")
                if readingId {
                    if endOfLine || b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") {
                        if !word.isEmpty || endOfLine {
                            if word == id { return local }
                            readingId = false
                        }
                    } else if word.count < id.count {
                        word.append(b)
                    } else {
                        readingId = false  // longer than `id`
                    }
                } else if lineStart && b == UInt8(ascii: ">") {
                    readingId = true
                    word.removeAll(keepingCapacity: true)
                }
                lineStart = b == UInt8(ascii: "\n")
                if lineStart { local += 1 }
            }
            at += Int64(n)
        }
        return nil
    }

    /// The 1-based line number of the byte at `offset` (counts line feeds before it; only on the error path).
    private func lineNumber(atOffset offset: Int64) throws -> Int {
        1 + (try RecordBoundary.lineFeeds(fd: fd, before: offset, file: path))
    }

    /// The file's line number of `local`, a line counted from where this reader started. A reader
    /// of one part of a file counts the lines before its part only when a message needs them.
    private func line(_ local: Int) -> Int {
        if lineBase == nil { lineBase = (try? lineNumber(atOffset: startOffset)).map { $0 - 1 } }
        return local + (lineBase ?? 0)
    }

    /// Where a record is, for a message: its line, or its byte offset when this reader reads a
    /// part of the file (whose line numbers would take a read of everything before it).
    public func location(line: Int, offset: Int64) -> String {
        startOffset == 0 ? "line \(line)" : "byte \(offset)"
    }

    /// Ends the current record (if any) and returns it.
    private func finishRecord() throws -> FastaRecord? {
        guard let record = current else { return nil }
        if residues.isEmpty {
            throw fail("line \(line(record.line)): record '\(record.id)' has no residues; remove the header or add its sequence")
        }
        if let stop {
            stopCodonRecords += 1
            if stopCodonRecords == 1 { firstStopCodon = (record.id, stop.line, record.offset) }
        }
        current = nil
        recordCount += 1
        return FastaRecord(id: record.id, description: record.description,
                           sequence: String(decoding: residues, as: UTF8.self), line: record.line,
                           offset: record.offset)
    }

    private func finishFile() throws -> FastaRecord? {
        if mode == .header {
            try startRecord()
            mode = .lineStart
        }
        if let record = try finishRecord() { return record }
        if recordCount == 0 {
            if bufferOffset == 0 && end == 0 { throw fail("the file is empty; expected FASTA records ('>id' lines followed by residues)") }
            if startOffset > 0 || endOffset != nil { return nil }  // a part of the file may hold no record
            throw fail("no FASTA records in the file; expected '>id description' header lines followed by residues")
        }
        return nil
    }
}

/// A set of 64-bit hashes, open addressing with linear probing, 8 bytes a slot and at most 80 %
/// full. 0 marks an empty slot, so a hash of 0 is stored as 1.
struct IdHashSet {
    private var slots = [UInt64](repeating: 0, count: 1024)
    private var count = 0

    /// Insert `hash`; false when it was there already.
    mutating func insert(_ hash: UInt64) -> Bool {
        if (count + 1) * 5 > slots.count * 4 { grow() }
        let key = hash == 0 ? 1 : hash
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: key) & mask
        while slots[i] != 0 {
            if slots[i] == key { return false }
            i = (i + 1) & mask
        }
        slots[i] = key
        count += 1
        return true
    }

    private mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: old.count * 2)
        count = 0
        for key in old where key != 0 { _ = insert(key) }
    }
}

/// UTF-8 checks for the FASTA reader.
enum FastaText {
    /// The scalar encoded at the start of `bytes`, if they start with well-formed UTF-8.
    static func decodeScalar(_ bytes: UnsafeBufferPointer<UInt8>) -> Unicode.Scalar? {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        if case .scalarValue(let s) = decoder.decode(&iterator) { return s }
        return nil
    }

    /// `0xAB`.
    static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return "0x" + (digits.count == 1 ? "0" : "") + digits
    }

    /// Number of scalars in well-formed UTF-8 (bytes that do not start with 10xxxxxx).
    static func scalarCount(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        bytes.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
    }
}
