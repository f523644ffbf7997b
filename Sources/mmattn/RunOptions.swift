import ArgumentParser
import Foundation
import MMAttn

/// `--shard K/N` and `--resume`, shared by the embedding commands (docs/scale-out.md).
struct RunOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Process only the K-th of N contiguous parts of the input (K from 0); mmattn merge joins "
                               + "the parts' outputs into the whole run's.", valueName: "K/N"))
    var shard: String?
    @Flag(help: "Continue an interrupted run of the same command into the same --output (a finished one is left as it is).")
    var resume = false

    /// `--shard` parsed (the whole input when it is left out).
    func parsedShard() throws -> Shard {
        guard let shard else { return .whole }
        do { return try Shard(parsing: shard) } catch let e as MMAttnError { throw ValidationError(e.message) }
    }

    func validate(output: String?) throws {
        _ = try parsedShard()
        if resume && output == nil { throw ValidationError("--resume continues an --output file: give --output") }
    }
}

/// The steps every streamed embedding run shares, around its `EmbeddingStream`.
enum StreamedRun {
    /// Whether `--resume` finds `output` already finished by this run (said on stderr): a
    /// requeued array task then has nothing left to do.
    static func alreadyDone(_ output: String, run: RunDescription, resume: Bool) -> Bool {
        guard resume, EmbeddingStream.isComplete(path: output, run: run) else { return false }
        Stderr.write("\(output) is already complete for this run; nothing to do\n")
        return true
    }

    /// Say whether the stream continues an interrupted run.
    static func announce(_ stream: EmbeddingStream, resume: Bool) {
        if let resumed = stream.resumed {
            Stderr.write("resuming \(stream.path): \(resumed.records) records were done\n")
        } else if resume {
            Stderr.write("nothing to resume for \(stream.path); starting\n")
        }
    }

    /// Run `body`, the run's work; when it throws, the unfinished output is removed.
    static func writing(_ stream: EmbeddingStream, _ body: () throws -> Void) throws {
        do { try body() } catch {
            stream.discard()
            throw error
        }
    }

    /// Complete the output and say what was written.
    static func finish(_ stream: EmbeddingStream, records: Int, assembly: EmbeddingStream.Assembly = .named,
                       dropsLoneAxis: Bool = false, progress: ProgressBar) throws {
        progress.finish(writing: stream.path)
        if records == 0 { Stderr.write("note: this part of the input holds no records; the output has none\n") }
        var written = ""
        try writing(stream) { written = try stream.finish(records: records, assembly: assembly, dropsLoneAxis: dropsLoneAxis) }
        reportWritten(stream.path, written)
        if stream.wroteIds { reportWritten(EmbeddingStream.idsPath(for: stream.path), "the record ids, one per row") }
    }
}

/// The size of a regular file, for cutting it into parts.
func fileSize(_ path: String) throws -> Int64 {
    var info = stat()
    guard stat(path, &info) == 0 else { throw MMAttnError("cannot read the file: \(String(cString: strerror(errno)))", file: path) }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        throw MMAttnError("a part (--shard) of the input needs a regular file, not a pipe, device or folder", file: path)
    }
    return Int64(info.st_size)
}

/// The files named in `--input-list` (one path per line; blank lines are skipped), or in the
/// K-th part of it, read as the run goes.
struct PathList {
    let reader: TextLineReader?
    let paths: [String]
    private var next = 0

    /// The arguments' part (`shard` of their list) or the list file's part (split by bytes).
    init(arguments: [String], list: String?, shard: Shard) throws {
        if let list {
            reader = try TextLineReader(path: list, lossy: false, range: shard.isWhole ? nil : shard.byteRange(size: try fileSize(list)))
            paths = []
        } else {
            reader = nil
            paths = Array(arguments[shard.itemRange(count: arguments.count)])
        }
    }

    /// Up to `count` more paths, nil at the end.
    mutating func next(_ count: Int) throws -> [String]? {
        guard let reader else {
            guard next < paths.count else { return nil }
            defer { next = min(next + count, paths.count) }
            return Array(paths[next..<min(next + count, paths.count)])
        }
        var paths: [String] = []
        while paths.count < count, let lines = try reader.next(count - paths.count) {
            paths += lines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        }
        return paths.isEmpty ? nil : paths
    }

    /// Fraction of the list read so far (nil for a pipe).
    var fraction: Double? {
        guard let reader else { return paths.isEmpty ? nil : Double(next) / Double(paths.count) }
        return reader.fractionRead
    }
}

/// `--input-list`, shared by embed-image and embed-audio.
struct InputListOption: ParsableArguments {
    @Option(name: .customLong("input-list"),
            help: ArgumentHelp("A text file naming the inputs, one path per line (blank lines are skipped), instead of arguments.",
                               valueName: "file"))
    var inputList: String?

    /// Exactly one of `arguments` and `--input-list`.
    func validate(arguments: [String], what: String) throws {
        if arguments.isEmpty && inputList == nil { throw ValidationError("give at least one \(what), or --input-list FILE") }
        if !arguments.isEmpty && inputList != nil { throw ValidationError("give \(what)s as arguments or --input-list FILE, not both") }
    }
}

/// The streamed run of embed-image and embed-audio over a list of files (arguments or
/// `--input-list`), `chunk` files at a time: `embed` calls its body with each file's embedding in
/// order. A resumed run continues at a chunk boundary, so its batches are an uninterrupted run's.
/// `rowShape` is the shape of one file's output: always that with a pooling, else the likely one
/// (the shape of a part without files).
func embedFiles(command: String, files: [String], list: String?, model: String, modelFolder: String, pooling: Pooling,
                rowShape: [Int], options: [String: String], output: EmbeddingOutput, runOptions: RunOptions, quiet: Bool, chunk: Int,
                checkSameShapes: ([String]) throws -> Void,
                embed: ([String], (String, Tensor) throws -> Void) throws -> Void) throws {
    let shard = try runOptions.parsedShard()
    var paths = try PathList(arguments: files, list: list, shard: shard)
    let stackedOnly = (try? output.file.map(OutputFile.format(of:))) != .safetensors
    if list == nil && stackedOnly { try checkSameShapes(paths.paths) }
    let noFiles = MMAttnError("the list names no files (one path per line)", file: list)
    guard let file = output.file else {
        var embeddings = Embeddings(name: pooling == .none ? "last_hidden_state" : "embedding")
        while let group = try paths.next(chunk) { try embed(group) { embeddings.append($1, input: $0) } }
        guard !embeddings.items.isEmpty || !shard.isWhole else { throw noFiles }
        try output.deliver(embeddings, model: model)
        return
    }
    let run = try RunDescription(command: command, model: model, modelFolder: modelFolder, input: list ?? "arguments",
                                 inputFiles: list.map { [$0] } ?? [], inputText: list == nil ? files : [],
                                 options: options.merging(["pooling": pooling.rawValue]) { $1 }, shard: shard)
    if StreamedRun.alreadyDone(file, run: run, resume: runOptions.resume) { return }
    let fixedRows = pooling != .none
    let stream = try EmbeddingStream(path: file, layout: fixedRows ? .rows(rowShape) : .tensors, run: run, resume: runOptions.resume)
    StreamedRun.announce(stream, resume: runOptions.resume)
    let progress = ProgressBar(enabled: list != nil && !quiet, unit: "files")
    let resumed = stream.resumed?.records ?? 0
    var count = 0
    var firstShape: (String, [Int])?
    try StreamedRun.writing(stream) {
        while count < resumed, let group = try paths.next(min(chunk, resumed - count)) { count += group.count }
        progress.resumed = (resumed, paths.fraction ?? 0)
        while let group = try paths.next(chunk) {
            try embed(group) { path, e in
                if let first = firstShape {
                    // A list is not read ahead: shapes that cannot stack stop the run at the first misfit.
                    if stackedOnly && e.shape != first.1 { throw Embeddings.mismatchError((first, (path, e.shape))) }
                } else {
                    firstShape = (path, e.shape)
                }
                if fixedRows { try stream.put(row: e, at: count) } else { try stream.put(e, name: path) }
                count += 1
            }
            try stream.appendIds(group)
            try stream.commit(records: count)
            progress.update(count: count, amount: count - resumed, rateUnit: "files", fraction: paths.fraction)
        }
        guard count > 0 || !shard.isWhole else { throw noFiles }
    }
    try StreamedRun.finish(stream, records: count,
                           assembly: .stacked(name: fixedRows ? "embedding" : "last_hidden_state", padFirstAxis: false, emptyRowShape: rowShape),
                           dropsLoneAxis: list == nil && files.count == 1 && shard.isWhole, progress: progress)
}
