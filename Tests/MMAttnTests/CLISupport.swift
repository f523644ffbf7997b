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

    /// Files of a bad-input category, or [] with a notice when the corpus is absent.
    static func badInputs(_ category: String, extensions: Set<String>) -> [String] {
        guard let root = badInputs else {
            print("notice: ../shared/badinputs not found; skipping the shared bad-input corpus")
            return []
        }
        let dir = (root as NSString).appendingPathComponent(category)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            .map { (dir as NSString).appendingPathComponent($0) }
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

    /// Run with a time limit (a hang is a failure, not a stuck test run).
    static func run(_ arguments: [String], timeout: TimeInterval = 60, environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        // Output goes to files, so a chatty child can never block on a full pipe.
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outPath = dir + "/stdout", errPath = dir + "/stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            Issue.record("mmattn \(arguments.joined(separator: " ")) hung for \(timeout) s")
        }
        process.waitUntilExit()
        try out.close()
        try err.close()
        let stdoutData = FileManager.default.contents(atPath: outPath) ?? Data()
        let stderrData = FileManager.default.contents(atPath: errPath) ?? Data()
        return Result(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                      stdout: String(decoding: stdoutData, as: UTF8.self), stderr: String(decoding: stderrData, as: UTF8.self))
    }

    /// A fresh empty folder for a command's output.
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
