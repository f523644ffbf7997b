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
            throw MMAttnError("unknown output format \".\(ext)\": use .npy, .safetensors or .json", file: path)
        }
        return f
    }

    /// Write `primary` (the array `.npy` and `.json` hold) or, for `.safetensors`, all `named` tensors
    /// (in the given order; `primary` under `primaryName` when `named` is empty).
    public static func write(_ primary: Tensor, primaryName: String, named: [(String, Tensor)] = [], to path: String) throws {
        switch try format(of: path) {
        case .npy:
            try AtomicFile.write(NPY.encode(primary), to: path)
        case .json:
            var text = ""
            appendJSON(primary, into: &text)
            try AtomicFile.write(Data(text.utf8), to: path)
        case .safetensors:
            let all = named.isEmpty ? [(primaryName, primary)] : named
            var dict: [String: Tensor] = [:]
            for (k, v) in all { dict[k] = v }
            try SafetensorsWriter.write(dict, metadata: ["format": "pt", "producer": "mmattn \(MMAttnVersion.string)"], to: path)
        }
    }

    /// Nested JSON arrays of a tensor's values, outermost axis first.
    static func appendJSON(_ t: Tensor, into text: inout String) {
        text.reserveCapacity(t.count * 12)
        func emit(_ axis: Int, _ offset: Int) {
            if axis == t.shape.count {
                text += JSONNumber.format(t.data[offset])
                return
            }
            let stride = t.shape[(axis + 1)...].reduce(1, *)
            text += "["
            for i in 0..<t.shape[axis] {
                if i > 0 { text += "," }
                emit(axis + 1, offset + i * stride)
            }
            text += "]"
        }
        emit(0, 0)
    }
}

/// JSON text for numbers, as the CLI's `--json` output writes them (strings: `JSON.quote`).
public enum JSONNumber {
    /// The shortest text that reads back as the same Float; non-finite values (not valid JSON) become null.
    public static func format(_ x: Float) -> String {
        x.isFinite ? "\(x)" : "null"
    }
}
