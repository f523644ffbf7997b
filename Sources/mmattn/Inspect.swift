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
            let config = summary.config.map { "\(JSONNumber.quote($0.key)): \(JSONNumber.quote($0.value))" }.joined(separator: ", ")
            let dtypes = summary.dtypes.map { "\(JSONNumber.quote($0.key)): \($0.value)" }.joined(separator: ", ")
            Stdout.write("{\"model\": \(JSONNumber.quote(folder.name)), \"path\": \(JSONNumber.quote(folder.path)), "
                         + "\"family\": \(JSONNumber.quote(summary.family)), \"architecture\": \(JSONNumber.quote(summary.architecture)), "
                         + "\"config\": {\(config)}, \"parameters\": \(summary.parameters), \"tensors\": \(summary.tensors), "
                         + "\"dtypes\": {\(dtypes)}, \"bytes\": \(summary.bytes), \"labels\": \(summary.labels)}\n")
        } else {
            var text = "model         \(folder.name)\n"
            if folder.path != folder.name { text += "path          \(folder.path)\n" }
            text += "family        \(summary.family) (\(summary.architecture))\n"
            for (k, v) in summary.config { text += "\(k.padding(toLength: 13, withPad: " ", startingAt: 0)) \(v)\n" }
            text += "parameters    \(summary.parameters.formatted()) in \(summary.tensors) tensors\n"
            text += "dtypes        " + summary.dtypes.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") + "\n"
            text += String(format: "size          %.1f MB\n", Double(summary.bytes) / 1e6)
            if summary.labels > 0 { text += "labels        \(summary.labels)\n" }
            Stdout.write(text)
        }
    }
}
