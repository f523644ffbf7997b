import Foundation

/// The weights of a model folder: `model.safetensors`, or a sharded checkpoint described by
/// `model.safetensors.index.json`. Every file is mapped and validated when the checkpoint opens;
/// tensors are read on request (F32 without copying).
public final class Checkpoint: Sendable {
    /// The file errors about the checkpoint as a whole name: the single weights file or the shard index.
    public let source: String
    /// The weights files (one, or the shards in index order).
    public let files: [String]

    /// All tensor names, sorted.
    public let names: [String]

    private let shards: [SafetensorsFile]
    /// Which shard holds each tensor.
    private let location: [String: Int]

    /// Open the weights of `folder` (a model folder, or a `.safetensors` file itself).
    public init(folder: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) else {
            throw MMAttnError("model folder not found", file: folder)
        }
        if !isFolder.boolValue {
            guard folder.hasSuffix(".safetensors") else {
                throw MMAttnError("expected a model folder (with model.safetensors) or a .safetensors file", file: folder)
            }
            let file = try SafetensorsFile(path: folder)
            (source, files, shards, location) = (folder, [folder], [file], Self.locate([file]))
            names = location.keys.sorted()
            return
        }
        let dir = URL(fileURLWithPath: folder)
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }

        if exists("model.safetensors") {
            let single = path("model.safetensors")
            let file = try SafetensorsFile(path: single)
            (source, files, shards, location) = (single, [single], [file], Self.locate([file]))
            names = location.keys.sorted()
            return
        }
        if exists("model.safetensors.index.json") {
            let index = path("model.safetensors.index.json")
            let shardNames = try Self.readIndex(index)
            var opened: [SafetensorsFile] = []
            for name in shardNames.files {
                guard exists(name) else {
                    throw MMAttnError("the index lists shard \(name), which is not in the folder: download the missing shard", file: index)
                }
                opened.append(try SafetensorsFile(path: path(name)))
            }
            var location: [String: Int] = [:]
            for (i, shard) in opened.enumerated() {
                for name in shard.names {
                    if let j = location[name] {
                        throw MMAttnError("tensor \"\(name)\" is in two shards, \(shardNames.files[j]) and \(shardNames.files[i]): the checkpoint is inconsistent", file: index)
                    }
                    location[name] = i
                }
            }
            let shardIndex = Dictionary(uniqueKeysWithValues: shardNames.files.enumerated().map { ($1, $0) })
            for (name, shard) in shardNames.weightMap where location[name] != shardIndex[shard] {
                throw MMAttnError("the index places tensor \"\(name)\" in \(shard), but that shard does not hold it: the index and the shards do not match", file: index)
            }
            (source, files, shards, self.location) = (index, opened.map(\.path), opened, location)
            names = location.keys.sorted()
            return
        }
        if exists("pytorch_model.bin") || exists("pytorch_model.bin.index.json") {
            throw MMAttnError("""
                the folder has PyTorch weights (pytorch_model.bin) but no model.safetensors: only safetensors is \
                supported. Convert once with: python -c "import torch; from safetensors.torch import save_file; \
                sd = torch.load('pytorch_model.bin', map_location='cpu'); \
                save_file({k: v.contiguous().clone() for k, v in sd.items()}, 'model.safetensors', metadata={'format': 'pt'})" \
                (run in the model folder; for a sharded .bin checkpoint, load it with transformers and save_pretrained it)
                """, file: folder)
        }
        if exists("tf_model.h5") || exists("flax_model.msgpack") {
            throw MMAttnError("the folder has TensorFlow/Flax weights but no model.safetensors: only safetensors is supported; convert with transformers (from_pretrained(..., from_tf=True or from_flax=True), then save_pretrained)", file: folder)
        }
        throw MMAttnError("no model.safetensors or model.safetensors.index.json in the model folder", file: folder)
    }

    private static func locate(_ files: [SafetensorsFile]) -> [String: Int] {
        var out: [String: Int] = [:]
        for (i, f) in files.enumerated() { for n in f.names { out[n] = i } }
        return out
    }

    /// The index's `weight_map` (tensor → shard file) and its shard files in order of first mention.
    private static func readIndex(_ index: String) throws -> (weightMap: [(String, String)], files: [String]) {
        let fields = try JSONFields.load(index)
        guard let map = try fields.fields("weight_map") else {
            throw MMAttnError("no \"weight_map\" in the shard index", file: index)
        }
        var weightMap: [(String, String)] = []
        var files: [String] = []
        for name in map.object.keys {
            guard let shard = map.object[name]?.string else {
                throw MMAttnError("\"weight_map\" must map tensor names to shard file names; \"\(name)\" maps to \(map.object[name]?.kindName ?? "nothing")", file: index)
            }
            let parts = shard.split(separator: "/", omittingEmptySubsequences: false)
            guard !shard.isEmpty, !shard.hasPrefix("/"), !parts.contains(".."), !shard.contains("\\") else {
                throw MMAttnError("shard file name \"\(shard)\" must be a file inside the model folder", file: index)
            }
            if !files.contains(shard) { files.append(shard) }
            weightMap.append((name, shard))
        }
        guard !weightMap.isEmpty else { throw MMAttnError("\"weight_map\" in the shard index is empty", file: index) }
        return (weightMap, files)
    }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    /// Element type, shape and byte size of a tensor, for `inspect`.
    public func info(_ name: String) -> (dtype: String, shape: [Int], bytes: Int)? {
        guard let i = location[name], let info = shards[i].info(name) else { return nil }
        return (info.dtype.rawValue, info.shape, info.byteCount)
    }

    /// The tensor, checked to have `shape`. Errors name the weights file.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let i = location[name], let info = shards[i].info(name) else { throw missing(name) }
        guard info.shape == shape else {
            throw MMAttnError("tensor \"\(name)\" has shape \(info.shape), expected \(shape): the weights do not match the configuration (config.json)", file: shards[i].path)
        }
        return try shards[i].tensor(name)
    }

    /// The tensor with whatever shape the file gives it.
    public func tensor(_ name: String) throws -> Tensor {
        guard let i = location[name] else { throw missing(name) }
        return try shards[i].tensor(name)
    }

    /// The tensor checked to have `shape` when the checkpoint has it, `nil` when it does not
    /// (for optional parts such as a final norm some checkpoints lack).
    public func tensorIfPresent(_ name: String, shape: [Int]) throws -> Tensor? {
        contains(name) ? try tensor(name, shape: shape) : nil
    }

    private func missing(_ name: String) -> MMAttnError {
        MMAttnError("missing tensor \"\(name)\": the checkpoint (\(location.count) tensors) does not match the model family or configuration", file: source)
    }

    /// Total size of all tensors' data in bytes.
    public var totalBytes: Int {
        var total = 0
        for (name, i) in location { total += shards[i].info(name)?.byteCount ?? 0 }
        return total
    }

    /// Number of tensors of each dtype (`"F32": 200`).
    public var dtypeCounts: [String: Int] {
        var counts: [String: Int] = [:]
        for (name, i) in location { if let d = shards[i].info(name)?.dtype { counts[d.rawValue, default: 0] += 1 } }
        return counts
    }

    /// Number of elements of all floating-point tensors (integer tensors are buffers such as position ids).
    public var parameterCount: Int {
        var total = 0
        for (name, i) in location {
            if let info = shards[i].info(name), info.dtype.isFloatingPoint { total += info.elementCount }
        }
        return total
    }

    /// A view that puts `prefix` before every name: `checkpoint.scoped("vit.").tensor("embeddings.cls_token")`.
    public func scoped(_ prefix: String) -> CheckpointScope { CheckpointScope(checkpoint: self, prefix: prefix) }

    /// The first of `candidates` under which tensor `probe` exists (checkpoint classes name the same
    /// weights with different prefixes: "vit.", "deit.", "" ...). Throws when none fits.
    public func prefix(among candidates: [String], probing probe: String) throws -> String {
        if let p = candidates.first(where: { contains($0 + probe) }) { return p }
        let tried = candidates.map { "\"\($0)\(probe)\"" }.joined(separator: ", ")
        throw MMAttnError("none of the expected tensors \(tried) is in the checkpoint: it is not a checkpoint of this model family", file: source)
    }
}

/// A checkpoint seen under a name prefix, so model code can use the names of its own submodule.
public struct CheckpointScope: Sendable {
    public let checkpoint: Checkpoint
    public let prefix: String

    public func contains(_ name: String) -> Bool { checkpoint.contains(prefix + name) }
    public func info(_ name: String) -> (dtype: String, shape: [Int], bytes: Int)? { checkpoint.info(prefix + name) }
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor { try checkpoint.tensor(prefix + name, shape: shape) }
    public func tensor(_ name: String) throws -> Tensor { try checkpoint.tensor(prefix + name) }
    public func tensorIfPresent(_ name: String, shape: [Int]) throws -> Tensor? {
        try checkpoint.tensorIfPresent(prefix + name, shape: shape)
    }
    /// A narrower scope: `encoder.scoped("layer.3.")`.
    public func scoped(_ more: String) -> CheckpointScope { CheckpointScope(checkpoint: checkpoint, prefix: prefix + more) }
}
