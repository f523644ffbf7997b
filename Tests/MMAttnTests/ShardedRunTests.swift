import Foundation
import Testing
@testable import MMAttn

/// Input files made for these tests, in a folder of their own.
private enum Inputs {
    static func write(_ text: String, name: String) throws -> String {
        let path = CLI.tempDir() + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A FASTA file of `count` records `r0`, `r1`, ... with 1 to `maxLength` residues over one to
    /// three lines (so split points fall inside headers, sequences and line ends), blank lines
    /// between some records, `\r\n` line ends when `crlf`.
    static func fasta(count: Int, maxLength: Int = 60, seed: UInt64 = 7, crlf: Bool = false) -> String {
        var rng = SeededGenerator(state: seed)
        let residues = Array("ACDEFGHIKLMNPQRSTVWY")
        var text = ""
        let end = crlf ? "\r\n" : "\n"
        for i in 0..<count {
            text += ">r\(i) protein \(i)" + end
            let length = 1 + Int(rng.next() % UInt64(maxLength))
            let sequence = String((0..<length).map { _ in residues[Int(rng.next() % 20)] })
            var rest = Substring(sequence)
            while !rest.isEmpty {
                let cut = min(rest.count, 1 + Int(rng.next() % 40))
                text += rest.prefix(cut) + end
                rest = rest.dropFirst(cut)
            }
            if rng.next() % 4 == 0 { text += end }
        }
        return text
    }

    /// Lines of text of varied lengths, some empty.
    static func lines(count: Int, crlf: Bool = false, finalNewline: Bool = true) -> String {
        var rng = SeededGenerator(state: 3)
        let words = ["the", "protein", "folds", "quickly", "über", "a", "model", "sees", "cats", "日本"]
        let lines = (0..<count).map { i in
            i % 7 == 3 ? "" : (0..<(1 + Int(rng.next() % 9))).map { _ in words[Int(rng.next() % 10)] }.joined(separator: " ")
        }
        let end = crlf ? "\r\n" : "\n"
        return lines.joined(separator: end) + (finalNewline ? end : "")
    }
}

@Suite struct ShardTests {
    @Test func partsCoverTheFileOnceInOrder() throws {
        for size: Int64 in [0, 1, 5, 6, 7, 1000, 1 << 40] {
            for n in [1, 2, 3, 7, 64] {
                let ranges = try (0..<n).map { try Shard(index: $0, count: n).byteRange(size: size) }
                #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == size)
                for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
            }
        }
    }

    @Test func parsesKOfN() throws {
        #expect(try Shard(parsing: "2/5") == Shard(index: 2, count: 5))
        // Huge N and sizes: size·K/N in 128 bits, no overflow.
        #expect(try Shard(parsing: "5000000000000000000/6000000000000000000").byteRange(size: .max / 2).upperBound <= .max / 2)
        for bad in ["5/5", "-1/3", "1", "a/b", "1/0", "1/2/3", ""] {
            #expect(throws: MMAttnError.self, "\(bad)") { try Shard(parsing: bad) }
        }
    }

    /// FASTA records read part by part, for N = 1, 2, 3, 7 and more parts than records, are the
    /// records of the whole file, each once, in order: split points fall inside headers,
    /// sequences, blank lines and `\r\n` pairs.
    @Test(arguments: [false, true])
    func fastaPartsHoldEveryRecordOnce(crlf: Bool) throws {
        for (count, text) in [(40, Inputs.fasta(count: 40, crlf: crlf)), (3, Inputs.fasta(count: 3, crlf: crlf)),
                              (2, "\u{FEFF}>a\nMK\n>b\nLL\n")] {
            let path = try Inputs.write(text, name: "p.faa")
            let whole = try readFasta(path, range: nil)
            #expect(whole.count == count)
            let size = Int64(text.utf8.count)
            for n in [1, 2, 3, 7, 50] {
                var parts: [FastaRecord] = []
                for k in 0..<n { parts += try readFasta(path, range: try Shard(index: k, count: n).byteRange(size: size)) }
                #expect(parts.map(\.id) == whole.map(\.id), "N = \(n), \(count) records")
                #expect(parts.map(\.sequence) == whole.map(\.sequence), "N = \(n)")
                #expect(parts.map(\.offset) == whole.map(\.offset), "N = \(n)")
            }
        }
    }

    private func readFasta(_ path: String, range: Range<Int64>?) throws -> [FastaRecord] {
        let reader = try FastaReader(path: path, alphabet: .esm2, range: range)
        var out: [FastaRecord] = []
        while let r = try reader.next() { out.append(r) }
        return out
    }

    /// A part reads nothing before its range, yet an error in it names the file's line.
    @Test func anErrorInAPartNamesTheFileLine() throws {
        let text = Inputs.fasta(count: 30) + ">bad\nMK1LL\n"
        let path = try Inputs.write(text, name: "bad.faa")
        let badLine = text.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        let size = Int64(text.utf8.count)
        let error = try #require(throws: MMAttnError.self) {
            let reader = try FastaReader(path: path, alphabet: .esm2, range: try Shard(index: 2, count: 3).byteRange(size: size))
            while try reader.next() != nil {}
        }
        #expect(error.message.contains("line \(badLine), column 3"), "\(error)")
    }

    /// Ids are checked for duplicates in a compact table of hashes (memory flat enough for databases
    /// of millions of records); a duplicate names the earlier record's line, a byte-order mark
    /// before the first header or not.
    @Test func duplicateIdsNameTheEarlierRecord() throws {
        for (text, lines) in [(">a\nMK\n>b\nLL\n\n>a x\nGG\n", (6, 1)), ("\u{FEFF}>a\nMK\n>a\nLL\n", (3, 1)),
                              (Inputs.fasta(count: 30) + ">r17\nMK\n", (0, 0))] {
            let path = try Inputs.write(text, name: "dup.faa")
            let error = try #require(throws: MMAttnError.self) { _ = try readFasta(path, range: nil) }
            let (line, earlier) = lines.0 > 0 ? lines
                : (text.split(separator: "\n", omittingEmptySubsequences: false).count - 2,
                   1 + text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix(">r17 ") }!)
            #expect(error.message.contains("line \(line): the id") && error.message.contains("record at line \(earlier);"), "\(error)")
        }
        // Many distinct ids (the table grows several times): no false duplicate.
        let many = (0..<20_000).map { ">id\($0) d\nMK\n" }.joined()
        #expect(try readFasta(try Inputs.write(many, name: "many.faa"), range: nil).count == 20_000)
    }

    /// Lines of a text file, read part by part, are the whole file's lines with their offsets:
    /// `\n` and `\r\n`, empty lines, a byte-order mark, with and without a final newline.
    @Test(arguments: [(false, true), (true, true), (false, false)])
    func lineFilePartsHoldEveryLineOnce(crlf: Bool, finalNewline: Bool) throws {
        for text in [Inputs.lines(count: 50, crlf: crlf, finalNewline: finalNewline), "\u{FEFF}one\ntwo", "\n\n\n"] {
            let path = try Inputs.write(text, name: "t.txt")
            let whole = try readLines(path, range: nil)
            let size = Int64(text.utf8.count)
            for n in [1, 2, 3, 7, 80] {
                var parts: [(String, Int64)] = []
                for k in 0..<n { parts += try readLines(path, range: try Shard(index: k, count: n).byteRange(size: size)) }
                #expect(parts.map(\.0) == whole.map(\.0) && parts.map(\.1) == whole.map(\.1), "N = \(n): \(text.prefix(20))")
            }
        }
    }

    /// A part reads nothing before its range, yet a bad line in it names the file's line.
    @Test func aBadLineInAPartNamesTheFileLine() throws {
        let text = "one\ntwo\nthree\nfour\nfi\u{FF}ve\n".replacingOccurrences(of: "\u{FF}", with: "")
        var bytes = Array(text.utf8)
        bytes.insert(0xFF, at: bytes.firstIndex(of: UInt8(ascii: "v"))!)
        let path = CLI.tempDir() + "/bad.txt"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: MMAttnError.self) {
            _ = try readLines(path, range: try Shard(index: 1, count: 2).byteRange(size: Int64(bytes.count)))
        }
        #expect(error.message.contains("line 5:"), "\(error)")
    }

    private func readLines(_ path: String, range: Range<Int64>?) throws -> [(String, Int64)] {
        let reader = try TextLineReader(path: path, lossy: false, range: range)
        var out: [(String, Int64)] = []
        while let lines = try reader.next(7) { out += zip(lines, reader.offsets) }
        return out
    }
}

/// The embedding commands run in parts (`--shard`), merged (`mmattn merge`), and resumed after a
/// kill (`--resume`), through the CLI.
@Suite struct ShardedRunCLITests {
    /// Run `args`, expecting success.
    @discardableResult
    private func ok(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> CLI.Result {
        let r = try CLI.run(args)
        #expect(r.status == 0 && !r.signaled, "mmattn \(args.joined(separator: " ")): \(r.stderr.suffix(400))", sourceLocation: sourceLocation)
        return r
    }

    private func bytes(_ path: String) -> Data { FileManager.default.contents(atPath: path) ?? Data() }

    private func ids(_ path: String) throws -> [String] {
        let lines = String(decoding: bytes(EmbeddingStream.idsPath(for: path)), as: UTF8.self).split(separator: "\n")
        return try lines.dropFirst().map { try #require(try JSON.parse(Data($0.utf8)).string) }
    }

    /// The parts of `command` for N = 1, 2, 3 and 7 merge into the whole run's output: the same
    /// ids, the same shape, the same numbers up to float rounding (a record's last bits depend on
    /// the batch it shares: OpenBLAS's kernels differ with the matrix size), and the same bytes
    /// when every record runs alone (`alone` options, where the command has them).
    private func checkParts(_ command: [String], input: [String], out ext: String, alone: [String]?, records: Int,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for options in [[]] + (alone.map { [$0] } ?? []) {
            let whole = dir + "/whole." + ext
            try ok(command + input + options + ["--output", whole, "--quiet"])
            let reference = try OutputFileReader.floats(whole)
            #expect(try ids(whole).count == records, sourceLocation: sourceLocation)
            for n in [1, 2, 3, 7] {
                let parts = (0..<n).map { dir + "/part-\($0)-of-\(n)." + ext }
                for (k, part) in parts.enumerated() {
                    try ok(command + input + options + ["--shard", "\(k)/\(n)", "--output", part, "--quiet"])
                }
                let merged = dir + "/merged-\(n)." + ext
                try ok(["merge"] + parts.reversed() + ["--output", merged])
                #expect(try ids(merged) == (try ids(whole)), "N = \(n)", sourceLocation: sourceLocation)
                let values = try OutputFileReader.floats(merged)
                #expect(values.shape == reference.shape, "N = \(n)", sourceLocation: sourceLocation)
                // Measured up to 7.2e-7 (fixture models, float32 rounding of differently sized GEMMs).
                #expect(maxDifference(values.values, reference.values) <= 3e-6, "N = \(n)", sourceLocation: sourceLocation)
                if options == alone {
                    #expect(bytes(merged) == bytes(whole), "N = \(n): records alone give the same bytes", sourceLocation: sourceLocation)
                }
            }
        }
    }

    private func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    @Test func proteinPartsMergeIntoTheWholeRun() throws {
        let fasta = try Inputs.write(Inputs.fasta(count: 40, maxLength: 120), name: "p.faa")
        try checkParts(["embed-protein", "--model", Paths.model("esm2"), "--toks-per-batch", "400"], input: [fasta], out: "npy",
                       alone: ["--toks-per-batch", "1"], records: 40)
    }

    @Test func textPartsMergeIntoTheWholeRun() throws {
        let text = try Inputs.write(Inputs.lines(count: 30, crlf: true), name: "t.txt")
        try checkParts(["embed-text", "--model", Paths.model("bert")], input: ["--input", text], out: "safetensors",
                       alone: ["--batch-size", "1"], records: 30)
        // Token vectors, zero-padded to the longest text: each part pads to its own longest, merge to all's.
        try checkParts(["embed-text", "--model", Paths.model("bert"), "--pooling", "none"], input: ["--input", text], out: "npy",
                       alone: ["--batch-size", "1"], records: 30)
    }

    @Test func imageAndAudioListsSplitTheSameWay() throws {
        let images = ["cat.png", "camera.png", "horse.png", "cat.png", "camera.png"].map { Paths.fixture("images/" + $0) }
        let list = try Inputs.write(images.joined(separator: "\n") + "\n\n", name: "images.txt")
        try checkParts(["embed-image", "--model", Paths.model("vit")], input: ["--input-list", list], out: "npy",
                       alone: nil, records: 5)
        let clips = try Inputs.write([Paths.fixture("audio/cards-001.wav"), Paths.fixture("audio/bell.oga")].joined(separator: "\r\n"),
                                     name: "clips.txt")
        try checkParts(["embed-audio", "--model", Paths.model("whisper")], input: ["--input-list", clips], out: "npy",
                       alone: nil, records: 2)
    }

    /// A part of a file without records (more parts than records) is an output with no rows.
    @Test func anEmptyPartHasNoRows() throws {
        let dir = CLI.tempDir()
        let fasta = try Inputs.write(">only\nMKTAYIAK\n", name: "one.faa")
        try ok(["embed-protein", fasta, "--model", Paths.model("esm2"), "--shard", "4/5", "--output", dir + "/p.npy"])
        #expect(try NPY.read(dir + "/p.npy").shape == [0, 32])
        #expect(try ids(dir + "/p.npy").isEmpty)
        // Token vectors (tensors put one by one): an empty part is [0, 0, D], and merge passes over it.
        let text = try Inputs.write("a\nb c\nd\n", name: "three.txt")
        let base = ["embed-text", "--input", text, "--model", Paths.model("bert"), "--pooling", "none"]
        let parts = (0..<7).map { dir + "/t\($0).npy" }
        for (k, part) in parts.enumerated() { try ok(base + ["--shard", "\(k)/7", "--output", part]) }
        #expect(try NPY.read(parts[1]).shape == [0, 0, 32])  // bytes [1, 2) hold no line start
        try ok(["merge"] + parts + ["--output", dir + "/merged.npy"])
        try ok(base + ["--output", dir + "/whole.npy"])
        #expect(try NPY.read(dir + "/merged.npy").shape == (try NPY.read(dir + "/whole.npy").shape))
        #expect(try ids(dir + "/merged.npy") == (try ids(dir + "/whole.npy")))
    }

    /// An input without records is an error that leaves nothing behind (a part of one is not).
    @Test func anEmptyInputIsAnErrorAndLeavesNothing() throws {
        let dir = CLI.tempDir()
        let empty = try Inputs.write("", name: "empty.txt")
        for args in [["embed-text", "--input", empty, "--model", Paths.model("bert")],
                     ["embed-image", "--input-list", empty, "--model", Paths.model("vit")],
                     ["embed-audio", "--input-list", empty, "--model", Paths.model("whisper")]] {
            let r = try CLI.run(args + ["--output", dir + "/x.npy"])
            CLI.expectRejected(r, outputDir: dir, args[0])
        }
    }

    /// Killed (SIGKILL) at several points, the run continues with --resume and ends with the bytes
    /// of an uninterrupted run; before the end nothing exists under the output's name.
    @Test(arguments: ["npy", "safetensors"])
    func aKilledRunResumesToTheSameBytes(ext: String) throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fasta = try Inputs.write(Inputs.fasta(count: 1500, maxLength: 150, seed: 11), name: "many.faa")
        let include = ext == "npy" ? [] : ["--include", "mean,bos,per-token"]
        let args = ["embed-protein", fasta, "--model", Paths.model("esm2"), "--toks-per-batch", "600"] + include
        let reference = dir + "/reference." + ext
        try ok(args + ["--output", reference, "--quiet"])
        let out = dir + "/resumed." + ext
        let journal = dir + "/.resumed.\(ext).resume"
        var lastDone = 0, kills = 0
        for target in [1, 300, 900] {
            let child = try CLI.Child([CLI.executable] + args + ["--output", out, "--resume", "--quiet"],
                                      stdout: dir + "/stdout", stderr: dir + "/stderr")
            // Wait until the journal has committed more than `target` records, then kill.
            var done = 0
            while child.poll() == nil && done < max(target, lastDone + 1) {
                usleep(2_000)
                done = (try? JSON.load(contentsOf: journal))?.object?["records"]?.int ?? done
            }
            guard child.poll() == nil else { break }  // finished before the kill: nothing more to test
            kill(child.pid, SIGKILL)
            _ = child.wait()
            kills += 1
            #expect(!FileManager.default.fileExists(atPath: out), "the output exists before the run is complete")
            lastDone = done
        }
        // The journal is written at most once a second, so a run of several seconds is killed at
        // two or three points.
        #expect(kills >= 2, "killed \(kills) times")
        let r = try ok(args + ["--output", out, "--resume", "--quiet"])
        #expect(r.stderr.contains("resuming"), "\(r.stderr)")
        #expect(bytes(out) == bytes(reference), "the resumed file differs from an uninterrupted run's")
        #expect(bytes(EmbeddingStream.idsPath(for: out)) == bytes(EmbeddingStream.idsPath(for: reference)))
        // Only the outputs are left; the run's state is gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.hasPrefix(".resumed") })
        // Resuming a finished run does nothing.
        let again = try ok(args + ["--output", out, "--resume"])
        #expect(again.stderr.contains("already complete"), "\(again.stderr)")
    }

    /// A text run killed mid-way resumes at a chunk of lines, to the same bytes.
    @Test func aKilledTextRunResumesToTheSameBytes() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = try Inputs.write(Inputs.lines(count: 20_000), name: "many.txt")
        let args = ["embed-text", "--input", text, "--model", Paths.model("bert"), "--pooling", "cls"]
        try ok(args + ["--output", dir + "/reference.npy"])
        let journal = dir + "/.resumed.npy.resume"
        let child = try CLI.Child([CLI.executable] + args + ["--output", dir + "/resumed.npy"], stdout: dir + "/o", stderr: dir + "/e")
        while child.poll() == nil && !FileManager.default.fileExists(atPath: journal) { usleep(2_000) }
        // The journal is first written after the first of five chunks of lines.
        let killed = child.poll() == nil
        if killed {
            kill(child.pid, SIGKILL)
            _ = child.wait()
        }
        #expect(killed, "the run finished before it could be killed")
        let r = try ok(args + ["--output", dir + "/resumed.npy", "--resume"])
        #expect(r.stderr.contains("resuming"), "\(r.stderr)")
        #expect(bytes(dir + "/resumed.npy") == bytes(dir + "/reference.npy"), "\(r.stderr)")
    }

    /// --resume refuses a journal of another run; without --resume a run starts over and says so.
    @Test func resumeChecksTheRun() throws {
        let dir = CLI.tempDir()
        let fasta = try Inputs.write(Inputs.fasta(count: 5), name: "p.faa")
        let out = dir + "/x.npy"
        let state = EmbeddingStream.StateFiles(output: out)
        try Data().write(to: URL(fileURLWithPath: state.data))
        let otherRun = try RunDescription(command: "embed-protein", model: "other", modelFolder: Paths.model("esm2"), input: fasta,
                                          inputFiles: [fasta], options: [:], shard: .whole)
        try Data(("{\"mmattn_resume\": 1, \"run\": \(otherRun.json), \"records\": 3, \"position\": [0, 1], \"rows\": 3, "
                  + "\"data_bytes\": 0, \"index_bytes\": 0, \"ids_bytes\": 0}\n").utf8).write(to: URL(fileURLWithPath: state.journal))
        let refused = try CLI.run(["embed-protein", fasta, "--model", Paths.model("esm2"), "--output", out, "--resume"])
        #expect(refused.status == 1 && refused.stderr.contains("differs in the model"), "\(refused.stderr)")
        let fresh = try ok(["embed-protein", fasta, "--model", Paths.model("esm2"), "--output", out])
        #expect(fresh.stderr.contains("discarding an unfinished run of 3 records"), "\(fresh.stderr)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == ["x.npy", "x.ids.jsonl"])
    }

    /// A run killed after its output was put in place and before its ids file was: --resume
    /// completes it (the ids file in place, the state gone) without embedding anything again.
    @Test func aRunKilledWhileFinishingIsCompletedByResume() throws {
        let dir = CLI.tempDir()
        let fasta = try Inputs.write(Inputs.fasta(count: 6), name: "p.faa")
        let args = ["embed-protein", fasta, "--model", Paths.model("esm2"), "--output", dir + "/x.npy"]
        try ok(args)
        let idsFile = EmbeddingStream.idsPath(for: dir + "/x.npy"), state = EmbeddingStream.StateFiles(output: dir + "/x.npy")
        let ids = bytes(idsFile)
        try FileManager.default.moveItem(atPath: idsFile, toPath: dir + "/.x.npy.ids")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: state.journal))
        let r = try ok(args + ["--resume"])
        #expect(r.stderr.contains("already complete"), "\(r.stderr)")
        #expect(bytes(idsFile) == ids)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == ["x.npy", "x.ids.jsonl"])
        // With the data of an unfinished run beside it, an output is not taken as complete.
        try Data().write(to: URL(fileURLWithPath: state.data))
        let again = try CLI.run(args + ["--resume"])
        #expect(!again.stderr.contains("already complete"), "\(again.stderr)")
    }

    /// merge refuses parts it cannot join, naming the part and the reason.
    @Test func mergeRefusesWhatIsNotOneRun() throws {
        let dir = CLI.tempDir()
        let fasta = try Inputs.write(Inputs.fasta(count: 9), name: "p.faa")
        let base = ["embed-protein", fasta, "--model", Paths.model("esm2")]
        for k in 0..<3 { try ok(base + ["--shard", "\(k)/3", "--output", dir + "/p\(k).npy"]) }
        try ok(base + ["--shard", "1/3", "--toks-per-batch", "7", "--output", dir + "/other1.npy"])
        try ok(base + ["--shard", "1/2", "--output", dir + "/half.npy"])
        let cases: [([String], String)] = [
            ([dir + "/p0.npy", dir + "/p1.npy"], "parts 2/3 of"),
            ([dir + "/p0.npy", dir + "/other1.npy", dir + "/p2.npy"], "differs in the option toks-per-batch"),
            ([dir + "/p0.npy", dir + "/p1.npy", dir + "/p1.npy", dir + "/p2.npy"], "give each part once"),
            ([dir + "/p0.npy", dir + "/half.npy"], "share N"),
        ]
        for (parts, message) in cases {
            let r = try CLI.run(["merge"] + parts + ["--output", dir + "/m.npy"])
            #expect(r.status == 1 && r.stderr.contains(message), "\(message): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/m.npy"))
        }
        try FileManager.default.removeItem(atPath: dir + "/p2.ids.jsonl")
        let noIds = try CLI.run(["merge", dir + "/p0.npy", dir + "/p1.npy", dir + "/p2.npy", "--output", dir + "/m.npy"])
        #expect(noIds.status == 1 && noIds.stderr.contains("has no ids file"), "\(noIds.stderr)")
        let json = try CLI.run(["merge", dir + "/p0.npy", "--output", dir + "/m.json"])
        #expect(json.status == 1 && json.stderr.contains(".npy or .safetensors"), "\(json.stderr)")
        // FASTA ids are unique in a whole run; parts check their own, merge checks across them.
        let dup = try Inputs.write(">a\nMKV\n>b\nMKL\n>a\nMKA\n", name: "dup.faa")
        for k in 0..<2 {
            try ok(["embed-protein", dup, "--model", Paths.model("esm2"), "--shard", "\(k)/2", "--output", dir + "/d\(k).npy"])
        }
        let duplicate = try CLI.run(["merge", dir + "/d0.npy", dir + "/d1.npy", "--output", dir + "/d.npy"])
        #expect(duplicate.status == 1 && duplicate.stderr.contains("must be unique"), "\(duplicate.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/d.npy") && !FileManager.default.fileExists(atPath: dir + "/d.ids.jsonl"))
    }

    /// Protein outputs with one tensor per record merge by name, in part order: the whole run's
    /// tensors (each record alone gives the same bytes), its metadata.
    @Test func namedProteinPartsMerge() throws {
        let dir = CLI.tempDir()
        let fasta = try Inputs.write(Inputs.fasta(count: 12), name: "p.faa")
        let base = ["embed-protein", fasta, "--model", Paths.model("esm2"), "--include", "mean,contacts", "--toks-per-batch", "1"]
        try ok(base + ["--output", dir + "/whole.safetensors"])
        for k in 0..<3 { try ok(base + ["--shard", "\(k)/3", "--output", dir + "/p\(k).safetensors"]) }
        try ok(["merge", dir + "/p1.safetensors", dir + "/p0.safetensors", dir + "/p2.safetensors", "--output", dir + "/m.safetensors"])
        let whole = try SafetensorsFile(path: dir + "/whole.safetensors"), merged = try SafetensorsFile(path: dir + "/m.safetensors")
        #expect(Set(merged.names) == Set(whole.names) && merged.names.count == 24 && merged.metadata == whole.metadata)
        for name in whole.names { #expect(try merged.tensor(name).values == (try whole.tensor(name).values), "\(name)") }
    }
}

/// Outputs of any of the three formats, as flat values and a shape.
enum OutputFileReader {
    static func floats(_ path: String) throws -> (shape: [Int], values: [Float]) {
        if path.hasSuffix(".npy") {
            let t = try NPY.read(path)
            return (t.shape, t.values)
        }
        let file = try SafetensorsFile(path: path)
        let t = try file.tensor(try #require(file.names.first))
        return (t.shape, t.values)
    }
}
