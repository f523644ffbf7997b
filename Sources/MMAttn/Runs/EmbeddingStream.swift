#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Writes an embedding command's output as records finish, so memory does not grow with their
/// number, and lets a run killed at any moment (SIGKILL included) continue where it stopped
/// (`--resume`), to a file byte for byte equal to an uninterrupted run's.
///
/// While it runs, hidden files beside the output F hold its state:
/// - `.F.partial`: the data. With `.rows` in `.npy` or `.safetensors`, this is already the output
///   file: room for the header, then each row at its place. Otherwise the values of what was put,
///   back to back, and `.F.partial-index` lists each tensor's name and shape (one JSON line each).
/// - `.F.partial-ids`: the record ids in row order, one JSON string per line.
/// - `.F.resume`: the journal: the run's description and what is committed (records, the
///   caller's position, bytes of each file). It is replaced atomically, after the data it counts
///   is flushed; what was written after the last commit is done again by a resumed run.
///
/// `finish` completes the output (writes the header, or assembles the file from the tensors),
/// writes the ids file (`<F without extension>.ids.jsonl`: a first line with the run, then one id
/// per line as a JSON string), renames F into place and removes the rest. Until then nothing
/// exists under F's name. A lock on `.F.partial` keeps a second process off the same output.
public final class EmbeddingStream {
    /// What the records give.
    public enum Layout: Sendable, Equatable {
        /// One row of this shape per record, stored at the record's index: the output is [N, shape...].
        case rows([Int])
        /// Tensors of any shape, stored in the order they are put.
        case tensors
    }

    /// How the tensors of a `.tensors` stream become the output.
    public enum Assembly: Sendable {
        /// One tensor per name (`.safetensors` only).
        case named
        /// Stacked under `name` into [N, ...]. Shapes that differ only in their first axis are
        /// zero-padded to the longest when `padFirstAxis`; otherwise differing shapes give one
        /// tensor per record, named by its id, in a `.safetensors` output and an error in others.
        /// Without records the output is [0, emptyRowShape...].
        case stacked(name: String, padFirstAxis: Bool, emptyRowShape: [Int])
    }

    /// What a run had committed: records done and the caller's own position (for example the
    /// window and batch of a protein run).
    public struct Committed: Sendable, Equatable {
        public let records: Int
        public let position: [Int]
    }

    public let path: String
    public let format: OutputFile.Format
    public let run: RunDescription
    public let layout: Layout
    /// What an interrupted run had finished, when this stream continues it.
    public private(set) var resumed: Committed?
    /// Records committed so far (the resumed ones included).
    public private(set) var committed = Committed(records: 0, position: [])

    private let dataPath: String, indexPath: String, idsPath: String, journalPath: String, readyIdsPath: String
    private let data: Int32
    private var index: Int32 = -1, ids: Int32 = -1
    /// Bytes reserved for the header at the start of `.partial` (`.rows` in .npy / .safetensors).
    private let headerRoom: Int
    private let rowBytes: Int
    private var rowCount = 0
    private var dataBytes: Int64 = 0, indexBytes: Int64 = 0, idsBytes: Int64 = 0
    /// A bound on the `.safetensors` header of the tensors put so far (`.tensors`).
    private var headerEstimate = 0
    private var lastCommit = Date.distantPast
    private var interruptNote: Int?

    /// The ids file that goes with `path`: `means.npy` → `means.ids.jsonl`.
    public static func idsPath(for path: String) -> String {
        ((path as NSString).deletingPathExtension) + ".ids.jsonl"
    }

    /// Whether `finish` wrote an ids file (stacked outputs do; one tensor per name does not).
    public private(set) var wroteIds = false

    /// The hidden files of a run into the output `dir/F`: `dir/.F.partial` and the rest.
    struct StateFiles {
        let data, index, ids, journal, readyIds: String

        init(output path: String) {
            let folder = (path as NSString).deletingLastPathComponent
            let base = (folder.isEmpty ? "" : folder + "/") + "." + AtomicFile.shortened((path as NSString).lastPathComponent, maxBytes: 200)
            data = base + ".partial"
            index = base + ".partial-index"
            ids = base + ".partial-ids"
            journal = base + ".resume"
            readyIds = base + ".ids"
        }
    }

    /// What one tensor adds at most to a `.safetensors` header: its name and some 80 bytes of
    /// dtype, shape and offsets.
    private static func headerEstimate(name: String) -> Int { name.utf8.count + 80 }

    /// Opens the stream for `path`. With `resume`, continues the run the journal describes (which
    /// must be `run`); without, discards any unfinished run there (with a warning) and starts anew.
    public init(path: String, layout: Layout, run: RunDescription, resume: Bool) throws {
        self.path = path
        self.format = try OutputFile.format(of: path)
        self.run = run
        self.layout = layout
        let files = StateFiles(output: path)
        (dataPath, indexPath, idsPath, journalPath, readyIdsPath) = (files.data, files.index, files.ids, files.journal, files.readyIds)
        if case .rows(let shape) = layout {
            rowBytes = shape.reduce(1, *) * 4
            headerRoom = format == .json ? 0 : Self.headerRoom(format: format, rowShape: shape, run: run)
        } else {
            rowBytes = 0
            headerRoom = 0
        }

        let fd = open(dataPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        guard fd >= 0 else {
            throw MMAttnError("cannot create \(dataPath) for the output (\(String(cString: strerror(errno))))", file: path)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw MMAttnError("another mmattn process is writing this output (it holds \(dataPath)); wait for it or choose another --output",
                              file: path)
        }
        data = fd
        do {
            // Without --resume, even a damaged journal only means there is state to discard.
            let journal = resume ? try Self.readJournal(journalPath, output: path) : (try? Self.readJournal(journalPath, output: path)) ?? nil
            if resume, let journal {
                if let difference = journal.run.difference(from: run) {
                    throw MMAttnError("the unfinished run in \(dataPath) differs in \(difference); run that command to finish it, "
                                      + "or leave out --resume to start this one over", file: path)
                }
                try reopen(journal)
            } else {
                if let journal {
                    Diagnostics.warn("\(path): discarding an unfinished run of \(journal.committed.records) records; "
                                     + "pass --resume to continue such a run instead")
                }
                try startOver()
            }
        } catch {
            close(fd)
            if index >= 0 { close(index) }
            if ids >= 0 { close(ids) }
            throw error
        }
        interruptNote = AtomicFile.addInterruptNote(
            "\(path): the finished records are kept; run the same command with --resume to continue")
    }

    deinit {
        if let interruptNote { AtomicFile.removeInterruptNote(interruptNote) }
        close(data)
        if index >= 0 { close(index) }
        if ids >= 0 { close(ids) }
    }

    // MARK: putting records

    /// Store record `index`'s row (`.rows`): [shape...] as the layout says.
    public func put(row tensor: Tensor, at index: Int) throws {
        guard case .rows(let shape) = layout, tensor.shape == shape else {
            throw MMAttnError("row \(index) has shape \(tensor.shape), not the output's row shape", file: path)
        }
        let offset = Int64(headerRoom) + Int64(index) * Int64(rowBytes)
        try withExtendedLifetime(tensor) {
            try writeAll(data, UnsafeRawBufferPointer(start: tensor.pointer, count: rowBytes), at: offset, file: dataPath)
        }
        rowCount = max(rowCount, index + 1)
    }

    /// Store a tensor under `name` (`.tensors`), after the ones put before.
    public func put(_ tensor: Tensor, name: String) throws {
        guard layout == .tensors else { throw MMAttnError("this output takes rows, not named tensors", file: path) }
        let bytes = tensor.count * 4
        try withExtendedLifetime(tensor) {
            try writeAll(data, UnsafeRawBufferPointer(start: tensor.pointer, count: bytes), at: dataBytes, file: dataPath)
        }
        dataBytes += Int64(bytes)
        let line = "{\"name\": \(JSON.quote(name)), \"shape\": [\(tensor.shape.map(String.init).joined(separator: ", "))]}\n"
        try writeAll(index, line, at: indexBytes, file: indexPath)
        indexBytes += Int64(line.utf8.count)
        headerEstimate += Self.headerEstimate(name: name)
        if format == .safetensors && headerEstimate > SafetensorsFile.maxHeaderBytes {
            throw MMAttnError("too many tensors for one .safetensors file (its header would pass the 100 MB readers accept); "
                              + "write a .npy output, or split the input with --shard", file: path)
        }
    }

    /// Append the ids of the next records, in row order.
    public func appendIds(_ names: [String]) throws {
        guard !names.isEmpty else { return }
        let text = names.map { JSON.quote($0) + "\n" }.joined()
        try writeAll(ids, text, at: idsBytes, file: idsPath)
        idsBytes += Int64(text.utf8.count)
    }

    /// Record that the first `records` records are done and stored, with the caller's `position`.
    /// The journal is written at most once a second; a resumed run starts from the last one written.
    public func commit(records: Int, position: [Int] = []) throws {
        committed = Committed(records: records, position: position)
        guard Date().timeIntervalSince(lastCommit) >= 1 else { return }
        lastCommit = Date()
        for fd in [data, index, ids] where fd >= 0 {
            guard fsync(fd) == 0 else { throw AtomicFile.failure("cannot flush the unfinished output to disk", path) }
        }
        let journal = "{\"mmattn_resume\": 1, \"run\": \(run.json), \"records\": \(records), "
            + "\"position\": [\(position.map(String.init).joined(separator: ", "))], \"rows\": \(rowCount), "
            + "\"data_bytes\": \(dataBytes), \"index_bytes\": \(indexBytes), \"ids_bytes\": \(idsBytes)}\n"
        try AtomicFile.write(Data(journal.utf8), to: journalPath)
    }

    /// After an error: remove the run's files. An error (bad input, a full disk) ends a run for
    /// good, as it would without streaming; an interruption (a signal, a crash, a lost machine)
    /// is what `--resume` continues.
    public func discard() {
        for file in [journalPath, dataPath, indexPath, idsPath, readyIdsPath] { unlink(file) }
    }

    // MARK: finishing

    /// Complete the output: rows `0..<records` must all have been put (`.rows`). The ids go to a
    /// hidden file first, the output is put in place, then the ids file, then the run's state is
    /// removed: a kill at any step leaves what `--resume` completes (`isComplete`). Describes what
    /// was written ("float32 [3, 384]"). With `dropsLoneAxis`, one record gives its row's shape
    /// without the leading axis (one input given to embed-image or embed-audio).
    @discardableResult
    public func finish(records: Int, assembly: Assembly = .named, dropsLoneAxis: Bool = false) throws -> String {
        let description: String
        switch layout {
        case .rows(let rowShape):
            guard rowCount == records else {
                throw MMAttnError("\(rowCount) rows were written for \(records) records", file: path)
            }
            let shape = dropsLoneAxis && records == 1 ? rowShape : [records] + rowShape
            try writeIds(rows: records, shape: shape)
            if format == .json {
                let rowBytes = rowShape.reduce(1, *) * 4
                try AtomicFile.write(to: path) { sink in
                    try renderJSON(rowShape: rowShape, outerAxis: shape.count > rowShape.count, sink: sink) { row in
                        for r in 0..<records { try row(Int64(r) * Int64(rowBytes), rowBytes) }
                    }
                }
                unlink(dataPath)
            } else {
                let header = try Self.stackedHeader(format: format, name: "embedding", rowShape: rowShape, shape: shape, run: run)
                guard header.count == headerRoom else {
                    throw MMAttnError("the output's header does not fit the room left for it", file: path)
                }
                try writeAll(data, header, at: 0, file: dataPath)
                guard ftruncate(data, off_t(headerRoom + shape.reduce(1, *) * 4)) == 0 else {
                    throw AtomicFile.failure("cannot set the output's size", path)
                }
                try AtomicFile.publish(fd: data, temporary: dataPath, to: path)
            }
            description = "float32 \(shape)"
        case .tensors:
            description = try finishTensors(assembly, records: records, dropsLoneAxis: dropsLoneAxis)
            unlink(dataPath)
        }
        if wroteIds { try AtomicFile.publish(temporary: readyIdsPath, to: Self.idsPath(for: path)) }
        for file in [journalPath, indexPath, idsPath] { unlink(file) }
        return description
    }

    /// `.tensors`: assemble the output from the tensors in `.partial`, reading the index as it goes.
    private func finishTensors(_ assembly: Assembly, records: Int, dropsLoneAxis: Bool) throws -> String {
        guard case .stacked(let name, let pad, let emptyRowShape) = assembly else {
            guard format == .safetensors else { throw MMAttnError("one tensor per name needs a .safetensors output", file: path) }
            let count = try writeNamed()
            return "\(count) tensors for \(records) records"
        }
        // First pass: can the tensors stack (equal shapes, or equal but for the first axis when padded)?
        var first: Entry?, mismatch: Entry?, count = 0, longest = 0
        try forEachEntry { e in
            count += 1
            longest = max(longest, e.shape.first ?? 1)
            guard let f = first else { first = e; return }
            let stacks = e.shape == f.shape || (pad && e.shape.count == f.shape.count && e.shape.dropFirst() == f.shape.dropFirst())
            if !stacks && mismatch == nil { mismatch = e }
        }
        if let first, let other = mismatch {
            guard format == .safetensors else {
                throw Embeddings.mismatchError(((first.name, first.shape), (other.name, other.shape))).inFile(path)
            }
            let count = try writeNamed()
            return "\(count) tensors, one per input"
        }
        let rowShape = first.map { [longest] + $0.shape.dropFirst() } ?? emptyRowShape
        let shape = dropsLoneAxis && count == 1 ? rowShape : [count] + rowShape
        let rowBytes = rowShape.reduce(1, *) * 4
        try writeIds(rows: count, shape: shape)
        try AtomicFile.write(to: path) { sink in
            let eachRow = { (row: (Int64, Int) throws -> Void) throws in try self.forEachEntry { try row($0.offset, Int($0.bytes)) } }
            if format == .json {
                try renderJSON(rowShape: rowShape, outerAxis: shape.count > rowShape.count, sink: sink, eachRow: eachRow)
                return
            }
            try sink.write(try Self.stackedHeader(format: format, name: name, rowShape: rowShape, shape: shape, run: run))
            try eachRow { offset, bytes in
                try RunFiles.copy(data, from: offset, count: Int64(bytes), file: dataPath, to: sink)
                if bytes < rowBytes { try sink.writeZeros(rowBytes - bytes) }
            }
        }
        return "float32 \(shape)"
    }

    /// One tensor's place in `.partial`.
    private struct Entry { let name: String; let shape: [Int]; let offset: Int64; var bytes: Int64 { Int64(shape.reduce(1, *) * 4) } }

    /// Call `body` with each tensor of the index, in order, reading the index a block at a time.
    private func forEachEntry(_ body: (Entry) throws -> Void) throws {
        guard index >= 0 else { return }
        let damaged = MMAttnError("the unfinished output's index is damaged; start over without --resume", file: indexPath)
        var offset: Int64 = 0, at: Int64 = 0
        var pending: [UInt8] = []
        var block = [UInt8](repeating: 0, count: 1 << 20)
        while at < indexBytes {
            let want = Int(min(Int64(block.count), indexBytes - at))
            let n = try block.withUnsafeMutableBytes {
                try RunFiles.readAll(index, UnsafeMutableRawBufferPointer(rebasing: $0[..<want]), at: at, file: indexPath)
            }
            guard n > 0 else { throw damaged }
            at += Int64(n)
            pending += block[..<n]
            var start = 0
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                guard let o = (try? JSON.parse(Data(pending[start..<newline])))?.object, let name = o["name"]?.string,
                      let shape = o["shape"]?.array?.compactMap(\.int) else { throw damaged }
                let e = Entry(name: name, shape: shape, offset: offset)
                offset += e.bytes
                try body(e)
                start = newline + 1
            }
            pending.removeFirst(start)
        }
        guard pending.isEmpty, offset == dataBytes else {
            throw MMAttnError("the unfinished output's index does not match its data; start over without --resume", file: indexPath)
        }
    }

    /// A `.safetensors` file with one tensor per entry, in the order they were put; returns how
    /// many. Its header (at most 100 MB, checked as tensors are put) is built in memory.
    private func writeNamed() throws -> Int {
        var entries: [(name: String, shape: [Int], offset: Int64)] = []
        var seen = Set<String>()
        try forEachEntry { e in
            guard seen.insert(e.name).inserted else {
                throw MMAttnError("two tensors are named \(e.name); a .safetensors file holds one per name", file: path)
            }
            entries.append((e.name, e.shape, e.offset))
        }
        let header = try SafetensorsWriter.header(entries, metadata: run.metadata)
        try AtomicFile.write(to: path) { sink in
            try sink.write(header)
            try RunFiles.copy(data, from: 0, count: dataBytes, file: dataPath, to: sink)
        }
        return entries.count
    }

    /// The ids file, to its hidden name: the run with the output's shape, then one id per line.
    private func writeIds(rows: Int, shape: [Int]) throws {
        guard Self.idsPath(for: path) != path else { return }
        try AtomicFile.write(to: readyIdsPath) { sink in
            try sink.write(Data("{\"mmattn_ids\": 1, \"rows\": \(rows), \"shape\": \(shape), \"run\": \(run.json)}\n".utf8))
            if ids >= 0 { try RunFiles.copy(ids, from: 0, count: idsBytes, file: idsPath, to: sink) }
        }
        wroteIds = true
    }

    /// JSON nested arrays of the rows `eachRow` gives as (offset, bytes) in `.partial`, each
    /// zero-padded to `rowShape`: [rows, row shape...], or without `outerAxis` the one row alone.
    private func renderJSON(rowShape: [Int], outerAxis: Bool, sink: AtomicFile.Sink,
                            eachRow: ((Int64, Int) throws -> Void) throws -> Void) throws {
        if outerAxis { try sink.write(Data("[".utf8)) }
        var first = true
        try eachRow { offset, bytes in
            let row = Tensor(zeros: rowShape)
            _ = try RunFiles.readAll(data, UnsafeMutableRawBufferPointer(start: row.data, count: bytes), at: offset, file: dataPath)
            var text = first ? "" : ","
            first = false
            try OutputFile.appendJSON(row, into: &text, flushingAt: 1 << 16) { try sink.write(Data($0.utf8)) }
            try sink.write(Data(text.utf8))
        }
        if outerAxis { try sink.write(Data("]".utf8)) }
    }

    // MARK: the header of a stacked output

    /// The header of a stacked `.npy` or `.safetensors` output of `shape` (rows of `rowShape`),
    /// grown to the room any row count needs: written in place before the rows are known, it is
    /// the same for a run, its parts merged, and a resumed run. A `.npy` header of up to four
    /// axes is the one `numpy.save` writes.
    public static func stackedHeader(format: OutputFile.Format, name: String, rowShape: [Int], shape: [Int],
                                     run: RunDescription) throws -> Data {
        let exact = format == .npy ? NPY.header(shape: shape)
            : try SafetensorsWriter.header([(name, shape, 0)], metadata: run.metadata)
        return padded(exact, to: headerRoom(format: format, rowShape: rowShape, run: run, name: name), format: format)
    }

    /// Bytes the header of a stacked output of rows of `rowShape` needs for any row count: 19
    /// digits for the count (and, in `.safetensors`, 19 for the end offset).
    static func headerRoom(format: OutputFile.Format, rowShape: [Int], run: RunDescription, name: String = "embedding") -> Int {
        if format == .npy { return NPY.header(shape: [Int.max] + rowShape).count }
        let base = (try? SafetensorsWriter.header([(name, [0] + rowShape, 0)], metadata: run.metadata).count) ?? 0
        return (base + 38 + 7) / 8 * 8
    }

    /// `header` grown with spaces to `room` bytes, which both formats allow before their data.
    static func padded(_ header: Data, to room: Int, format: OutputFile.Format) -> Data {
        guard header.count < room else { return header }
        var out = header
        let extra = room - header.count
        switch format {
        case .npy:
            // Spaces before the final newline; the 2-byte length after the magic grows with them.
            out.removeLast()
            out.append(Data(repeating: 0x20, count: extra))
            out.append(0x0A)
            let length = UInt16(room - 10)
            out[8] = UInt8(length & 0xFF)
            out[9] = UInt8(length >> 8)
        default:
            out.append(Data(repeating: 0x20, count: extra))
            var length = UInt64(room - 8).littleEndian
            withUnsafeBytes(of: &length) { out.replaceSubrange(0..<8, with: $0) }
        }
        return out
    }

    // MARK: starting and resuming

    private struct Journal {
        let run: RunDescription
        let committed: Committed
        let rows: Int, dataBytes: Int64, indexBytes: Int64, idsBytes: Int64
    }

    private static func readJournal(_ journalPath: String, output: String) throws -> Journal? {
        guard FileManager.default.fileExists(atPath: journalPath) else { return nil }
        let damaged = MMAttnError("the journal of an unfinished run (\(journalPath)) is damaged; start over without --resume", file: output)
        guard let o = (try? JSON.load(contentsOf: journalPath))?.object, o["mmattn_resume"]?.int == 1,
              let runObject = o["run"]?.object, let records = o["records"]?.int, let position = o["position"]?.array?.compactMap(\.int),
              let rows = o["rows"]?.int, let dataBytes = o["data_bytes"]?.int, let indexBytes = o["index_bytes"]?.int,
              let idsBytes = o["ids_bytes"]?.int else { throw damaged }
        return Journal(run: try RunDescription(json: runObject, file: journalPath), committed: Committed(records: records, position: position),
                       rows: rows, dataBytes: Int64(dataBytes), indexBytes: Int64(indexBytes), idsBytes: Int64(idsBytes))
    }

    /// Continue from what `journal` committed: later writes are cut off and done again.
    private func reopen(_ journal: Journal) throws {
        ids = try openState(idsPath, truncatingTo: journal.idsBytes)
        if layout == .tensors {
            index = try openState(indexPath, truncatingTo: journal.indexBytes)
            guard ftruncate(data, off_t(journal.dataBytes)) == 0 else { throw AtomicFile.failure("cannot reopen the unfinished output", path) }
        }
        var info = stat()
        guard fstat(data, &info) == 0, Int64(info.st_size) >= journal.dataBytes else {
            throw MMAttnError("the unfinished output \(dataPath) is shorter than its journal says; start over without --resume", file: path)
        }
        dataBytes = journal.dataBytes
        indexBytes = journal.indexBytes
        idsBytes = journal.idsBytes
        rowCount = journal.rows
        committed = journal.committed
        resumed = journal.committed
        if layout == .tensors { try forEachEntry { headerEstimate += Self.headerEstimate(name: $0.name) } }
    }

    private func startOver() throws {
        unlink(journalPath)
        unlink(readyIdsPath)
        guard ftruncate(data, 0) == 0 else { throw AtomicFile.failure("cannot start the output", path) }
        index = layout == .tensors ? try openState(indexPath, truncatingTo: 0) : -1
        ids = try openState(idsPath, truncatingTo: 0)
    }

    private func openState(_ file: String, truncatingTo size: Int64) throws -> Int32 {
        let fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw MMAttnError("cannot create \(file) (\(String(cString: strerror(errno))))", file: path) }
        if ftruncate(fd, off_t(size)) != 0 {
            close(fd)
            throw AtomicFile.failure("cannot prepare \(file)", path)
        }
        return fd
    }

    /// Whether `path` already holds the finished output of `run` (a repeated `--resume` of a
    /// finished run, as a requeued array task does, has nothing left to do). A run killed after
    /// its output was in place is completed: its ids file put in place, its state removed. An
    /// output with the unfinished data of a run beside it is not complete.
    public static func isComplete(path: String, run: RunDescription) -> Bool {
        let files = StateFiles(output: path)
        guard FileManager.default.fileExists(atPath: path), !FileManager.default.fileExists(atPath: files.data) else { return false }
        if FileManager.default.fileExists(atPath: files.readyIds) {
            guard (try? AtomicFile.publish(temporary: files.readyIds, to: idsPath(for: path))) != nil else { return false }
        }
        guard described(path) == run else { return false }
        for file in [files.journal, files.index, files.ids] { unlink(file) }
        return true
    }

    /// The run a finished output says made it: its ids file's first line, or its metadata.
    private static func described(_ path: String) -> RunDescription? {
        if let h = FileHandle(forReadingAtPath: idsPath(for: path)) {
            defer { try? h.close() }
            guard let head = try? h.read(upToCount: 1 << 16), let end = head.firstIndex(of: 0x0A),
                  let o = (try? JSON.parse(head[..<end]))?.object, let r = o["run"]?.object else { return nil }
            return try? RunDescription(json: r, file: path)
        }
        guard (try? OutputFile.format(of: path)) == .safetensors, let file = try? SafetensorsFile(path: path) else { return nil }
        return (try? RunDescription(metadata: file.metadata, file: path)) ?? nil
    }

    // MARK: file access

    private func writeAll(_ fd: Int32, _ text: String, at offset: Int64, file: String) throws {
        var text = text
        try text.withUTF8 { try writeAll(fd, UnsafeRawBufferPointer($0), at: offset, file: file) }
    }

    private func writeAll(_ fd: Int32, _ bytes: Data, at offset: Int64, file: String) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0, at: offset, file: file) }
    }

    private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, file: String) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + Int64(done)))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw AtomicFile.failure("cannot write \(file)", path) }
            done += n
        }
    }
}

/// Reading the files of runs and parts: whole buffers at an offset, and copies into an output.
enum RunFiles {
    /// Fill `buffer` from `offset` (less only at the end of the file); returns the bytes read.
    static func readAll(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int64, file: String) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = try RecordBoundary.readAt(fd, buffer.baseAddress! + done, buffer.count - done, offset + Int64(done), file: file)
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Append `count` bytes of `fd` from `offset` to `sink`, 8 MB at a time.
    static func copy(_ fd: Int32, from offset: Int64, count: Int64, file: String, to sink: AtomicFile.Sink) throws {
        var buffer = [UInt8](repeating: 0, count: Int(min(max(count, 1), 8 << 20)))
        var at = offset
        while at < offset + count {
            let want = Int(min(Int64(buffer.count), offset + count - at))
            let n = try buffer.withUnsafeMutableBytes { try readAll(fd, UnsafeMutableRawBufferPointer(rebasing: $0[..<want]), at: at, file: file) }
            guard n == want else { throw MMAttnError("the file ends before the bytes its index counts", file: file) }
            try buffer.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            at += Int64(n)
        }
    }
}
