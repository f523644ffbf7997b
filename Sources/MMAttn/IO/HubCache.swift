import Foundation

/// A Hugging Face Hub model id with an optional revision: `org/name`, `name`, `org/name@v1.0` or
/// `org/name@<40-hex commit>`. Validated as huggingface_hub validates repo ids.
public struct HubModelID: Sendable, Hashable, CustomStringConvertible {
    /// `org/name` or `name`.
    public let repo: String
    /// A branch, tag or commit; `main` when the spec names none.
    public let revision: String

    /// Parse `spec`; throws, naming it, when it is not a valid Hub id.
    public init(_ spec: String) throws {
        let at = spec.firstIndex(of: "@")
        let repo = String(at.map { spec[..<$0] } ?? spec[...])
        let revision = at.map { String(spec[spec.index(after: $0)...]) } ?? "main"
        guard Self.isValidRepo(repo) else {
            throw MMAttnError("not a model folder, and not a Hub id (org/name or name: letters, digits, '-', '_' and '.', "
                              + "at most 96 characters each side, no '--' or '..'; optionally @revision)", file: spec)
        }
        guard Self.isValidRevision(revision) else {
            throw MMAttnError("the revision after '@' must be a branch, tag or commit (no spaces, '..' or leading '/')", file: spec)
        }
        self.init(repo: repo, revision: revision)
    }

    /// An id from parts already known to be valid (the cache's folder names, the Hub's answers).
    init(repo: String, revision: String) {
        self.repo = repo
        self.revision = revision
    }

    /// Whether the revision is a full commit hash (40 lowercase hex digits), which never moves.
    public var isCommit: Bool { Self.isCommitHash(revision) }

    /// `org/name`, with `@revision` unless it is `main`.
    public var description: String { revision == "main" ? repo : "\(repo)@\(revision)" }

    /// The cache folder name: `models--org--name`.
    public var folderName: String { "models--" + repo.replacingOccurrences(of: "/", with: "--") }

    /// 40 lowercase hex digits, as git commit ids and the Hub's `X-Repo-Commit` are written.
    public static func isCommitHash(_ s: String) -> Bool {
        s.utf8.count == 40 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    private static func isValidRepo(_ repo: String) -> Bool {
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !repo.contains("--"), !repo.contains(".."), !repo.hasSuffix(".git") else { return false }
        return parts.allSatisfy { part in
            let bytes = Array(part.utf8)
            func word(_ b: UInt8) -> Bool { (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) || b == 95 }
            return (1...96).contains(bytes.count) && word(bytes.first!) && word(bytes.last!)
                && bytes.allSatisfy { word($0) || $0 == 45 || $0 == 46 }
        }
    }

    private static func isValidRevision(_ revision: String) -> Bool {
        !revision.isEmpty && revision.utf8.count <= 256 && !revision.hasPrefix("/") && !revision.hasSuffix("/")
            && !revision.contains("..") && !revision.contains("//")
            && revision.unicodeScalars.allSatisfy { $0.value > 32 && $0.value < 127 && $0 != "\\" }
    }
}

/// A model snapshot found in the cache, as `mmattn models` lists it.
public struct CachedModel: Sendable {
    /// `org/name`.
    public let id: String
    /// The branch or tag pointing at the snapshot, else its commit.
    public let revision: String
    /// The commit of the snapshot.
    public let commit: String
    /// The family `config.json` declares (`vit`, `whisper`, ...), its `model_type` when mmattn does
    /// not run it, or `unknown` when there is no readable config.
    public let family: String
    /// Total size of the snapshot's files.
    public let bytes: Int
    /// The snapshot folder.
    public let path: String

    public init(id: String, revision: String, commit: String, family: String, bytes: Int, path: String) {
        self.id = id
        self.revision = revision
        self.commit = commit
        self.family = family
        self.bytes = bytes
        self.path = path
    }
}

/// The Hugging Face Hub cache as huggingface_hub lays it out, read side only (no network):
/// `<root>/models--org--name/{blobs/<etag>, refs/<revision>, snapshots/<commit>/<file> -> ../../blobs/<etag>}`.
public struct HubCache: Sendable {
    /// The cache folder (`hub`), whether or not it exists yet.
    public let root: String

    /// A cache at `root`.
    public init(root: String) { self.root = root }

    /// The cache huggingface_hub uses under `environment`: `HF_HUB_CACHE`, else the legacy
    /// `HUGGINGFACE_HUB_CACHE`, else `<HF_HOME>/hub` (see `hfHome`). `~` and `$VAR` are expanded.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let cache = environment["HF_HUB_CACHE"] ?? environment["HUGGINGFACE_HUB_CACHE"] {
            root = Self.expand(cache, environment)
        } else {
            root = (Self.hfHome(environment) as NSString).appendingPathComponent("hub")
        }
    }

    /// `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
    public static func hfHome(_ environment: [String: String]) -> String {
        if let home = environment["HF_HOME"] { return expand(home, environment) }
        let xdg = environment["XDG_CACHE_HOME"] ?? (userHome(environment) as NSString).appendingPathComponent(".cache")
        return expand((xdg as NSString).appendingPathComponent("huggingface"), environment)
    }

    private static func userHome(_ environment: [String: String]) -> String {
        environment["HOME"] ?? NSHomeDirectory()
    }

    /// `~` at the start and `$NAME` / `${NAME}` of set variables replaced, as Python's
    /// `os.path.expanduser(os.path.expandvars(...))` does (unset variables stay as written).
    public static func expand(_ path: String, _ environment: [String: String]) -> String {
        var out = ""
        var rest = Substring(path)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            var after = rest[rest.index(after: dollar)...]
            let braced = after.first == "{"
            if braced { after = after.dropFirst() }
            let name = after.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
            let closed = !braced || after.dropFirst(name.count).first == "}"
            if !name.isEmpty, closed, let value = environment[String(name)] {
                out += value
                rest = after.dropFirst(name.count + (braced ? 1 : 0))
            } else {
                out += "$"
                rest = rest[rest.index(after: dollar)...]
            }
        }
        out += rest
        if out == "~" || out.hasPrefix("~/") { out = userHome(environment) + out.dropFirst() }
        return out
    }

    /// `models--org--name` in the cache.
    public func repoFolder(_ id: HubModelID) -> String { (root as NSString).appendingPathComponent(id.folderName) }

    /// The folder of one commit's files.
    public func snapshotFolder(_ id: HubModelID, commit: String) -> String {
        "\(repoFolder(id))/snapshots/\(commit)"
    }

    /// The commit the revision names in the cache: itself for a commit hash, else what
    /// `refs/<revision>` holds; nil when the cache has no such ref.
    public func commit(of id: HubModelID) -> String? {
        if id.isCommit { return id.revision }
        let ref = "\(repoFolder(id))/refs/\(id.revision)"
        guard let text = try? String(contentsOfFile: ref, encoding: .utf8) else { return nil }
        let commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return commit.isEmpty || commit.contains("/") ? nil : commit
    }

    /// The snapshot folder of `id` when the cache has one with `config.json` and complete weights
    /// (see `hasWeights`), else nil.
    public func completeSnapshot(_ id: HubModelID) -> String? {
        guard let commit = commit(of: id) else { return nil }
        let folder = snapshotFolder(id, commit: commit)
        guard FileManager.default.fileExists(atPath: folder + "/config.json"), Self.hasWeights(folder) else { return nil }
        return folder
    }

    /// `completeSnapshot(id)`, or when `needsWeights` is false (a tokenizer alone) the revision's
    /// snapshot folder whatever it holds; nil when the cache has none.
    public func snapshot(_ id: HubModelID, needsWeights: Bool = true) -> String? {
        if let folder = completeSnapshot(id) { return folder }
        guard !needsWeights, let commit = commit(of: id) else { return nil }
        let folder = snapshotFolder(id, commit: commit)
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) && isDir.boolValue ? folder : nil
    }

    /// The snapshot of `id` (see `snapshot`), or an error that says how to get the model.
    public func find(_ id: HubModelID, needsWeights: Bool = true) throws -> String {
        if let folder = snapshot(id, needsWeights: needsWeights) { return folder }
        var what = "not in the Hugging Face cache (\(repoFolder(id)))"
        if let folder = snapshot(id, needsWeights: false) {
            what = "the cached snapshot \(folder) lacks config.json or some of its weights"
        }
        throw MMAttnError("not a local folder, and \(what): fetch it with `mmattn download \(id)`, "
                          + "or pass the path of a model folder", file: id.description)
    }

    /// Whether `folder` holds complete weights: `model.safetensors`, or
    /// `model.safetensors.index.json` and every shard it names; else the same for `pytorch_model.bin`.
    /// Symlinks count only when their blob exists.
    public static func hasWeights(_ folder: String) -> Bool {
        let fm = FileManager.default
        for (single, index) in Checkpoint.weightsFiles {
            if fm.fileExists(atPath: "\(folder)/\(single)") { return true }
            if let shards = try? shardNames(indexFile: "\(folder)/\(index)"),
               shards.allSatisfy({ fm.fileExists(atPath: "\(folder)/\($0)") }) {
                return true
            }
        }
        return false
    }

    /// The shard files a sharded checkpoint's index (`weight_map` values) names, in first-seen order;
    /// checked as `Checkpoint` checks them (a non-empty map of paths inside the folder).
    public static func shardNames(indexFile: String) throws -> [String] {
        try Checkpoint.readIndex(indexFile).files
    }

    /// Every model snapshot in the cache, by id then revision. Snapshots that a branch or tag points at
    /// are listed under that name (once per name); others under their commit.
    public func models() -> [CachedModel] {
        let fm = FileManager.default
        var result: [CachedModel] = []
        let repos = ((try? fm.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix("models--") }.sorted()
        for folderName in repos {
            let repo = "\(root)/\(folderName)"
            let id = folderName.dropFirst("models--".count).replacingOccurrences(of: "--", with: "/")
            var named: [(revision: String, commit: String)] = []
            if let refs = fm.enumerator(atPath: "\(repo)/refs") {
                while let ref = refs.nextObject() as? String {
                    let modelID = HubModelID(repo: id, revision: ref)
                    var isDir: ObjCBool = false
                    guard fm.fileExists(atPath: "\(repo)/refs/\(ref)", isDirectory: &isDir), !isDir.boolValue,
                          let commit = commit(of: modelID) else { continue }
                    named.append((ref, commit))
                }
            }
            let snapshots = ((try? fm.contentsOfDirectory(atPath: "\(repo)/snapshots")) ?? []).sorted()
            let referenced = Set(named.map(\.commit))
            let entries = named.sorted { $0.revision < $1.revision } + snapshots.filter { !referenced.contains($0) }.map { ($0, $0) }
            for (revision, commit) in entries {
                let path = "\(repo)/snapshots/\(commit)"
                var isDir: ObjCBool = false
                guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { continue }
                result.append(CachedModel(id: id, revision: revision, commit: commit, family: Self.familyName(path),
                                          bytes: Self.treeBytes(path), path: path))
            }
        }
        return result
    }

    private static func familyName(_ folder: String) -> String {
        guard let config = try? JSONFields.load(folder + "/config.json") else { return "unknown" }
        if let family = try? ModelFamily(config: config) { return family.rawValue }
        return (try? config.string("model_type")) ?? "unknown"
    }

    /// Sum of the sizes of the files under `folder`, through symlinks (the blobs they point at).
    private static func treeBytes(_ folder: String) -> Int {
        var total = 0
        guard let files = FileManager.default.enumerator(atPath: folder) else { return 0 }
        while let name = files.nextObject() as? String {
            var st = stat()
            if stat("\(folder)/\(name)", &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { total += Int(st.st_size) }
        }
        return total
    }
}
