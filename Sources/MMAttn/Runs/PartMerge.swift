#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Joins the outputs of a run's parts (`--shard K/N`, one file each) into the output the whole
/// run writes: it checks that they come from the same command, model, input and options and that
/// every part 0..<N is there once, then concatenates them in part order, streaming (memory does
/// not grow with the rows). `.npy` parts need their ids files; stacked outputs whose rows were
/// zero-padded to their part's longest (`--pooling none` of text) are padded to the longest of all.
public enum PartMerge {
    /// One part: its file, what run and part it is, and where its rows are.
    struct Part {
        let path: String
        let run: RunDescription
        /// [rows, row shape...] of a stacked output; nil for one tensor per name.
        let shape: [Int]?
        /// Where the stacked rows start in the file.
        let dataStart: Int64
        let safetensors: SafetensorsFile?
    }

    /// Merge `parts` into `output` (same format); returns what was written ("float32 [N, D]").
    @discardableResult
    public static func merge(_ parts: [String], into output: String) throws -> String {
        guard !parts.isEmpty else { throw MMAttnError("give the parts to merge") }
        let format = try OutputFile.format(of: output)
        guard format != .json else {
            throw MMAttnError("merge writes .npy or .safetensors (the formats whose parts it can check); choose one of them", file: output)
        }
        for p in parts where try OutputFile.format(of: p) != format {
            throw MMAttnError("is not a .\(format.rawValue) file like the output; parts and output share one format", file: p)
        }
        if parts.contains(output) { throw MMAttnError("is one of the parts; write the merged file elsewhere", file: output) }
        var loaded = try parts.map { try format == .npy ? npyPart($0) : safetensorsPart($0) }

        // One run, every part once.
        let first = loaded[0]
        for p in loaded.dropFirst() {
            if let difference = first.run.whole.difference(from: p.run.whole) {
                throw MMAttnError("comes from another run than \(first.path): it differs in \(difference)", file: p.path)
            }
            if p.run.shard.count != first.run.shard.count {
                throw MMAttnError("is part \(p.run.shard) but \(first.path) is part \(first.run.shard): the parts of one run share N", file: p.path)
            }
        }
        let n = first.run.shard.count
        var byIndex: [Int: Part] = [:]
        for p in loaded {
            if let other = byIndex[p.run.shard.index] {
                throw MMAttnError("is part \(p.run.shard), as \(other.path) is: give each part once", file: p.path)
            }
            byIndex[p.run.shard.index] = p
        }
        let missing = (0..<n).filter { byIndex[$0] == nil }
        guard missing.isEmpty else {
            let list = missing.prefix(10).map { "\($0)/\(n)" }.joined(separator: ", ") + (missing.count > 10 ? ", ..." : "")
            throw MMAttnError("parts \(list) of \(first.run.input) are missing: merge needs all \(n) parts", file: output)
        }
        loaded = (0..<n).map { byIndex[$0]! }
        let run = first.run.whole

        if loaded.contains(where: { $0.shape == nil }) {
            guard loaded.allSatisfy({ $0.shape == nil }) else {
                throw MMAttnError("mixes parts with one tensor per name and stacked parts", file: output)
            }
            return try mergeNamed(loaded, run: run, into: output)
        }
        return try mergeStacked(loaded, run: run, format: format, into: output)
    }

    /// Rows stacked: [Σ rows, row shape], rows zero-padded along their first axis where parts differ there.
    private static func mergeStacked(_ parts: [Part], run: RunDescription, format: OutputFile.Format, into output: String) throws -> String {
        let shapes = parts.map { $0.shape! }
        // Parts without rows say nothing about the rows' shape.
        let withRows = zip(parts, shapes).filter { $0.1[0] > 0 }
        let reference = withRows.first ?? (parts[0], shapes[0])
        var rowShape = Array(reference.1.dropFirst())
        for (p, shape) in withRows {
            let tail = Array(shape.dropFirst())
            guard tail != rowShape else { continue }
            guard tail.count == rowShape.count, tail.count >= 2, tail.dropFirst() == rowShape.dropFirst() else {
                throw MMAttnError("has rows of shape \(tail), but \(reference.0.path) has rows of shape \(Array(reference.1.dropFirst()))",
                                  file: p.path)
            }
            rowShape[0] = max(rowShape[0], tail[0])
        }
        let shape = [shapes.reduce(0) { $0 + $1[0] }] + rowShape
        let rowBytes = Int64(rowShape.reduce(1, *) * 4)
        let name = parts.compactMap { $0.safetensors?.names.first }.first ?? "embedding"
        // The ids first, to a hidden name, renamed beside the output once it is in place.
        let ids = try writeIds(parts, run: run, shape: shape, output: output)
        defer { if let ids { unlink(ids) } }  // renamed away on success
        try AtomicFile.write(to: output) { sink in
            try sink.write(try EmbeddingStream.stackedHeader(format: format, name: name, rowShape: rowShape, shape: shape, run: run))
            for p in parts {
                let partRow = Int64(p.shape!.dropFirst().reduce(1, *) * 4)
                let fd = try openFile(p.path)
                defer { close(fd) }
                if partRow == rowBytes {
                    try RunFiles.copy(fd, from: p.dataStart, count: Int64(p.shape![0]) * partRow, file: p.path, to: sink)
                    continue
                }
                for r in 0..<Int64(p.shape![0]) {
                    try RunFiles.copy(fd, from: p.dataStart + r * partRow, count: partRow, file: p.path, to: sink)
                    try sink.writeZeros(Int(rowBytes - partRow))
                }
            }
        }
        if let ids { try AtomicFile.publish(temporary: ids, to: EmbeddingStream.idsPath(for: output)) }
        return "float32 \(shape) from \(parts.count) parts"
    }

    /// One tensor per name, the parts' tensors in part order.
    private static func mergeNamed(_ parts: [Part], run: RunDescription, into output: String) throws -> String {
        var entries: [(name: String, shape: [Int], offset: Int64)] = []
        var seen: [String: String] = [:]
        var offset: Int64 = 0
        for p in parts {
            let file = p.safetensors!
            for name in file.names {
                if let other = seen[name] { throw MMAttnError("holds \(name), as \(other) does: a name may come from one part only", file: p.path) }
                seen[name] = p.path
                let info = file.entries[name]!
                guard info.dtype == .F32 else { throw MMAttnError("tensor \(name) is \(info.dtype.rawValue), not F32", file: p.path) }
                entries.append((name, info.shape, offset))
                offset += Int64(info.byteCount)
            }
        }
        let header = try SafetensorsWriter.header(entries, metadata: run.metadata)
        try AtomicFile.write(to: output) { sink in
            try sink.write(header)
            for p in parts {
                for name in p.safetensors!.names { try p.safetensors!.withBytes(name) { try sink.write($0) } }
            }
        }
        return "\(entries.count) tensors from \(parts.count) parts"
    }

    /// The merged ids file, written to a hidden name (returned; nil when a part has no ids file):
    /// the whole run's first line, then every part's ids in order. FASTA ids must be unique, as the
    /// whole run checks: each part checked its own, so the ids are checked across parts here.
    private static func writeIds(_ parts: [Part], run: RunDescription, shape: [Int], output: String) throws -> String? {
        let idsFiles = parts.map { EmbeddingStream.idsPath(for: $0.path) }
        guard idsFiles.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else { return nil }
        let hidden = EmbeddingStream.StateFiles(output: output).readyIds
        var seen = IdHashSet()
        try AtomicFile.write(to: hidden) { sink in
            try sink.write(Data("{\"mmattn_ids\": 1, \"rows\": \(shape[0]), \"shape\": \(shape), \"run\": \(run.json)}\n".utf8))
            for (k, ids) in idsFiles.enumerated() {
                try forEachIdLine(ids) { line in
                    if run.command == "embed-protein" && !seen.insert(hashLine(line)) {
                        // A hash seen before: find the earlier part with the same id (two ids sharing a hash find none).
                        for earlier in idsFiles[..<k] {
                            var found = false
                            try forEachIdLine(earlier) { if $0 == line { found = true } }
                            guard found else { continue }
                            throw MMAttnError("the id \(String(decoding: line, as: UTF8.self)) is in \(earlier) and \(ids): "
                                              + "FASTA ids must be unique (the whole run refuses the input)", file: ids)
                        }
                    }
                    try sink.write(Data(line + [0x0A]))
                }
            }
        }
        return hidden
    }

    /// Call `body` with each id line (a JSON string, without its line feed) of an ids file after
    /// its first line, reading a block at a time.
    private static func forEachIdLine(_ path: String, _ body: (ArraySlice<UInt8>) throws -> Void) throws {
        let fd = try openFile(path)
        defer { close(fd) }
        var block = [UInt8](repeating: 0, count: 1 << 20)
        var pending: [UInt8] = []
        var at: Int64 = 0, firstLine = true
        while true {
            let n = try block.withUnsafeMutableBytes { try RunFiles.readAll(fd, $0, at: at, file: path) }
            at += Int64(n)
            pending += block[..<n]
            var start = 0
            while let newline = pending[start...].firstIndex(of: 0x0A) {
                if !firstLine && newline > start { try body(pending[start..<newline]) }
                firstLine = false
                start = newline + 1
            }
            pending.removeFirst(start)
            if n < block.count { break }
        }
    }

    private static func hashLine(_ line: ArraySlice<UInt8>) -> UInt64 {
        keyedHash(Array(line))
    }

    // MARK: reading parts

    private static func npyPart(_ path: String) throws -> Part {
        let idsFile = EmbeddingStream.idsPath(for: path)
        guard FileManager.default.fileExists(atPath: idsFile) else {
            throw MMAttnError("has no ids file \(idsFile) beside it, which says what run and part it is; keep the two together", file: path)
        }
        guard let o = (try? JSON.parse(idsFirstLine(idsFile)))?.object, let r = o["run"]?.object else {
            throw MMAttnError("the first line is not an mmattn ids header", file: idsFile)
        }
        let run = try RunDescription(json: r, file: idsFile)
        let fd = try openFile(path)
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 1 << 16)
        let n = try head.withUnsafeMutableBytes { try RecordBoundary.readAt(fd, $0.baseAddress!, $0.count, 0, file: path) }
        let (shape, start) = try NPY.parseHeader(Data(head[..<n]), file: path)
        var info = stat()
        fstat(fd, &info)
        guard Int64(info.st_size) == Int64(start) + Int64(shape.reduce(1, *) * 4), !shape.isEmpty else {
            throw MMAttnError("the file's size does not match its header's shape \(shape)", file: path)
        }
        if let rows = o["rows"]?.int, rows != shape[0] {
            throw MMAttnError("has \(shape[0]) rows but its ids file lists \(rows)", file: path)
        }
        return Part(path: path, run: run, shape: shape, dataStart: Int64(start), safetensors: nil)
    }

    private static func safetensorsPart(_ path: String) throws -> Part {
        let file = try SafetensorsFile(path: path)
        guard let run = try RunDescription(metadata: file.metadata, file: path) else {
            throw MMAttnError("has no mmattn run in its metadata: merge joins the parts of one mmattn run (--shard)", file: path)
        }
        let idsFile = EmbeddingStream.idsPath(for: path)
        if FileManager.default.fileExists(atPath: idsFile), file.names.count == 1, ["embedding", "last_hidden_state"].contains(file.names[0]),
           let info = file.entries[file.names[0]] {
            // A stacked output: its rows start where its one tensor does.
            let start = Int64(file.fileSize) - Int64(info.byteCount)
            return Part(path: path, run: run, shape: info.shape, dataStart: start, safetensors: file)
        }
        return Part(path: path, run: run, shape: nil, dataStart: 0, safetensors: file)
    }

    private static func idsFirstLine(_ path: String) throws -> Data {
        guard let h = FileHandle(forReadingAtPath: path) else { throw MMAttnError("cannot open the ids file", file: path) }
        defer { try? h.close() }
        let head = (try? h.read(upToCount: 1 << 20)) ?? Data()
        guard let end = head.firstIndex(of: 0x0A) else { throw MMAttnError("the ids file has no first line", file: path) }
        return head[..<end]
    }

    private static func openFile(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MMAttnError("cannot open the file: \(String(cString: strerror(errno)))", file: path) }
        return fd
    }
}
