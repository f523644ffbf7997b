#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// What an embedding run computes: the command, the model, the input, the options that shape its
/// numbers, and which part of the input (`--shard`). A resumed run must describe itself exactly as
/// the interrupted one did, and parts merge only when they differ in nothing but the shard. Files
/// are identified by content (size and a hash of their first and last 64 KiB), not by time, so
/// copies of a model or an input on several machines agree.
public struct RunDescription: Sendable, Equatable {
    /// `embed-protein`, `embed-text`, ...
    public let command: String
    /// The model as given (folder or Hub id) and the identity of its files.
    public let model: String
    public let modelIdentity: String
    /// The input as given (a file, or the arguments) and its identity.
    public let input: String
    public let inputIdentity: String
    /// Options that change the output, by name (values as text).
    public let options: [String: String]
    public let shard: Shard

    /// `inputFiles`: files whose content is the input (a FASTA file, a list of images); `inputText`:
    /// the input itself when it is given as arguments.
    public init(command: String, model: String, modelFolder: String, input: String, inputFiles: [String] = [],
                inputText: [String] = [], options: [String: String], shard: Shard) throws {
        self.command = command
        self.model = model
        self.modelIdentity = try FileIdentity.folder(modelFolder)
        self.input = input
        var hash = FNV1a()
        for text in inputText { hash.add(text); hash.add([0]) }
        var parts = inputText.isEmpty ? [] : ["\(inputText.count) arguments \(hash.hex)"]
        for f in inputFiles { parts.append(try FileIdentity.file(f)) }
        self.inputIdentity = parts.joined(separator: "; ")
        self.options = options
        self.shard = shard
    }

    init(command: String, model: String, modelIdentity: String, input: String, inputIdentity: String,
         options: [String: String], shard: Shard) {
        self.command = command
        self.model = model
        self.modelIdentity = modelIdentity
        self.input = input
        self.inputIdentity = inputIdentity
        self.options = options
        self.shard = shard
    }

    /// A hash of everything but the shard: the parts of one run share it.
    public var run: String {
        var hash = FNV1a()
        for field in [command, model, modelIdentity, input, inputIdentity, optionsJSON] { hash.add(field); hash.add([0]) }
        return hash.hex
    }

    /// The same run, whole (what merging its parts gives).
    public var whole: RunDescription {
        RunDescription(command: command, model: model, modelIdentity: modelIdentity, input: input, inputIdentity: inputIdentity,
                       options: options, shard: .whole)
    }

    var optionsJSON: String {
        "{" + options.keys.sorted().map { "\(JSON.quote($0)): \(JSON.quote(options[$0]!))" }.joined(separator: ", ") + "}"
    }

    /// The provenance a `.safetensors` output carries in `__metadata__` (with `format` and `producer`).
    public var metadata: [String: String] {
        var m = ["format": "pt", "producer": "mmattn \(MMAttnVersion.string)", "mmattn.command": command, "mmattn.model": model,
                 "mmattn.model_identity": modelIdentity, "mmattn.input": input, "mmattn.input_identity": inputIdentity,
                 "mmattn.options": optionsJSON, "mmattn.run": run]
        if !shard.isWhole { m["mmattn.shard"] = shard.description }
        return m
    }

    /// One JSON object on one line: the first line of an ids file, and the journal's run.
    public var json: String {
        var fields = [("command", JSON.quote(command)), ("model", JSON.quote(model)), ("model_identity", JSON.quote(modelIdentity)),
                      ("input", JSON.quote(input)), ("input_identity", JSON.quote(inputIdentity)), ("options", optionsJSON),
                      ("run", JSON.quote(run))]
        if !shard.isWhole { fields.append(("shard", JSON.quote(shard.description))) }
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// Read back what `metadata` wrote; nil when `metadata` has no mmattn run in it.
    public init?(metadata m: [String: String], file: String) throws {
        guard let command = m["mmattn.command"] else { return nil }
        guard let options = m["mmattn.options"].flatMap({ try? JSON.parse(Data($0.utf8)) })?.object else {
            throw MMAttnError("the file's mmattn.options metadata is not a JSON object", file: file)
        }
        try self.init(command: command, fields: { m["mmattn." + $0] }, options: options, file: file)
    }

    /// Read back what `json` wrote.
    public init(json object: JSONObject, file: String) throws {
        guard let command = object["command"]?.string, let options = object["options"]?.object else {
            throw MMAttnError("not an mmattn run description (it needs \"command\" and \"options\")", file: file)
        }
        try self.init(command: command, fields: { object[$0]?.string }, options: options, file: file)
    }

    private init(command: String, fields: (String) -> String?, options o: JSONObject, file: String) throws {
        var options: [String: String] = [:]
        for k in o.keys {
            guard let v = o[k]?.string else { throw MMAttnError("the run's option \(k) is not a string", file: file) }
            options[k] = v
        }
        let shard: Shard
        do { shard = try fields("shard").map { try Shard(parsing: $0) } ?? .whole } catch { throw error.attributed(to: file) }
        self.init(command: command, model: fields("model") ?? "", modelIdentity: fields("model_identity") ?? "",
                  input: fields("input") ?? "", inputIdentity: fields("input_identity") ?? "", options: options, shard: shard)
    }

    /// A short account of how `other` differs from this run, for messages ("the model", "the
    /// option --pooling"), or nil when they describe the same run.
    public func difference(from other: RunDescription) -> String? {
        if command != other.command { return "the command (\(other.command), not \(command))" }
        if model != other.model || modelIdentity != other.modelIdentity { return "the model (\(other.model))" }
        if input != other.input || inputIdentity != other.inputIdentity { return "the input (\(other.input)) or its content" }
        for k in Set(options.keys).union(other.options.keys).sorted() where options[k] != other.options[k] {
            return "the option \(k) (\(other.options[k] ?? "unset"), not \(options[k] ?? "unset"))"
        }
        if shard != other.shard { return "the shard (\(other.shard), not \(shard))" }
        return nil
    }
}

/// The 64-bit FNV-1a hash: stable across processes and machines (Swift's `Hasher` is seeded per
/// process), enough to tell files and runs apart (not a defence against forgery).
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    }

    mutating func add(_ text: String) { add(text.utf8) }

    var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// Content identities of files: size and a hash of the first and last 64 KiB.
enum FileIdentity {
    static let window = 1 << 16

    static func file(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MMAttnError("cannot open the file: \(String(cString: strerror(errno)))", file: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw MMAttnError("cannot read the file's size", file: path) }
        let size = Int64(info.st_size)
        // The whole file when it is small, else its first and last windows.
        let w = Int64(window)
        let spans: [(start: Int64, count: Int64)] = size <= 2 * w ? [(Int64(0), size)] : [(Int64(0), w), (size - w, w)]
        var hash = FNV1a()
        var buffer = [UInt8](repeating: 0, count: 2 * window)
        for span in spans {
            let n = try buffer.withUnsafeMutableBytes { try RunFiles.readAll(fd, UnsafeMutableRawBufferPointer(rebasing: $0[..<Int(span.count)]),
                                                                              at: span.start, file: path) }
            hash.add(buffer[..<n])
        }
        return "\(size) bytes \(hash.hex)"
    }

    /// The identities of a model folder's configuration, tokenizer and weight files, as one string.
    static func folder(_ path: String) throws -> String {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { name in
            [".json", ".safetensors", ".bin", ".txt", ".model"].contains { name.hasSuffix($0) } && !name.hasPrefix(".")
        }.sorted()
        var hash = FNV1a()
        for name in names {
            hash.add(name)
            hash.add(try file((path as NSString).appendingPathComponent(name)))
        }
        return "\(names.count) files \(hash.hex)"
    }
}
