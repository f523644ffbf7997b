import ArgumentParser
import Foundation
import MMAttn

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model: family, key configuration, parameters, dtypes and size.",
        discussion: """
        Example:
          mmattn inspect --model google/vit-base-patch16-224
          mmattn inspect --model ./esm2_t6_8M_UR50D --json
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @Flag(help: "Print one JSON object on stdout.") var json = false

    func run() throws {
        let folder = try ModelFolder(modelOptions.model)
        let checkpoint = try folder.checkpoint()
        let summary = try ModelSummary(folder: folder, checkpoint: checkpoint)
        if json {
            let config = summary.config.map { "\(JSON.quote($0.key)): \(JSON.quote($0.value))" }.joined(separator: ", ")
            let dtypes = summary.dtypes.map { "\(JSON.quote($0.key)): \($0.value)" }.joined(separator: ", ")
            Stdout.write("{\"model\": \(JSON.quote(folder.name)), \"path\": \(JSON.quote(folder.path)), "
                         + "\"family\": \(JSON.quote(summary.family)), \"architecture\": \(JSON.quote(summary.architecture)), "
                         + "\"config\": {\(config)}, \"parameters\": \(summary.parameters), \"tensors\": \(summary.tensors), "
                         + "\"dtypes\": {\(dtypes)}, \"bytes\": \(summary.bytes), \"labels\": \(summary.labels)}\n")
        } else {
            var rows: [(String, String)] = [("model", folder.name)]
            if folder.path != folder.name { rows.append(("path", folder.path)) }
            rows.append(("family", "\(summary.family) (\(summary.architecture))"))
            rows += summary.config.map { ($0.key, $0.value) }
            rows.append(("parameters", "\(summary.parameters.formatted()) in \(summary.tensors) tensors"))
            rows.append(("dtypes", summary.dtypes.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")))
            rows.append(("size", String(format: "%.1f MB", Double(summary.bytes) / 1e6)))
            if summary.labels > 0 { rows.append(("labels", "\(summary.labels)")) }
            let width = rows.map(\.0.count).max() ?? 0
            Stdout.write(rows.map { $0.0.padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.1 + "\n" }.joined())
        }
    }
}
