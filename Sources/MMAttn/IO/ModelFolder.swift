import Foundation

/// A model in Hugging Face layout: a local folder, or a Hub id found in the Hugging Face cache.
public struct ModelFolder: Sendable {
    /// The folder holding `config.json` and the weights.
    public let path: String
    /// What the user asked for (folder path or Hub id), for messages and JSON output.
    public let name: String
    /// The parsed `config.json`.
    public let config: JSONFields

    /// Resolve `spec`: an existing folder, else a Hub id (`org/name`, optionally `@revision`) in the
    /// Hugging Face cache (`$HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`).
    public init(_ spec: String) throws {
        name = spec
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: spec, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw MMAttnError("--model must be a model folder (with config.json and model.safetensors) or a Hub id, not a file", file: spec)
            }
            path = spec
        } else {
            path = try ModelFolder.cachedSnapshot(spec)
        }
        let configPath = (path as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw MMAttnError("no config.json in the model folder: is this a Hugging Face model folder?", file: path)
        }
        config = try JSONFields.load(configPath)
    }

    /// `file` inside the folder.
    public func file(_ file: String) -> String { (path as NSString).appendingPathComponent(file) }

    /// A JSON file of the folder, or nil when the folder does not have it.
    public func optionalJSON(_ name: String) throws -> JSONFields? {
        let p = file(name)
        guard FileManager.default.fileExists(atPath: p) else { return nil }
        return try JSONFields.load(p)
    }

    /// The model's weights.
    public func checkpoint() throws -> Checkpoint { try Checkpoint(folder: path) }

    /// The snapshot folder of a Hub id in the local Hugging Face cache.
    static func cachedSnapshot(_ spec: String) throws -> String {
        let parts = spec.split(separator: "@", maxSplits: 1).map(String.init)
        let id = parts[0], revision = parts.count > 1 ? parts[1] : "main"
        let pieces = id.split(separator: "/")
        guard pieces.count <= 2, !pieces.isEmpty, pieces.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") }) else {
            throw MMAttnError("no such model folder, and not a Hub id of the form org/name", file: spec)
        }
        let env = ProcessInfo.processInfo.environment
        let cache = env["HF_HUB_CACHE"] ?? env["HUGGINGFACE_HUB_CACHE"]
            ?? ((env["HF_HOME"] ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache/huggingface")) as NSString).appendingPathComponent("hub")
        let repo = (cache as NSString).appendingPathComponent("models--" + pieces.joined(separator: "--"))
        let snapshots = (repo as NSString).appendingPathComponent("snapshots")
        let refFile = ((repo as NSString).appendingPathComponent("refs") as NSString).appendingPathComponent(revision)
        var commit = revision
        if let ref = try? String(contentsOfFile: refFile, encoding: .utf8) {
            commit = ref.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let snapshot = (snapshots as NSString).appendingPathComponent(commit)
        if FileManager.default.fileExists(atPath: snapshot) { return snapshot }
        throw MMAttnError("not a local folder, and not in the Hugging Face cache (\(repo)). mmattn does not download models yet: "
                          + "fetch it with `huggingface-cli download \(id)` or pass the path of a model folder", file: spec)
    }
}
