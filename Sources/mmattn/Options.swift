import ArgumentParser
import Foundation
import MMAttn

/// Options every model command takes.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Model folder in Hugging Face layout, or a Hub id in the Hugging Face cache.", valueName: "folder-or-id"))
    var model: String
}

/// Accepts both repeated flags and comma-separated lists (CONTRACT.md).
func splitList(_ values: [String]) -> [String] {
    values.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
}

/// Output on stdout: exactly one JSON object for `--json`, text otherwise.
enum Stdout {
    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

extension Pooling: ExpressibleByArgument {}

/// Fail before any work when `--output` has an extension we cannot write.
func checkOutputPath(_ path: String?) throws {
    guard let path else { return }
    _ = try OutputFile.format(of: path)
    let dir = (path as NSString).deletingLastPathComponent
    var isDir: ObjCBool = false
    if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) || !isDir.boolValue {
        throw MMAttnError("the folder for the output file does not exist", file: path)
    }
}

/// JSON text of a classification result list (classify-image, classify-audio).
func predictionsJSON(model: String, results: [(input: String, predictions: [Prediction])]) -> String {
    let items = results.map { r in
        let preds = r.predictions.map {
            "{\"index\": \($0.index), \"label\": \(JSON.quote($0.label)), \"score\": \(JSONNumber.format($0.score))}"
        }.joined(separator: ", ")
        return "{\"input\": \(JSON.quote(r.input)), \"predictions\": [\(preds)]}"
    }.joined(separator: ", ")
    return "{\"model\": \(JSON.quote(model)), \"results\": [\(items)]}\n"
}

/// A small human-readable table of predictions.
func predictionsTable(results: [(input: String, predictions: [Prediction])]) -> String {
    var out = ""
    for r in results {
        out += "\(r.input)\n"
        for p in r.predictions {
            out += String(format: "  %6.2f%%  %@\n", Double(p.score) * 100, "\(p.label) (\(p.index))")
        }
    }
    return out
}

/// Parse `--image-size N` or `HxW`.
func parseImageSize(_ text: String?) throws -> (height: Int, width: Int)? {
    guard let text else { return nil }
    let parts = text.lowercased().split(separator: "x").compactMap { Int($0) }
    if parts.count == 1, parts[0] > 0, parts[0] <= 8192 { return (parts[0], parts[0]) }
    if parts.count == 2, parts.allSatisfy({ $0 > 0 && $0 <= 8192 }) { return (parts[0], parts[1]) }
    throw ValidationError("--image-size must be N or HxW (for example 384 or 224x320), got \(text)")
}

/// Tell the person (on stderr) what was written where.
func reportWritten(_ path: String, _ tensor: Tensor) {
    FileHandle.standardError.write(Data("wrote \(path): float32 \(tensor.shape)\n".utf8))
}

/// Run `body`; an error that names no file is attributed to `path` (the input being processed).
func attributing<T>(to path: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as MMAttnError { throw error.inFile(path) }
}
