import Foundation
import MMAttn

/// One fuzz target: arbitrary bytes through the entry point the CLI (or the server) uses for one
/// input format. A thrown error is the expected answer to bad input; a crash, a sanitizer report,
/// a hang or an allocation past libFuzzer's limit is a finding.
///
/// `@unchecked Sendable`: a target is run by one thread at a time (libFuzzer's, or one test).
public final class FuzzTarget: @unchecked Sendable {
    /// The name `scripts/fuzz.sh` and the corpus folders use (`Fuzz/corpus/<name>`).
    public let name: String
    /// What the bytes are and what they go through.
    public let summary: String
    private let prepare: (Scratch) throws -> (UnsafeRawBufferPointer) throws -> Void
    private var body: ((UnsafeRawBufferPointer) throws -> Void)?
    private var scratch: Scratch?

    init(_ name: String, _ summary: String, prepare: @escaping (Scratch) throws -> (UnsafeRawBufferPointer) throws -> Void) {
        self.name = name
        self.summary = summary
        self.prepare = prepare
    }

    /// Run one input; errors thrown for it are swallowed (they are the readers' answers), warnings
    /// are dropped. The first call loads what the target needs (fixtures, a scratch folder).
    public func run(_ bytes: UnsafeRawBufferPointer) throws {
        if body == nil {
            let scratch = try Scratch(target: name)
            self.scratch = scratch
            body = try prepare(scratch)
        }
        Diagnostics.capture({ _ in }) {
            do { try body!(bytes) } catch {}
        }
    }

    /// `run` on the bytes of `data`.
    public func run(_ data: Data) throws {
        try data.withUnsafeBytes { try run($0) }
    }

    /// Remove the scratch folder.
    public func finish() {
        scratch?.remove()
        scratch = nil
        body = nil
    }

    /// Every target, by name.
    public static let all: [FuzzTarget] = [
        Targets.safetensors, Targets.pickle, Targets.npy, Targets.config, Targets.sentenceTransformers,
        Targets.tokenizerJSON, Targets.tokenize, Targets.png, Targets.audio, Targets.fasta, Targets.video,
        Targets.server,
    ]

    /// The target called `name`.
    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// The repository's root, for the fixtures the targets load (`MMATTN_ROOT` overrides).
enum Repository {
    static let root: String = {
        if let root = ProcessInfo.processInfo.environment["MMATTN_ROOT"] { return root }
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Sources/MMAttnFuzz/FuzzTarget.swift
        return url.path
    }()

    static func fixture(_ path: String) -> String { root + "/Fixtures/" + path }
}

/// A private folder for the files a path-taking reader needs (in memory under /dev/shm when the
/// machine has it), removed by `remove`.
final class Scratch {
    let path: String

    init(target: String) throws {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        var template = Array("\(base)/mmattn-fuzz-\(target)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw MMAttnError("cannot make a scratch folder in \(base) (\(String(cString: strerror(errno))))")
        }
        path = String(cString: made)
    }

    /// `path/name`, after making its parent folders.
    func file(_ name: String) -> String {
        let full = path + "/" + name
        try? FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        return full
    }

    /// Write `bytes` to `name` (replacing it) and give its path.
    @discardableResult
    func write(_ bytes: UnsafeRawBufferPointer, to name: String) throws -> String {
        let full = file(name)
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw MMAttnError("cannot write \(full) (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            guard n > 0 else { throw MMAttnError("cannot write \(full) (\(String(cString: strerror(errno))))") }
            done += n
        }
        return full
    }

    /// A folder `name` whose files are links to those of the fixture folder `fixture`, but for `except`.
    func linkedFolder(_ name: String, to fixture: String, except: Set<String>) throws -> String {
        let folder = path + "/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let source = Repository.fixture(fixture)
        for item in try FileManager.default.contentsOfDirectory(atPath: source) where !except.contains(item) {
            try FileManager.default.createSymbolicLink(atPath: folder + "/" + item, withDestinationPath: source + "/" + item)
        }
        return folder
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The input split at NUL bytes into at most `count` pieces (the last keeps the rest), for targets
/// that read several files at once.
func pieces(_ bytes: UnsafeRawBufferPointer, count: Int) -> [UnsafeRawBufferPointer] {
    var out: [UnsafeRawBufferPointer] = []
    var start = 0
    for i in 0..<bytes.count where out.count < count - 1 && bytes[i] == 0 {
        out.append(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        start = i + 1
    }
    out.append(UnsafeRawBufferPointer(rebasing: bytes[start...]))
    return out
}
