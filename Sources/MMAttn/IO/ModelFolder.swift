import Foundation

/// A model in Hugging Face layout: a local folder, or a Hub id found in the Hugging Face cache.
public struct ModelFolder: Sendable {
    /// The folder holding `config.json` and the weights.
    public let path: String
    /// What the user asked for (folder path or Hub id), for messages and JSON output.
    public let name: String
    /// The parsed `config.json`.
    public let config: JSONFields

    /// Resolve `spec`: an existing folder, else a Hub id (`org/name`, optionally `@revision`) whose
    /// snapshot is complete in the Hugging Face cache (`HubCache`). Never touches the network.
    public init(_ spec: String) throws {
        name = spec
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: spec, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw MMAttnError("--model must be a model folder (with config.json and model.safetensors) or a Hub id, not a file", file: spec)
            }
            path = spec
        } else {
            path = try HubCache().find(try HubModelID(spec))
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
}
