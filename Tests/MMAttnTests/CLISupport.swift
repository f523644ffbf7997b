import Foundation
import Testing

/// Paths the tests read, found from this file's location.
enum Paths {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repo.appendingPathComponent("Fixtures")
    static func fixture(_ path: String) -> String { fixtures.appendingPathComponent(path).path }
    static func model(_ name: String) -> String { fixture("models/\(name)") }
    static func reference(_ path: String) -> String { fixture("reference/\(path)") }

    /// `../shared/badinputs` beside the clone (CI has it; other checkouts may not).
    static let badInputs: String? = {
        let p = repo.deletingLastPathComponent().appendingPathComponent("shared/badinputs").path
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }()

    /// Files of a bad-input category of the corpus. Call only from tests carrying the
    /// `.needsBadInputs` trait; a category with no matching file is a test failure.
    static func badInputs(_ category: String, extensions: Set<String>, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let root = try #require(badInputs, "the test lacks the .needsBadInputs trait", sourceLocation: sourceLocation)
        let dir = (root as NSString).appendingPathComponent(category)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        let files = names.filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            .map { (dir as NSString).appendingPathComponent($0) }
        #expect(!files.isEmpty, "no \(extensions.sorted()) files in \(dir)", sourceLocation: sourceLocation)
        return files
    }

    /// Whether this run is on CI (`CI` set to anything but empty, `0` or `false`), where every
    /// optional input must be present.
    static let onCI: Bool = {
        let value = ProcessInfo.processInfo.environment["CI"]?.lowercased() ?? ""
        return !["", "0", "false"].contains(value)
    }()
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only when the shared bad-input corpus (`../shared/badinputs`) is beside the
    /// clone; otherwise the test is reported as skipped. On CI `CorpusPresenceTests` fails instead.
    static var needsBadInputs: Self {
        .enabled(if: Paths.badInputs != nil, "../shared/badinputs is absent (CI puts a copy of shared/ beside the clone)")
    }
}

/// CI must run every corpus and browser test: there, a missing corpus or browser is a failure, not a skip.
@Suite struct CorpusPresenceTests {
    @Test(.enabled(if: Paths.onCI, "runs only on CI (environment variable CI set)"))
    func badInputCorpusIsPresentOnCI() {
        #expect(Paths.badInputs != nil, "CI is set but ../shared/badinputs is missing: the corpus tests were skipped")
    }

    @Test(.enabled(if: Paths.onCI, "runs only on CI (environment variable CI set)"))
    func chromiumIsPresentOnCI() {
        #expect(Chromium.path != nil, "CI is set but chromium is not on PATH: the browser tests were skipped (bash scripts/setup.sh --tests installs it)")
    }
}

/// Runs the built `mmattn` executable (it sits beside the test bundle).
enum CLI {
    struct Result {
        var status: Int32
        var signaled: Bool
        var stdout: String
        var stderr: String
    }

    static let executable: String = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("mmattn").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return Paths.repo.appendingPathComponent(".build/debug/mmattn").path
    }()

    /// What every run starts from, so no test reaches the real Hub or the person's cache: an empty
    /// cache of the test run's own and an endpoint nothing listens on (a test's `environment`
    /// overrides them; the runner's own HF_* variables are not passed on).
    static let isolatedHub: [String: String] = {
        let home = tempDir()
        return ["HF_HOME": home, "HF_HUB_CACHE": home + "/hub", "HF_ENDPOINT": "http://127.0.0.1:9"]
    }()

    /// Run with a time limit (a hang is a failure, not a stuck test run). With `fileSizeLimitBlocks`
    /// the command runs under `ulimit -f` (512-byte blocks), with `directory` in that folder, both
    /// through `/bin/sh`.
    static func run(_ arguments: [String], timeout: TimeInterval = 60, environment: [String: String] = [:],
                    fileSizeLimitBlocks: Int? = nil, directory: String? = nil) throws -> Result {
        var argv = [executable] + arguments
        if let blocks = fileSizeLimitBlocks {
            argv = ["/bin/sh", "-c", "ulimit -f \(blocks) && exec \"$0\" \"$@\""] + argv
        }
        if let directory {
            argv = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory] + argv
        }
        // Output goes to files, so a chatty child can never block on a full pipe.
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outPath = dir + "/stdout", errPath = dir + "/stderr"
        let child = try Child(argv, environment: isolatedHub.merging(environment) { $1 }, stdout: outPath, stderr: errPath)
        let deadline = Date().addingTimeInterval(timeout)
        while child.poll() == nil && Date() < deadline { usleep(10_000) }
        if child.poll() == nil {
            kill(child.pid, SIGKILL)
            Issue.record("mmattn \(arguments.joined(separator: " ")) hung for \(timeout) s")
        }
        let end = child.wait()
        let stdoutData = FileManager.default.contents(atPath: outPath) ?? Data()
        let stderrData = FileManager.default.contents(atPath: errPath) ?? Data()
        return Result(status: end.status, signaled: end.signaled,
                      stdout: String(decoding: stdoutData, as: UTF8.self), stderr: String(decoding: stderrData, as: UTF8.self))
    }

    /// A child process started as a shell starts one: default signal actions and an empty signal
    /// mask. (Foundation's `Process` passes on the spawning thread's mask, and the test runner's
    /// threads block signals, so a child would ignore Ctrl-C and SIGXFSZ whatever the CLI does.)
    final class Child {
        struct SpawnError: Error { var message: String }
        let pid: pid_t
        private var ended: (status: Int32, signaled: Bool)?

        /// Start `argv[0]` (a path) with `argv`, the test's environment (without its HF_* and
        /// HUGGINGFACE_* variables) plus `environment`, and
        /// stdout/stderr into the given files (created or truncated).
        init(_ argv: [String], environment: [String: String] = [:], stdout: String, stderr: String) throws {
            var attr = posix_spawnattr_t()
            posix_spawnattr_init(&attr)
            defer { posix_spawnattr_destroy(&attr) }
            var all = sigset_t(), none = sigset_t()
            sigfillset(&all)
            sigemptyset(&none)
            posix_spawnattr_setsigdefault(&attr, &all)
            posix_spawnattr_setsigmask(&attr, &none)
            posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HF_") && !$0.key.hasPrefix("HUGGINGFACE_") }
            let env = inherited.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
            let cArgs = argv.map { strdup($0) } + [nil]
            let cEnv = env.map { strdup($0) } + [nil]
            defer { (cArgs + cEnv).forEach { free($0) } }
            var pid = pid_t()
            let rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, cEnv)
            guard rc == 0 else { throw SpawnError(message: "cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
            self.pid = pid
        }

        /// The exit status (or signal number, with `signaled`), or nil while the child runs.
        func poll() -> (status: Int32, signaled: Bool)? {
            if ended == nil { reap(WNOHANG) }
            return ended
        }

        /// Wait for the child to end.
        func wait() -> (status: Int32, signaled: Bool) {
            while ended == nil { reap(0) }
            return ended!
        }

        private func reap(_ options: Int32) {
            var status: Int32 = 0
            let r = waitpid(pid, &status, options)
            if r == pid {
                let signal = status & 0x7f
                if signal == 0 { ended = ((status >> 8) & 0xff, false) } else if signal != 0x7f { ended = (signal, true) }
            } else if r < 0 && errno != EINTR {
                ended = (-1, false)
            }
        }
    }

    /// A fresh empty folder for a command's output.
    /// Run `arguments` with `--output` into a fresh folder (none when `name` is nil); the result and
    /// that folder.
    static func run(_ arguments: [String], output name: String?) throws -> (Result, String) {
        let dir = tempDir()
        return (try run(name.map { arguments + ["--output", dir + "/" + $0] } ?? arguments, timeout: 60), dir)
    }

    static func tempDir() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mmattn-test-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Expect a clean rejection: exit status 1, an `error: ` line naming the problem, nothing in `outputDir`.
    static func expectRejected(_ r: Result, outputDir: String?, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!r.signaled && r.status == 1, "\(context): exit status \(r.status)\(r.signaled ? " (signal)" : "") — \(r.stderr.suffix(300))", sourceLocation: sourceLocation)
        #expect(r.stderr.split(separator: "\n").contains { $0.hasPrefix("error: ") }, "\(context): no `error: ` line in \(r.stderr.suffix(300))", sourceLocation: sourceLocation)
        if let outputDir {
            let left = (try? FileManager.default.contentsOfDirectory(atPath: outputDir)) ?? []
            #expect(left.isEmpty, "\(context): left \(left) behind", sourceLocation: sourceLocation)
        }
    }

    /// Expect no crash and no hang; either a clean rejection or success.
    static func expectAcceptedOrRejected(_ r: Result, outputDir: String?, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!r.signaled && (r.status == 0 || r.status == 1), "\(context): exit status \(r.status)\(r.signaled ? " (signal)" : "") — \(r.stderr.suffix(300))", sourceLocation: sourceLocation)
        if r.status == 1 { expectRejected(r, outputDir: outputDir, context, sourceLocation: sourceLocation) }
    }

    /// The expectation for a corpus file from its name: `valid_`, `either_`, or reject.
    static func expectByName(_ path: String, _ r: Result, outputDir: String?, sourceLocation: SourceLocation = #_sourceLocation) {
        let name = (path as NSString).lastPathComponent
        if name.hasPrefix("valid_") {
            #expect(r.status == 0, "\(name) should be accepted: \(r.stderr.suffix(300))", sourceLocation: sourceLocation)
        } else if name.hasPrefix("either_") {
            expectAcceptedOrRejected(r, outputDir: outputDir, name, sourceLocation: sourceLocation)
        } else {
            expectRejected(r, outputDir: outputDir, name, sourceLocation: sourceLocation)
        }
    }
}

/// SplitMix64, so that generated test inputs are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
