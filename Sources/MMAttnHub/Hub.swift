import Foundation
import MMAttn
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// How a download is going, for a progress display: `bytes` of `total` (nil when the server did not
/// say) of `file`, the `fileIndex`-th (from 1) of `fileCount` files being fetched.
public struct DownloadProgress: Sendable {
    public let file: String
    public let fileIndex: Int
    public let fileCount: Int
    public let bytes: Int64
    public let total: Int64?
}

/// Models by Hugging Face Hub id, with huggingface_hub's environment and cache: `HF_ENDPOINT`,
/// `HF_TOKEN` (else the token file), `HF_HUB_OFFLINE`, `HF_HOME` / `HF_HUB_CACHE`. Downloads go
/// into the shared cache (blobs, snapshot symlinks, refs) exactly as huggingface_hub writes it, so
/// either tool reuses the other's files.
public struct Hub: Sendable {
    /// The cache that models are read from and downloaded into.
    public let cache: HubCache
    /// The Hub's address (`HF_ENDPOINT`, default https://huggingface.co), without a trailing slash.
    public let endpoint: String
    /// `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is set: no request is ever made.
    public let offline: Bool
    let token: String?
    let etagTimeout: TimeInterval
    let downloadTimeout: TimeInterval
    /// Sent as User-Agent.
    static let userAgent = "mmattn/\(MMAttnVersion.string); hf_hub/none; swift"

    /// The Hub as huggingface_hub configures itself from `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        cache = HubCache(environment: environment)
        var endpoint = environment["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://huggingface.co"
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.endpoint = endpoint
        func isTrue(_ v: String?) -> Bool { ["1", "ON", "YES", "TRUE"].contains(v?.uppercased() ?? "") }
        offline = isTrue(environment["HF_HUB_OFFLINE"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["TRANSFORMERS_OFFLINE"])
        token = isTrue(environment["HF_HUB_DISABLE_IMPLICIT_TOKEN"]) ? nil : Self.token(environment)
        etagTimeout = environment["HF_HUB_ETAG_TIMEOUT"].flatMap(TimeInterval.init) ?? 10
        downloadTimeout = environment["HF_HUB_DOWNLOAD_TIMEOUT"].flatMap(TimeInterval.init) ?? 10
    }

    /// `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`), else the token file `huggingface-cli login`
    /// writes (`HF_TOKEN_PATH`, default `<HF_HOME>/token`); blanks and newlines removed, empty means none.
    static func token(_ environment: [String: String]) -> String? {
        func clean(_ s: String?) -> String? {
            guard let s else { return nil }
            let t = s.replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "\n", with: "").trimmingCharacters(in: .whitespaces)
            return t.isEmpty ? nil : t
        }
        if let t = clean(environment["HF_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["HUGGING_FACE_HUB_TOKEN"]) { return t }
        let path = environment["HF_TOKEN_PATH"].map { HubCache.expand($0, environment) }
            ?? (HubCache.hfHome(environment) as NSString).appendingPathComponent("token")
        return clean(try? String(contentsOfFile: path, encoding: .utf8))
    }

    /// The local folder for `spec`: an existing path is returned as is; a Hub id whose snapshot is
    /// in the cache (with config and weights, unless `needsWeights` is false, as for a tokenizer alone)
    /// is returned without any network request; otherwise the model is downloaded (see `download`;
    /// without `needsWeights`, only config.json and the tokenizer files). Use `download` to refresh a
    /// cached model.
    public func resolve(_ spec: String, needsWeights: Bool = true,
                        progress: (@Sendable (DownloadProgress) -> Void)? = nil) throws -> String {
        if FileManager.default.fileExists(atPath: spec) { return spec }
        let id = try HubModelID(spec)
        if let folder = cache.snapshot(id, needsWeights: needsWeights) { return folder }
        return try download(id, needsWeights: needsWeights, progress: progress)
    }

    /// Fetch what mmattn needs of the model `id` (`org/name[@revision]`) into the cache and return its
    /// snapshot folder: config.json, the weights (safetensors, else PyTorch; sharded or not) and the
    /// family's preprocessor, tokenizer, generation and sentence-transformers files. Files already in
    /// the cache are not fetched again; an interrupted file resumes where it stopped. Offline, or when
    /// the Hub cannot be reached, a complete cached snapshot is returned instead (with a warning when
    /// the network failed), else the error says how to get the model.
    public func download(_ id: String, progress: (@Sendable (DownloadProgress) -> Void)? = nil) throws -> String {
        try download(try HubModelID(id), needsWeights: true, progress: progress)
    }

    /// The cached model snapshots (no network).
    public func cachedModels() -> [CachedModel] { cache.models() }

    func download(_ id: HubModelID, needsWeights: Bool, progress: (@Sendable (DownloadProgress) -> Void)?) throws -> String {
        if offline {
            if let folder = cache.snapshot(id, needsWeights: needsWeights) { return folder }
            throw MMAttnError("not in the Hugging Face cache (\(cache.repoFolder(id))), and HF_HUB_OFFLINE is set so mmattn "
                              + "may not download it: unset HF_HUB_OFFLINE and run `mmattn download \(id)`, or pass a local "
                              + "model folder (--model path/to/folder)", file: id.description)
        }
        let session = HubSession(hub: self, id: id, progress: progress)
        do {
            return try session.run(needsWeights: needsWeights)
        } catch let failure as NetworkFailure {
            if let folder = cache.snapshot(id, needsWeights: needsWeights) {
                Diagnostics.warn("\(id): cannot reach \(endpoint) (\(failure)); using the cached snapshot \(folder)")
                return folder
            }
            throw MMAttnError("cannot download: \(failure), and the model is not in the Hugging Face cache (\(cache.repoFolder(id))). "
                              + "Pass a local model folder (--model path/to/folder), or connect to the network (check HF_ENDPOINT "
                              + "and proxy settings; HF_HUB_OFFLINE=1 uses the cache only)", file: id.description)
        }
    }
}
