import Foundation
import MMAttn
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One model download: list the repo at a revision, choose the files the family needs, fetch each
/// into the cache, then point the revision's ref at the commit.
final class HubSession {
    let hub: Hub
    let id: HubModelID
    let progress: (@Sendable (DownloadProgress) -> Void)?
    let http = HTTPClient()
    private var fileIndex = 0
    private var fileCount = 0

    init(hub: Hub, id: HubModelID, progress: (@Sendable (DownloadProgress) -> Void)?) {
        self.hub = hub
        self.id = id
        self.progress = progress
    }

    var repoFolder: String { hub.cache.repoFolder(id) }

    /// Headers of every request to the Hub itself.
    func hubHeaders() -> [String: String] {
        var h = ["User-Agent": Hub.userAgent, "Accept-Encoding": "identity"]
        if let token = hub.token { h["Authorization"] = "Bearer \(token)" }
        return h
    }

    /// Fetch the files of `plan` and point the revision's ref at the commit; returns the snapshot folder.
    func run(needsWeights: Bool) throws -> String {
        defer { http.invalidate() }
        let (commit, siblings) = try listRepo()
        let files = try plan(Set(siblings), commit: commit, needsWeights: needsWeights)
        fileCount = files.count
        for (i, file) in files.enumerated() {
            fileIndex = i + 1
            try fetch(file, commit: commit)
        }
        try writeRef(commit)
        return hub.cache.snapshotFolder(id, commit: commit)
    }

    // MARK: choosing files

    /// `GET /api/models/{repo}/revision/{revision}`: the commit (`sha`) and the file names (`siblings`).
    func listRepo() throws -> (String, [String]) {
        let url = try urlOf("\(hub.endpoint)/api/models/\(id.repo)/revision/\(Self.escape(id.revision))")
        var bytes = Data()
        let head = try http.send("GET", url, headers: hubHeaders(), timeout: hub.etagTimeout,
                                 accept: { $0.status == 200 }) { piece in
            guard bytes.count + piece.count <= 64 << 20 else { throw MMAttnError("the repo listing is over 64 MB", file: url.absoluteString) }
            bytes.append(contentsOf: piece)
        }
        try check(head, file: nil)
        let json: JSONFields
        do {
            json = try JSONFields(try JSON.parse(bytes), file: url.absoluteString)
        } catch {
            throw MMAttnError("the Hub's answer is not the JSON of a model (is HF_ENDPOINT a Hugging Face Hub?): \(error)", file: url.absoluteString)
        }
        guard let sha = try json.string("sha"), HubModelID.isCommitHash(sha) else {
            throw MMAttnError("the Hub's answer has no 40-hex \"sha\" commit (is HF_ENDPOINT a Hugging Face Hub?)", file: url.absoluteString)
        }
        let siblings = (json.object["siblings"]?.array ?? []).compactMap { $0.object?["rfilename"]?.string }
        return (sha, siblings)
    }

    /// The files to fetch, in order: config.json, the weights and the family's other files; without
    /// `needsWeights`, config.json (if the repo has it) and the tokenizer files only. The files that
    /// say what else is needed (config.json, a sharded index, modules.json) are fetched here already,
    /// before the count is known, so without progress reports.
    func plan(_ available: Set<String>, commit: String, needsWeights: Bool) throws -> [String] {
        guard needsWeights else { return (["config.json"] + Self.tokenizerFiles).filter(available.contains) }
        guard available.contains("config.json") else {
            throw MMAttnError("the repo has no config.json at \(commit): it is not a transformers model mmattn can run", file: id.description)
        }
        let snapshot = hub.cache.snapshotFolder(id, commit: commit)
        try fetch("config.json", commit: commit)
        let family = try ModelFamily(config: try JSONFields.load("\(snapshot)/config.json"))
        var files = ["config.json"] + (try weights(available, commit: commit, snapshot: snapshot))
        files += extras(for: family).filter(available.contains)
        if available.contains("modules.json") {
            files += ["modules.json", "config_sentence_transformers.json", "sentence_bert_config.json"].filter(available.contains)
            // Each sentence-transformers module folder (1_Pooling, 2_Dense, ...): its config and weights.
            try fetch("modules.json", commit: commit)
            files += try sentenceTransformerModuleFiles("\(snapshot)/modules.json", available: available)
        }
        return files
    }

    /// The weight files: model.safetensors, or its index (fetched here to learn the shards) and
    /// shards; else the same for pytorch_model.bin.
    func weights(_ available: Set<String>, commit: String, snapshot: String) throws -> [String] {
        for (single, index) in Checkpoint.weightsFiles {
            if available.contains(single) { return [single] }
            if available.contains(index) {
                try fetch(index, commit: commit)
                let shards = try HubCache.shardNames(indexFile: "\(snapshot)/\(index)")
                if let missing = shards.first(where: { !available.contains($0) }) {
                    throw MMAttnError("\(index) names the shard \(missing), which the repo does not have", file: id.description)
                }
                return [index] + shards
            }
        }
        throw MMAttnError("the repo has no PyTorch weights mmattn reads (model.safetensors, pytorch_model.bin or their sharded "
                          + "indexes); ONNX, TensorFlow and Flax weights are not used", file: id.description)
    }

    /// The tokenizer files of every format `Tokenizer` reads (fetched when the repo has them).
    static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                                 "vocab.json", "merges.txt", "vocab.txt"]

    /// The files a family's commands read besides config and weights (fetched when the repo has them).
    func extras(for family: ModelFamily) -> [String] {
        let tokenizer = Self.tokenizerFiles
        switch family {
        case .vit, .deit, .ast: return ["preprocessor_config.json"]
        case .timesformer, .videomae: return ["preprocessor_config.json", "video_preprocessor_config.json"]
        case .whisper: return ["preprocessor_config.json", "generation_config.json", "normalizer.json"] + tokenizer
        case .esm: return ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]
        case .bert, .roberta, .distilbert, .gpt2, .modernbert, .qwen3: return tokenizer
        }
    }

    /// The files inside each module folder modules.json lists (configs, Dense weights), except
    /// ONNX/OpenVINO/TensorFlow/Flax exports and weights a safetensors file makes redundant.
    func sentenceTransformerModuleFiles(_ modulesFile: String, available: Set<String>) throws -> [String] {
        let modules = try JSON.load(contentsOf: modulesFile).array ?? []
        let folders = modules.compactMap { $0.object?["path"]?.string }.filter { !$0.isEmpty && !$0.contains("..") }
        var files: [String] = []
        for folder in folders {
            let inside = available.filter { $0.hasPrefix(folder + "/") }.filter { file in
                let name = (file as NSString).lastPathComponent
                let skipped = ["onnx", "openvino", "tf", "flax"].contains { file.contains("/\($0)/") }
                    || name.hasSuffix(".onnx") || name.hasSuffix(".h5") || name.hasSuffix(".msgpack") || name.hasSuffix(".ot")
                return !skipped && !(name == "pytorch_model.bin" && available.contains("\(folder)/model.safetensors"))
            }
            files += inside.sorted()
        }
        return files
    }

    // MARK: one file

    /// The snapshot entry of `file` at `commit`, downloading its blob unless the cache has it.
    func fetch(_ file: String, commit: String) throws {
        let pointer = "\(hub.cache.snapshotFolder(id, commit: commit))/\(file)"
        if FileManager.default.fileExists(atPath: pointer) { return }
        let meta = try metadata(file, commit: commit)
        let blobs = "\(repoFolder)/blobs"
        let blob = "\(blobs)/\(meta.etag)"
        let locks = "\((hub.cache.root as NSString).appendingPathComponent(".locks"))/\(id.folderName)"
        try makeFolder(blobs)
        try makeFolder(locks)
        try FileLock.withLock("\(locks)/\(meta.etag).lock") {
            if !FileManager.default.fileExists(atPath: blob) {
                tagCacheFolder()
                try BlobDownload(session: self, file: file, meta: meta, blob: blob).run()
            }
            try link(pointer: pointer, file: file, etag: meta.etag)
        }
    }

    struct FileMetadata {
        let etag: String
        let size: Int64?
        /// Where to GET the bytes, and whether the Hub's credentials may go there.
        let url: URL
        let sameHost: Bool
    }

    /// `HEAD {endpoint}/{repo}/resolve/{commit}/{file}`, following redirects only within the Hub's
    /// own host; a redirect elsewhere (LFS storage) carries the metadata itself.
    func metadata(_ file: String, commit: String) throws -> FileMetadata {
        let start = try urlOf("\(hub.endpoint)/\(id.repo)/resolve/\(commit)/\(Self.escapePath(file))")
        var url = start
        for _ in 0..<10 {
            let head = try http.send("HEAD", url, headers: hubHeaders(), timeout: hub.etagTimeout)
            try check(head, file: file)
            let target = head.isRedirect ? head.location : nil
            if let target, Self.sameOrigin(target, start) { url = target; continue }
            guard head.header("X-Repo-Commit") != nil else {
                throw MMAttnError("the answer to HEAD \(url.absoluteString) has no X-Repo-Commit header: HF_ENDPOINT (\(hub.endpoint)) "
                                  + "does not look like a Hugging Face Hub; check it and any proxy in between", file: "\(id)/\(file)")
            }
            guard let rawEtag = head.header("X-Linked-Etag") ?? head.header("ETag") else {
                throw MMAttnError("the Hub gave no ETag for the file, so it cannot be stored or verified", file: "\(id)/\(file)")
            }
            let etag = Self.normalizeEtag(rawEtag)
            guard !etag.isEmpty, etag.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != 47 && $0 != 92 }), etag != ".", etag != ".." else {
                throw MMAttnError("the Hub gave the ETag \(rawEtag), which cannot name a cache file", file: "\(id)/\(file)")
            }
            let sizeText = head.header("X-Linked-Size") ?? (head.isRedirect ? nil : head.header("Content-Length"))
            let location = target ?? url
            return FileMetadata(etag: etag, size: sizeText.flatMap { Int64($0) }, url: location,
                                sameHost: Self.sameOrigin(location, start))
        }
        throw MMAttnError("more than 10 redirects for HEAD \(start.absoluteString)", file: "\(id)/\(file)")
    }

    /// huggingface_hub's etag normalisation: drop a leading `W/` and the quotes.
    static func normalizeEtag(_ etag: String) -> String {
        var e = Substring(etag)
        while let c = e.first, c == "W" || c == "/" { e = e.dropFirst() }
        while e.first == "\"" { e = e.dropFirst() }
        while e.last == "\"" { e = e.dropLast() }
        return String(e)
    }

    /// `snapshots/<commit>/<file>` → `../../blobs/<etag>` (one more `../` per folder in `file`),
    /// made under a temporary name and renamed into place.
    func link(pointer: String, file: String, etag: String) throws {
        let depth = file.split(separator: "/").count - 1
        let target = String(repeating: "../", count: 2 + depth) + "blobs/\(etag)"
        try makeFolder((pointer as NSString).deletingLastPathComponent)
        let temp = "\(pointer).\(getpid()).link"
        unlink(temp)
        guard symlink(target, temp) == 0, rename(temp, pointer) == 0 else {
            let e = errno
            unlink(temp)
            throw MMAttnError("cannot create the snapshot link: \(String(cString: strerror(e)))", file: pointer)
        }
    }

    /// `refs/<revision>` holds the commit (when the revision is a branch or tag), written atomically.
    func writeRef(_ commit: String) throws {
        guard !id.isCommit else { return }
        let ref = "\(repoFolder)/refs/\(id.revision)"
        if (try? String(contentsOfFile: ref, encoding: .utf8)) == commit { return }
        try makeFolder((ref as NSString).deletingLastPathComponent)
        do {
            try AtomicFile.write(Data(commit.utf8), to: ref)
        } catch let error as MMAttnError {
            throw MMAttnError("cannot write the revision's ref: \(error.message)", file: ref)
        }
    }

    // MARK: helpers

    /// Mark the cache as one (https://bford.info/cachedir/) so backup tools can skip it, as
    /// huggingface_hub does; best effort.
    func tagCacheFolder() {
        let tag = (hub.cache.root as NSString).appendingPathComponent("CACHEDIR.TAG")
        guard !FileManager.default.fileExists(atPath: tag) else { return }
        let text = "Signature: 8a477f597d28d172789f06886806bc55\n# The Hugging Face Hub cache (models downloaded by mmattn or huggingface_hub).\n"
        try? Data(text.utf8).write(to: URL(fileURLWithPath: tag), options: .atomic)
    }

    func makeFolder(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw MMAttnError("cannot create the cache folder: \((error as NSError).localizedDescription); "
                              + "set HF_HOME or HF_HUB_CACHE to a writable folder", file: path)
        }
    }

    func urlOf(_ text: String) throws -> URL {
        guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw MMAttnError("not an http(s) URL; check HF_ENDPOINT (\(hub.endpoint))", file: text)
        }
        return url
    }

    /// A revision in a URL path (`refs/pr/1` → `refs%2Fpr%2F1`, as huggingface_hub quotes it).
    static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }

    /// A file path in a URL: each component escaped, slashes kept.
    static func escapePath(_ s: String) -> String { s.split(separator: "/").map { escape(String($0)) }.joined(separator: "/") }

    static func sameOrigin(_ a: URL, _ b: URL) -> Bool {
        a.scheme == b.scheme && a.host?.lowercased() == b.host?.lowercased() && a.port == b.port
    }

    /// Throw the error an unsuccessful status means (2xx and redirects pass).
    func check(_ head: HTTPHead, file: String?) throws {
        let status = head.status
        guard !(200..<400).contains(status) else { return }
        let code = head.header("X-Error-Code") ?? ""
        let what = file.map { "\(id)/\($0)" } ?? id.description
        let page = "https://huggingface.co/\(id.repo)"
        switch status {
        case 401, 403:
            let tokenNote = hub.token == nil
                ? "set HF_TOKEN to an access token of an account that may read it"
                : "the token in use (HF_TOKEN or the token file) may not read it; use one that can"
            if code == "GatedRepo" {
                throw MMAttnError("HTTP \(status): this is a gated model: accept its licence on \(page), then \(tokenNote)", file: what)
            }
            throw MMAttnError("HTTP \(status): access denied: the model is private or gated, or the id is misspelled "
                              + "(the Hub answers 401 for ids it does not know): check the id; \(tokenNote) "
                              + "(and accept the licence on the model page if it asks)", file: what)
        case 404:
            if code == "RevisionNotFound" {
                throw MMAttnError("HTTP 404: the repo has no revision \"\(id.revision)\" (branch, tag or commit)", file: what)
            }
            if code == "EntryNotFound" || file != nil {
                throw MMAttnError("HTTP 404: the file is not in the repo at this revision", file: what)
            }
            throw MMAttnError("HTTP 404: no model \(id.repo) (or no revision \"\(id.revision)\") on \(hub.endpoint): check the id", file: what)
        case 429:
            throw MMAttnError("HTTP 429: the Hub asks to slow down (rate limit); try again in a minute, with HF_TOKEN set", file: what)
        default:
            let message = head.header("X-Error-Message").map { ": \($0)" } ?? ""
            throw MMAttnError("HTTP \(status) from \(head.url.absoluteString)\(message); try again later", file: what)
        }
    }

    /// Pass a file's progress on, once `run` knows the file count (not while `plan` fetches).
    func report(_ file: String, bytes: Int64, total: Int64?) {
        guard fileIndex > 0 else { return }
        progress?(DownloadProgress(file: file, fileIndex: fileIndex, fileCount: fileCount, bytes: bytes, total: total))
    }
}

/// An exclusive `flock` on the lock file huggingface_hub uses for the same blob
/// (`<cache>/.locks/models--org--name/<etag>.lock`), so concurrent downloads by either tool wait
/// for each other instead of writing the same blob.
enum FileLock {
    static func withLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let fd = open(path, O_RDWR | O_CREAT, 0o664)
        guard fd >= 0 else {
            throw MMAttnError("cannot open the lock file: \(String(cString: strerror(errno))); set HF_HOME or HF_HUB_CACHE "
                              + "to a writable folder", file: path)
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw MMAttnError("cannot lock the file: \(String(cString: strerror(errno)))", file: path)
            }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}
