import ArgumentParser
import Foundation
import MMAttn
import MMAttnHub

/// `mmattn download ID...`: fetch models into the Hugging Face cache ahead of use.
struct Download: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "download",
        abstract: "Fetch models from the Hugging Face Hub into the cache.",
        discussion: """
        For each Hub id, downloads what mmattn's commands read (config.json, the \
        weights, and the family's preprocessor, tokenizer, generation and \
        sentence-transformers files; never ONNX, TensorFlow or Flax exports) into \
        the Hugging Face cache, the one huggingface_hub and transformers use, and \
        prints the snapshot folder of each. Files already there are not fetched \
        again; an interrupted download resumes. The other commands use a cached \
        model without asking the Hub, so run this to refresh a model to the \
        latest revision.

        Environment, as for huggingface_hub: HF_HOME or HF_HUB_CACHE (where), \
        HF_ENDPOINT (a mirror), HF_TOKEN (gated and private models), \
        HF_HUB_OFFLINE=1 (never use the network).

        Examples:
          mmattn download google/vit-base-patch16-224
          mmattn download openai/whisper-base facebook/esm2_t33_650M_UR50D
          mmattn download sentence-transformers/all-MiniLM-L6-v2@main --json
        """
    )

    @Argument(help: ArgumentHelp("Hub ids: org/name, optionally @revision (a branch, tag or commit).", valueName: "id"))
    var ids: [String]

    @Flag(help: "Print {\"models\": [{\"id\", \"revision\", \"family\", \"bytes\", \"path\"}]} on stdout.")
    var json = false

    func validate() throws {
        guard !ids.isEmpty else { throw ValidationError("give at least one Hub id, for example google/vit-base-patch16-224") }
        for id in ids {
            do { _ = try HubModelID(id) } catch let e as MMAttnError { throw ValidationError(e.description) }
        }
    }

    func run() throws {
        let hub = Hub()
        var downloaded: [(id: HubModelID, path: String)] = []
        for spec in ids {
            let bar = ByteProgressBar()
            let path: String
            do {
                defer { bar.finish() }
                path = try hub.download(spec, progress: { bar.update($0) })
            }
            if json { downloaded.append((try HubModelID(spec), path)) } else { Stdout.write(path + "\n") }
        }
        guard json else { return }
        let cached = hub.cachedModels()
        Stdout.write(modelsJSON(downloaded.map { id, path in
            let found = cached.first { $0.path == path }
            return CachedModel(id: id.repo, revision: id.revision, commit: found?.commit ?? "", family: found?.family ?? "unknown",
                               bytes: found?.bytes ?? 0, path: path)
        }))
    }
}

/// `mmattn models`: what the Hugging Face cache holds.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the models in the Hugging Face cache.",
        discussion: """
        One row per cached snapshot: Hub id, revision (the branch or tag that \
        points at it, else its commit), family (from config.json), size and \
        folder. The cache is HF_HUB_CACHE, else HF_HOME/hub, else \
        ~/.cache/huggingface/hub. Reads the disk only, never the network.

        Examples:
          mmattn models
          mmattn models --json
        """
    )

    @Flag(help: "Print {\"models\": [{\"id\", \"revision\", \"family\", \"bytes\", \"path\"}]} on stdout.")
    var json = false

    func run() throws {
        let hub = Hub()
        let models = hub.cachedModels()
        if json { Stdout.write(modelsJSON(models)); return }
        guard !models.isEmpty else {
            Stderr.write("no models in the Hugging Face cache (\(hub.cache.root)); fetch one with `mmattn download ID`\n")
            return
        }
        let rows = [("ID", "REVISION", "FAMILY", "SIZE", "PATH")]
            + models.map { ($0.id, $0.revision.count == 40 ? String($0.revision.prefix(12)) : $0.revision, $0.family,
                             ByteProgressBar.size(Int64($0.bytes)), $0.path) }
        let widths = [rows.map(\.0.count).max()!, rows.map(\.1.count).max()!, rows.map(\.2.count).max()!, rows.map(\.3.count).max()!]
        func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: w - s.count) }
        var out = ""
        for r in rows {
            out += "\(pad(r.0, widths[0]))  \(pad(r.1, widths[1]))  \(pad(r.2, widths[2]))  \(pad(r.3, widths[3]))  \(r.4)\n"
        }
        Stdout.write(out)
    }
}

/// `{"models": [{"id", "revision", "family", "bytes", "path"}]}` (CONTRACT.md).
func modelsJSON(_ models: [CachedModel]) -> String {
    let items = models.map {
        "{\"id\": \(JSON.quote($0.id)), \"revision\": \(JSON.quote($0.revision)), \"family\": \(JSON.quote($0.family)), "
            + "\"bytes\": \($0.bytes), \"path\": \(JSON.quote($0.path))}"
    }
    return "{\"models\": [\(items.joined(separator: ", "))]}\n"
}
