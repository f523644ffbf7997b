import Foundation
import Testing
@testable import MMAttn

@Suite struct OutputFileTests {
    let t = Tensor(shape: [2, 3], values: [1, -2.5, 3, 4, 5e-7, 6])

    @Test func jsonHoldsNestedArrays() throws {
        let dir = CLI.tempDir()
        try OutputFile.write(t, primaryName: "x", to: dir + "/x.json")
        let json = try JSON.load(contentsOf: dir + "/x.json")
        let rows = try #require(json.array)
        #expect(rows.count == 2)
        #expect(rows[1].array?.compactMap(\.double).map(Float.init) == [4, 5e-7, 6])
    }

    @Test func npyAndSafetensorsRoundTrip() throws {
        let dir = CLI.tempDir()
        try OutputFile.write(t, primaryName: "x", to: dir + "/x.npy")
        #expect(try NPY.read(dir + "/x.npy").values == t.values)
        try OutputFile.write(t, primaryName: "x", named: [("a/mean", t), ("b/mean", t.reshaped([6]))], to: dir + "/x.safetensors")
        let file = try SafetensorsFile(path: dir + "/x.safetensors")
        #expect(Set(file.names) == ["a/mean", "b/mean"])
        #expect(try file.tensor("b/mean").shape == [6])
        // Only the finished files are there: no temporary names left behind.
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == ["x.npy", "x.safetensors"])
    }

    @Test func unknownExtensionIsAnError() {
        #expect(throws: MMAttnError.self) { try OutputFile.format(of: "/tmp/x.csv") }
    }

    @Test func missingFolderIsFoundBeforeAnyWork() throws {
        let dir = CLI.tempDir()
        let path = dir + "/missing/x.npy"
        let error = try #require(throws: MMAttnError.self) { try OutputFile.checkWritable(path) }
        #expect(error.file == path && error.message.contains("does not exist"), "\(error)")
        #expect(throws: MMAttnError.self) { try OutputFile.write(t, primaryName: "x", to: path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func writableFolderPassesTheCheckAndKeepsNothing() throws {
        let dir = CLI.tempDir()
        try OutputFile.checkWritable(dir + "/x.npy")
        try OutputFile.checkWritable(dir + "/map.png")  // any extension: secondary outputs are checked too
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        #expect(AtomicFile.registry.current.allSatisfy { !$0.hasPrefix(dir) })
    }

    /// While the body writes, the temporary exists and is registered; an error from the body removes
    /// it and comes out unchanged.
    @Test func failingBodyRemovesItsTemporary() throws {
        struct Stop: Error {}
        let dir = CLI.tempDir()
        var seen: [String] = []
        #expect(throws: Stop.self) {
            try AtomicFile.write(to: dir + "/x.bin") { sink in
                try sink.write(Data(repeating: 7, count: 1000))
                seen = try FileManager.default.contentsOfDirectory(atPath: dir)
                #expect(AtomicFile.registry.current.contains { $0.hasPrefix(dir + "/.x.bin.") })
                throw Stop()
            }
        }
        #expect(seen.count == 1 && seen[0].hasPrefix(".x.bin.") && seen[0].hasSuffix(".partial"), "\(seen)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        #expect(AtomicFile.registry.current.allSatisfy { !$0.hasPrefix(dir) })
    }

    /// The temporary is written completely, then the rename fails (the target is a non-empty folder).
    @Test func failedRenameLeavesNothing() throws {
        let dir = CLI.tempDir()
        let target = dir + "/x.npy"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: target + "/keep"))
        let error = try #require(throws: MMAttnError.self) { try OutputFile.write(t, primaryName: "x", to: target) }
        #expect(error.file == target && error.message.contains("rename"), "\(error)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["x.npy"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["keep"])
        // The check before work already says so.
        let early = try #require(throws: MMAttnError.self) { try OutputFile.checkWritable(target) }
        #expect(early.file == target && early.message.contains("folder"), "\(early)")
    }

    /// A full disk: a 64 KB tmpfs takes the temporary but not the bytes.
    @Test(.enabled("mounting a tmpfs needs root in a sandbox that allows it") { TinyMount.available })
    func fullDiskLeavesNothing() throws {
        let mount = try TinyMount(kilobytes: 64)
        defer { mount.remove() }
        let big = Tensor(zeros: [200, 1000])  // 800 KB as .npy, more as .json
        for name in ["x.npy", "x.json", "x.safetensors"] {
            let error = try #require(throws: MMAttnError.self) { try OutputFile.write(big, primaryName: "x", to: mount.path + "/" + name) }
            #expect(error.file == mount.path + "/" + name && error.message.contains("No space left"), "\(error)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: mount.path).isEmpty, "\(name)")
        }
        // The same folder takes a small output: the failure above came after the temporary existed.
        try OutputFile.write(t, primaryName: "x", to: mount.path + "/small.npy")
        #expect(try FileManager.default.contentsOfDirectory(atPath: mount.path) == ["small.npy"])
    }

    /// A read-only folder (a tmpfs remounted read-only; root ignores permission bits, so chmod
    /// would not do) is found by the check before any work, with the path in the message.
    @Test(.enabled("mounting a tmpfs needs root in a sandbox that allows it") { TinyMount.available })
    func readOnlyFolderIsFoundBeforeWork() throws {
        let mount = try TinyMount(kilobytes: 64)
        defer { mount.remove() }
        let path = mount.path + "/x.npy"
        try OutputFile.checkWritable(path)
        try mount.makeReadOnly()
        let error = try #require(throws: MMAttnError.self) { try OutputFile.checkWritable(path) }
        #expect(error.file == path && error.message.contains("Read-only file system"), "\(error)")
        #expect(throws: MMAttnError.self) { try OutputFile.write(t, primaryName: "x", to: path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: mount.path).isEmpty)
    }

    @Test func topScoresAreSortedWithStableTies() {
        let logits = Tensor(shape: [4], values: [1, 3, 3, -1])
        let p = Scores.top(3, logits: logits, labels: ["a", "b", "c", "d"], multiLabel: false)
        #expect(p.map(\.index) == [1, 2, 0])
        #expect(abs(p.map(\.score).reduce(0, +) - (1 - Scores.top(4, logits: logits, labels: [], multiLabel: false)[3].score)) < 1e-6)
        let sig = Scores.top(1, logits: logits, labels: [], multiLabel: true)
        #expect(abs(sig[0].score - 1 / (1 + exp(-3))) < 1e-6 && sig[0].label == "LABEL_1")
    }
}

/// Output failures through the real command line: a file-size limit and Ctrl-C.
@Suite struct OutputFileCLITests {
    /// Under `ulimit -f 8` (4 KB) the temporary is created but cannot grow: SIGXFSZ is ignored by
    /// the CLI, so the write fails with an error line instead of killing the process.
    @Test func fileSizeLimitIsAnErrorAndLeavesNothing() throws {
        let dir = CLI.tempDir()
        let out = dir + "/out.npy"
        let r = try CLI.run(["embed-audio", Paths.fixture("audio/cards-001.wav"), "--model", Paths.model("whisper"),
                             "--pooling", "none", "--output", out], fileSizeLimitBlocks: 8)
        CLI.expectRejected(r, outputDir: dir, "ulimit -f 8")
        #expect(r.stderr.contains(out) && r.stderr.contains("File too large"), "\(r.stderr)")
    }

    /// Ctrl-C (or SIGTERM) while the output is being written: the process ends by that signal (the
    /// shell reports 130 or 143), the temporary of the file being assembled is gone, and what an
    /// embedding run had finished is kept (hidden) for --resume, which it says. The signal is sent
    /// once the temporary exists; if the command finished before that could be seen, it runs again
    /// with more input.
    @Test(arguments: [SIGINT, SIGTERM])
    func interruptRemovesTheTemporary(signal: Int32) throws {
        var copies = 8
        for _ in 0..<6 {
            let dir = CLI.tempDir()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let args = ["embed-audio"] + Array(repeating: Paths.fixture("audio/cards-001.wav"), count: copies)
                + ["--model", Paths.model("whisper"), "--pooling", "none", "--output", dir + "/x.json"]
            let logs = CLI.tempDir()
            defer { try? FileManager.default.removeItem(atPath: logs) }
            let child = try CLI.Child([CLI.executable] + args, stdout: logs + "/stdout", stderr: logs + "/stderr")
            var sawTemporary = false
            while child.poll() == nil && !sawTemporary {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
                // The temporary of the JSON being assembled (.x.json.PID-N.partial), not the run's own data.
                sawTemporary = names.contains { $0.hasSuffix(".partial") && $0 != ".x.json.partial" }
                if !sawTemporary { usleep(500) }
            }
            if sawTemporary { kill(child.pid, signal) }
            let end = child.wait()
            guard sawTemporary else {
                #expect(end.status == 0 && !end.signaled, "the uninterrupted run failed")
                copies *= 4
                continue
            }
            // A signal that lands as the run renames its output and returns is handled (on the
            // signal queue) after the process has already decided to exit 0: the output is then
            // complete, which is a correct end too; try again with a longer run.
            if !end.signaled && end.status == 0 && FileManager.default.fileExists(atPath: dir + "/x.json") {
                copies *= 4
                continue
            }
            // Ended by the signal itself, which a shell reports as 128 + signal (130, 143) and
            // which stops a shell loop.
            #expect(end.signaled && end.status == signal, "ended by \(end.signaled ? "signal" : "exit status") \(end.status), not by signal \(signal)")
            let left = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
            // The run's state (with the finished ids kept hidden when the signal came while the
            // output was being assembled), the ids file written just before, or (had the signal
            // come just after the rename) the complete file: never a temporary.
            let allowed: Set = [".x.json.partial", ".x.json.partial-index", ".x.json.partial-ids", ".x.json.resume", ".x.json.ids",
                                "x.ids.jsonl", "x.json"]
            #expect(left.isSubset(of: allowed), "left \(left)")
            if left.contains("x.json") {
                #expect((try? JSON.load(contentsOf: dir + "/x.json")) != nil)
            } else if left.contains(".x.json.partial") {
                // (A signal during the probe of the output folder, before the run starts, leaves nothing.)
                let stderr = (try? String(contentsOfFile: logs + "/stderr", encoding: .utf8)) ?? ""
                #expect(stderr.contains("interrupted: ") && stderr.contains("--resume"), "\(stderr)")
            }
            return
        }
        Issue.record("the command always finished before its temporary could be seen")
    }
}

/// A small tmpfs mounted on a fresh folder, for full-disk and read-only cases.
struct TinyMount {
    let path: String

    /// Whether this process may mount (root in a sandbox that allows it), found by trying once.
    static let available: Bool = {
        guard let m = try? TinyMount(kilobytes: 16) else { return false }
        m.remove()
        return true
    }()

    init(kilobytes: Int) throws {
        path = CLI.tempDir()
        guard Self.mount(["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", path]) else {
            try? FileManager.default.removeItem(atPath: path)
            throw MMAttnError("cannot mount a tmpfs", file: path)
        }
    }

    func makeReadOnly() throws {
        guard Self.mount(["-o", "remount,ro", path]) else { throw MMAttnError("cannot remount read-only", file: path) }
    }

    func remove() {
        _ = Self.run("umount", [path])
        try? FileManager.default.removeItem(atPath: path)
    }

    static func mount(_ arguments: [String]) -> Bool { run("mount", arguments) }

    static func run(_ tool: String, _ arguments: [String]) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool] + arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationReason == .exit && p.terminationStatus == 0
    }
}
