import ArgumentParser
import Foundation
import MMAttn

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model: family, key configuration, parameters, dtypes and size.",
        usage: "mmattn inspect --model <model> [--json]",
        discussion: """
        Examples (from the repository root):
          mmattn inspect --model Fixtures/models/vit
          mmattn inspect --model Fixtures/models/esm2 --json
          mmattn inspect --model google/vit-base-patch16-224
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @Flag(help: "Print one JSON object on stdout instead of a table.") var json = false

    func run() throws {
        let folder = try ModelFolder(try modelOptions.resolveRequired())
        let summary = try ModelSummary(folder: folder, checkpoint: try folder.checkpoint())
        if json {
            let config = summary.config.map { "\(JSON.quote($0.key)): \(Self.jsonText($0.value))" }.joined(separator: ", ")
            let dtypes = summary.dtypes.map { "\(JSON.quote($0.key)): \($0.value)" }.joined(separator: ", ")
            Stdout.write("{\"model\": \(JSON.quote(folder.name)), \"path\": \(JSON.quote(folder.path)), "
                         + "\"family\": \(JSON.quote(summary.family)), \"architecture\": \(JSON.quote(summary.architecture)), "
                         + "\"config\": {\(config)}, \"parameters\": \(summary.parameters), \"tensors\": \(summary.tensors), "
                         + "\"dtypes\": {\(dtypes)}, \"bytes\": \(summary.bytes), \"labels\": \(summary.labels)}\n")
        } else {
            var rows: [(String, String)] = [("model", folder.name)]
            if folder.path != folder.name { rows.append(("path", folder.path)) }
            rows.append(("family", "\(summary.family) (\(summary.architecture))"))
            rows += summary.config.map { ($0.key, Self.plainText($0.value)) }
            rows.append(("parameters", "\(summary.parameters.formatted()) in \(summary.tensors) tensors"))
            rows.append(("dtypes", summary.dtypes.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")))
            rows.append(("size", Self.size(summary.bytes)))
            if summary.labels > 0 { rows.append(("labels", "\(summary.labels)")) }
            let width = rows.map(\.0.count).max() ?? 0
            Stdout.write(rows.map { $0.0.padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.1 + "\n" }.joined())
        }
    }

    /// A config value as JSON text: numbers and booleans unquoted, as config.json has them.
    static func jsonText(_ value: JSON) -> String {
        switch value {
        case .number(let t): return t
        case .bool(let b): return b ? "true" : "false"
        case .string(let s): return JSON.quote(s)
        default: return "null"
        }
    }

    /// A config value for the table.
    static func plainText(_ value: JSON) -> String {
        if case .string(let s) = value { return s }
        return jsonText(value)
    }

    /// Bytes for a person: "812 bytes", "25.8 kB", "346.4 MB", "2.61 GB".
    static func size(_ bytes: Int) -> String {
        let b = Double(bytes)
        if bytes < 1000 { return "\(bytes) bytes" }
        if b < 1e6 { return String(format: "%.1f kB", b / 1e3) }
        if b < 1e9 { return String(format: "%.1f MB", b / 1e6) }
        return String(format: "%.2f GB", b / 1e9)
    }
}
