import Foundation

/// The weights of a model folder: `model.safetensors`, a sharded checkpoint described by
/// `model.safetensors.index.json`, or, when the folder has no safetensors, `pytorch_model.bin` or
/// its shards (`pytorch_model.bin.index.json`). Every file is mapped and validated when the
/// checkpoint opens; tensors are read on request (contiguous F32 without copying). Model loaders
/// see the published tensor names: `renamed(by:)` reads a checkpoint saved under a newer
/// generation of module names through the family's `CheckpointNames`.
public final class Checkpoint: Sendable {
    /// The file errors about the checkpoint as a whole name: the single weights file or the shard index.
    public let source: String
    /// The weights files (one, or the shards in index order).
    public var files: [String] { shards.map(\.path) }

    /// All tensor names, sorted (the published names once `renamed(by:)` has mapped them).
    public let names: [String]

    private let shards: [any WeightsFile]
    /// Which shard holds each tensor, and its name in that file.
    private let location: [String: Location]
    /// The name table that mapped the stored names, when they were not the published ones.
    private let table: CheckpointNames?
    /// The number type models built from this checkpoint compute in (their Linear layers pack
    /// their weights for it as they load): f32 unless `computing(in:)` chose another.
    public let dtype: DType

    private struct Location: Sendable {
        let shard: Int
        let stored: String
    }

    /// The weights files a model folder may hold, in the order transformers prefers them: each
    /// single file, then its shard index (safetensors first; PyTorch pickles only without it).
    public static let weightsFiles = [(single: "model.safetensors", index: "model.safetensors.index.json"),
                                      (single: "pytorch_model.bin", index: "pytorch_model.bin.index.json")]

    /// Open the weights of `folder` (a model folder, or a `.safetensors` or PyTorch `.bin` file itself).
    public convenience init(folder: String) throws {
        let (source, shards, index) = try Self.open(folder)
        try self.init(source: source, shards: shards, index: index)
    }

    /// The shards of one source, every tensor name located (a name in two shards is an error).
    private init(source: String, shards: [any WeightsFile], index: (weightMap: [(String, String)], files: [String])?) throws {
        var location: [String: Location] = [:]
        for (i, shard) in shards.enumerated() {
            for name in shard.names {
                if let j = location[name]?.shard, let files = index?.files {
                    throw MMAttnError("tensor \"\(name)\" is in two shards, \(files[j]) and \(files[i]): the checkpoint is inconsistent", file: source)
                }
                location[name] = Location(shard: i, stored: name)
            }
        }
        if let index {
            let shardIndex = Dictionary(uniqueKeysWithValues: index.files.enumerated().map { ($1, $0) })
            for (name, shard) in index.weightMap where location[name]?.shard != shardIndex[shard] {
                throw MMAttnError("the index places tensor \"\(name)\" in \(shard), but that shard does not hold it: the index and the shards do not match", file: source)
            }
        }
        (self.source, self.shards, self.location, table, dtype) = (source, shards, location, nil, .f32)
        names = location.keys.sorted()
    }

    /// `base` seen under other names, or computing in another type.
    private init(_ base: Checkpoint, location: [String: Location], table: CheckpointNames?, dtype: DType) {
        (source, shards, self.location, self.table, self.dtype) = (base.source, base.shards, location, table, dtype)
        names = location.keys.sorted()
    }

    /// The same weights, for models that compute in `dtype` (pass `DType.runnable`).
    public func computing(in dtype: DType) -> Checkpoint {
        Checkpoint(self, location: location, table: table, dtype: dtype)
    }

    /// The weights files of `folder` (or the file itself) opened, the file that names them as a
    /// whole, and the shard index when there is one.
    private static func open(_ folder: String) throws -> (String, [any WeightsFile], (weightMap: [(String, String)], files: [String])?) {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) else {
            throw MMAttnError("model folder not found", file: folder)
        }
        if !isFolder.boolValue {
            if folder.hasSuffix(".safetensors") { return (folder, [try SafetensorsFile(path: folder)], nil) }
            if [".bin", ".pt", ".pth"].contains(where: { folder.hasSuffix($0) }) { return (folder, [try TorchWeightsFile(path: folder)], nil) }
            throw MMAttnError("expected a model folder (with model.safetensors or pytorch_model.bin), a .safetensors file or a PyTorch .bin file", file: folder)
        }
        let dir = URL(fileURLWithPath: folder)
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }
        for (single, index) in weightsFiles {
            let open: (String) throws -> any WeightsFile = single.hasSuffix(".safetensors") ? { try SafetensorsFile(path: $0) } : { try TorchWeightsFile(path: $0) }
            if exists(single) { return (path(single), [try open(path(single))], nil) }
            if exists(index) {
                let shardIndex = try readIndex(path(index))
                let shards = try shardIndex.files.map { name in
                    guard exists(name) else {
                        throw MMAttnError("the index lists shard \(name), which is not in the folder: download the missing shard", file: path(index))
                    }
                    return try open(path(name))
                }
                return (path(index), shards, shardIndex)
            }
        }
        if exists("tf_model.h5") || exists("flax_model.msgpack") {
            throw MMAttnError("the folder has TensorFlow/Flax weights but no model.safetensors or pytorch_model.bin: convert with transformers (from_pretrained(..., from_tf=True or from_flax=True), then save_pretrained)", file: folder)
        }
        throw MMAttnError("no model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json in the model folder", file: folder)
    }

    /// The index's `weight_map` (tensor → shard file) and its shard files in order of first mention.
    static func readIndex(_ index: String) throws -> (weightMap: [(String, String)], files: [String]) {
        let fields = try JSONFields.load(index)
        guard let map = try fields.fields("weight_map") else {
            throw MMAttnError("no \"weight_map\" in the shard index", file: index)
        }
        var weightMap: [(String, String)] = []
        var files: [String] = [], named = Set<String>()
        for name in map.object.keys {
            guard let shard = map.object[name]?.string else {
                throw MMAttnError("\"weight_map\" must map tensor names to shard file names; \"\(name)\" maps to \(map.object[name]?.kindName ?? "nothing")", file: index)
            }
            let parts = shard.split(separator: "/", omittingEmptySubsequences: false)
            guard !shard.isEmpty, !shard.hasPrefix("/"), !parts.contains(".."), !shard.contains("\\") else {
                throw MMAttnError("shard file name \"\(shard)\" must be a file inside the model folder", file: index)
            }
            if named.insert(shard).inserted { files.append(shard) }
            weightMap.append((name, shard))
        }
        guard !weightMap.isEmpty else { throw MMAttnError("\"weight_map\" in the shard index is empty", file: index) }
        return (weightMap, files)
    }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    /// Element type, shape and byte size of a tensor, for `inspect`.
    public func info(_ name: String) -> (dtype: String, shape: [Int], bytes: Int)? {
        guard let l = location[name], let info = shards[l.shard].stored(l.stored) else { return nil }
        return (info.dtype.rawValue, info.shape, info.bytes)
    }

    /// `name` as errors quote it: the stored name, and the published one when the table mapped it.
    private func quoted(_ name: String, _ l: Location) -> String {
        l.stored == name ? "\"\(name)\"" : "\"\(l.stored)\" (read as \"\(name)\")"
    }

    /// The tensor, checked to have `shape`. Errors name the weights file.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let l = location[name], let info = shards[l.shard].stored(l.stored) else { throw missing(name) }
        guard info.shape == shape else {
            throw MMAttnError("tensor \(quoted(name, l)) has shape \(info.shape), expected \(shape): the weights do not match the configuration (config.json)", file: shards[l.shard].path)
        }
        return try shards[l.shard].tensor(l.stored)
    }

    /// The tensor with whatever shape the file gives it.
    public func tensor(_ name: String) throws -> Tensor {
        guard let l = location[name] else { throw missing(name) }
        return try shards[l.shard].tensor(l.stored)
    }

    /// The tensor checked to have `shape` when the checkpoint has it, `nil` when it does not
    /// (for optional parts such as a final norm some checkpoints lack).
    public func tensorIfPresent(_ name: String, shape: [Int]) throws -> Tensor? {
        contains(name) ? try tensor(name, shape: shape) : nil
    }

    private func missing(_ name: String) -> MMAttnError {
        let names = table.map { " (its names were read through the \($0.family) table of transformers 5 module names)" } ?? ""
        return MMAttnError("missing tensor \"\(name)\": the checkpoint (\(location.count) tensors\(names)) does not match the model family or configuration", file: source)
    }

    /// Total size of all tensors' data in bytes.
    public var totalBytes: Int {
        location.values.reduce(0) { $0 + (shards[$1.shard].stored($1.stored)?.bytes ?? 0) }
    }

    /// Number of tensors of each dtype (`"F32": 200`).
    public var dtypeCounts: [String: Int] {
        var counts: [String: Int] = [:]
        for l in location.values { if let d = shards[l.shard].stored(l.stored)?.dtype { counts[d.rawValue, default: 0] += 1 } }
        return counts
    }

    /// Number of elements of all floating-point tensors (integer tensors are buffers such as position ids).
    public var parameterCount: Int {
        var total = 0
        for l in location.values {
            if let info = shards[l.shard].stored(l.stored), info.dtype.isFloatingPoint { total += info.elementCount }
        }
        return total
    }

    /// The checkpoint under the published names of a family whose module names changed: a
    /// checkpoint saved with the newer names (transformers 5's `state_dict()`) is mapped through
    /// `table`; one with the published names is returned as it is. A checkpoint that mixes both
    /// generations, or has a newer-generation name the table does not know, is an error.
    public func renamed(by table: CheckpointNames) throws -> Checkpoint {
        guard self.table == nil, !table.renames.isEmpty else { return self }
        var mapped: [String: Location] = [:]
        var current: String?, rest: [String] = []
        for name in names {  // sorted, so messages name the first of each kind
            if let to = table.published(for: name) {
                current = current ?? name
                mapped[to] = location[name]
            } else {
                rest.append(name)
            }
        }
        guard let current else { return self }  // the published names: nothing to map
        if let published = rest.first(where: table.isPublished) {
            throw MMAttnError("the checkpoint mixes two generations of \(table.family) tensor names: \"\(current)\" (transformers 5 module names) and \"\(published)\" (the published names); save the weights again from one model", file: source)
        }
        if let unknown = rest.first(where: table.looksCurrent) {
            throw MMAttnError("tensor \"\(unknown)\" has a transformers 5 module path that the \(table.family) name table does not know: the checkpoint is not a \(table.family) model mmattn reads", file: source)
        }
        for name in rest { mapped[name] = location[name] }
        guard mapped.count == location.count else {
            throw MMAttnError("two tensors of the checkpoint map to the same published \(table.family) name: the checkpoint is inconsistent", file: source)
        }
        return Checkpoint(self, location: mapped, table: table, dtype: dtype)
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

/// Element type, shape and byte size of one stored tensor.
struct StoredTensorInfo {
    let dtype: SafetensorsDType
    let shape: [Int]
    let bytes: Int
    var elementCount: Int { shape.reduce(1, *) }
}

/// One weights file of a checkpoint: safetensors or a PyTorch pickle.
protocol WeightsFile: AnyObject, Sendable {
    var path: String { get }
    var names: [String] { get }
    func stored(_ name: String) -> StoredTensorInfo?
    /// The tensor as F32 (a view of the file where possible).
    func tensor(_ name: String) throws -> Tensor
}

extension SafetensorsFile: WeightsFile {
    func stored(_ name: String) -> StoredTensorInfo? {
        info(name).map { StoredTensorInfo(dtype: $0.dtype, shape: $0.shape, bytes: $0.byteCount) }
    }
}

extension TorchWeightsFile: WeightsFile {
    func stored(_ name: String) -> StoredTensorInfo? {
        entries[name].map { StoredTensorInfo(dtype: $0.dtype, shape: $0.shape, bytes: $0.byteCount) }
    }
}

/// The tensor names of one model family across checkpoint generations. The published names
/// (what `save_pretrained` wrote before transformers 5, and what the Hub holds) are the ones the
/// loaders use; transformers 5 renamed the modules of some families, and a plain `state_dict()`
/// save (custom training loops, accelerate) writes the new names. Each `Rename` maps one module
/// path of the new generation to its published path; `#` stands for a layer number. Families
/// whose names did not change have an empty table.
public struct CheckpointNames: Sendable {
    /// One renamed module path, as dot-separated parts (`["layers", "#", "mlp", "fc1"]`).
    public struct Rename: Sendable {
        let current: [Substring]
        let published: [Substring]
    }

    /// The family, for messages ("ViT").
    public let family: String
    public let renames: [Rename]
    /// The leading parts of the new paths up to their first layer number (`layers.#`): a name with
    /// one of them but no rename is a new-generation name the table does not know.
    private let stems: [[Substring]]

    /// `pairs` map transformers-5 module paths to the published ones: `("layers.#.mlp.fc1", "encoder.layer.#.intermediate.dense")`.
    public init(family: String, _ pairs: [(current: String, published: String)]) {
        self.family = family
        renames = pairs.map { Rename(current: $0.current.split(separator: "."), published: $0.published.split(separator: ".")) }
        var stems: [[Substring]] = []
        for r in renames {
            if let i = r.current.firstIndex(of: "#") {
                let stem = Array(r.current[...i])
                if !stems.contains(stem) { stems.append(stem) }
            }
        }
        self.stems = stems
    }

    /// Where `pattern` matches `parts` (at a part boundary, leaving at least the final part),
    /// with the layer numbers it matched.
    private static func match(_ pattern: [Substring], in parts: [Substring], whole: Bool) -> (at: Int, numbers: [Substring])? {
        guard parts.count > pattern.count || (!whole && parts.count >= pattern.count) else { return nil }
        for start in 0...(parts.count - pattern.count - (whole ? 1 : 0)) {
            var numbers: [Substring] = []
            var ok = true
            for (k, p) in pattern.enumerated() {
                let part = parts[start + k]
                if p == "#" {
                    guard !part.isEmpty, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { ok = false; break }
                    numbers.append(part)
                } else if p != part {
                    ok = false
                    break
                }
            }
            if ok { return (start, numbers) }
        }
        return nil
    }

    /// The published name of a new-generation `name`, or nil when no rename applies.
    func published(for name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        for r in renames {
            guard let (at, numbers) = Self.match(r.current, in: parts, whole: true) else { continue }
            var next = numbers.makeIterator()
            let replaced = r.published.map { $0 == "#" ? (next.next() ?? $0) : $0 }
            return (parts[..<at] + replaced + parts[(at + r.current.count)...]).joined(separator: ".")
        }
        return nil
    }

    /// Whether `name` is under a published path the table renames.
    func isPublished(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return renames.contains { Self.match($0.published, in: parts, whole: true) != nil }
    }

    /// Whether `name` starts a new-generation path (`layers.3.`) without being one the table renames.
    func looksCurrent(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return stems.contains { Self.match($0, in: parts, whole: false) != nil }
    }
}
