import Foundation

/// Writes a command's numeric outputs in the format the file extension names (CONTRACT.md):
/// `.npy` (one float32 array), `.safetensors` (one F32 tensor per name) or `.json` (nested arrays).
/// The file appears only when complete.
public enum OutputFile {
    public enum Format: String, Sendable { case npy, safetensors, json }

    /// The format for `path`, or an error naming the accepted extensions.
    public static func format(of path: String) throws -> Format {
        let ext = (path as NSString).pathExtension.lowercased()
        guard let f = Format(rawValue: ext) else {
            if ext.isEmpty {
                throw MMAttnError("the output file name has no extension, which says its format: end it in .npy, .safetensors or .json", file: path)
            }
            throw MMAttnError("unknown output format \".\(ext)\": use .npy, .safetensors or .json", file: path)
        }
        return f
    }

    /// Prove, before any work, that an output can be written at `path`: its folder exists and
    /// accepts a new file (a probe temporary is created and removed there, since root ignores
    /// permission bits and a read-only mount shows only on creation), and `path` is not a folder.
    /// Throws an `MMAttnError` that names `path` and the reason. Any extension is accepted (use
    /// `format(of:)` for the tensor formats), so secondary outputs such as a PNG can be checked too.
    public static func checkWritable(_ path: String) throws {
        try AtomicFile.checkWritable(path)
    }

    /// Write `primary` (the array `.npy` and `.json` hold) or, for `.safetensors`, all `named` tensors
    /// (in the given order; `primary` under `primaryName` when `named` is empty).
    public static func write(_ primary: Tensor, primaryName: String, named: [(String, Tensor)] = [], to path: String) throws {
        switch try format(of: path) {
        case .npy:
            try NPY.write(primary, to: path)
        case .json:
            // Streamed in pieces: a large output never exists whole as text in memory.
            try AtomicFile.write(to: path) { sink in
                var text = ""
                try appendJSON(primary, into: &text, flushingAt: 1 << 16) { piece in
                    try sink.write(Data(piece.utf8))
                }
                try sink.write(Data(text.utf8))
            }
        case .safetensors:
            let all = named.isEmpty ? [(primaryName, primary)] : named
            var dict: [String: Tensor] = [:]
            for (k, v) in all { dict[k] = v }
            try SafetensorsWriter.write(dict, metadata: ["format": "pt", "producer": "mmattn \(MMAttnVersion.string)"], to: path)
        }
    }

    /// Nested JSON arrays of a tensor's values, outermost axis first.
    static func appendJSON(_ t: Tensor, into text: inout String) {
        appendJSON(t, into: &text, flushingAt: .max) { _ in }
    }

    /// Nested JSON arrays of a tensor's values, handing `flush` the text so far (and emptying
    /// `text`) whenever it passes `limit` UTF-8 bytes; the caller takes what is left in `text`.
    static func appendJSON(_ t: Tensor, into text: inout String, flushingAt limit: Int,
                           _ flush: (String) throws -> Void) rethrows {
        text.reserveCapacity(min(t.count * 12, limit) + 64)
        func emit(_ axis: Int, _ offset: Int) throws {
            if axis == t.shape.count {
                text += JSONNumber.format(t.data[offset])
                if text.utf8.count >= limit {
                    try flush(text)
                    text.removeAll(keepingCapacity: true)
                }
                return
            }
            let stride = t.shape[(axis + 1)...].reduce(1, *)
            text += "["
            for i in 0..<t.shape[axis] {
                if i > 0 { text += "," }
                try emit(axis + 1, offset + i * stride)
            }
            text += "]"
        }
        try emit(0, 0)
    }
}

/// JSON text for numbers, as the CLI's `--json` output writes them (strings: `JSON.quote`).
public enum JSONNumber {
    /// The shortest text that reads back as the same Float; non-finite values (not valid JSON) become null.
    public static func format(_ x: Float) -> String {
        x.isFinite ? "\(x)" : "null"
    }
}
