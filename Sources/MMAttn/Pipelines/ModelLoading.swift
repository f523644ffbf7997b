import Foundation

/// The one loading sequence every pipeline follows: resolve `--model` (folder or cached Hub id),
/// check that its family is one the pipeline runs, open the weights; then read the optional
/// `preprocessor_config.json`, falling back to the family's defaults with a warning.
struct ModelLoad {
    let folder: ModelFolder
    let family: ModelFamily
    let checkpoint: Checkpoint

    /// `purpose` completes "… need a ViT or DeiT checkpoint" (for example "image commands").
    /// The model computes in `dtype` where the CPU runs it (`DType.runnable`).
    init(_ spec: String, accepting families: [ModelFamily], for purpose: String, dtype: DType) throws {
        folder = try ModelFolder(spec)
        family = try folder.family()
        guard families.contains(family) else {
            throw MMAttnError("this is \(family.modelPhrase); \(purpose) need \(ModelFamily.listPhrase(families)) checkpoint", file: folder.path)
        }
        checkpoint = try folder.checkpoint().computing(in: dtype.runnable)
    }

    /// The path of `preprocessor_config.json` in the folder (whether or not it exists).
    var preprocessorPath: String { folder.file("preprocessor_config.json") }

    /// The folder's preprocessor settings read by `parse` from the first of `files` it has, or
    /// `defaults` with a warning that says what was assumed when it has none of them.
    func preprocessor<P>(_ parse: (JSONFields) throws -> P, defaults: () throws -> P, describe: (P) -> String,
                         files: [String] = ["preprocessor_config.json"]) throws -> P {
        for file in files {
            if let json = try folder.optionalJSON(file) { return try parse(json) }
        }
        let p = try defaults()
        Diagnostics.warn("\(preprocessorPath): not found; using the \(family.displayName) defaults (\(describe(p)))")
        return p
    }
}
