import ArgumentParser
import Foundation
import MMAttn

struct EmbedProtein: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-protein",
        abstract: "Embed the protein sequences of a FASTA file with ESM-2, as fair-esm's esm-extract.",
        usage: "mmattn embed-protein <fasta> [--model <model>] [options]",
        discussion: """
        Records are sorted by length and packed into batches of at most
        --toks-per-batch tokens (padding masked, so every record gets the outputs
        it gets alone); outputs keep file order. Records longer than
        --truncation-seq-length residues are cut, with one warning for all.

        Outputs: .npy (or .json) holds the mean representation of the last
        requested layer, [N, D]. .safetensors holds, per record id and included
        kind, <id>/mean [D], <id>/per-token [L, D], <id>/bos [D] and
        <id>/contacts [L, L]; with several layers <id>/mean/<layer> and so on.
        Without --output, each record's mean (of the last requested layer) is
        printed: its shape and first values, or with --json the vectors.

        Large runs: --output is written as batches finish (memory stays flat)
        with the row ids beside it (NAME.ids.jsonl); --shard K/N takes the K-th
        of N parts of the input (mmattn merge joins the parts); --resume
        continues an interrupted run into the same --output.

        \(DefaultModel.help(DefaultModel.protein, DefaultModel.proteinReason))

        Examples (from the repository root):
          mmattn embed-protein Fixtures/protein/LuxC.faa
          mmattn embed-protein Fixtures/protein/LuxC.faa \\
              --model Fixtures/models/esm2 --output means.npy
          mmattn embed-protein Fixtures/protein/LuxC.faa \\
              --model Fixtures/models/esm2 --include mean,per-token,contacts \\
              --repr-layers 0,-1 --output all.safetensors
          mmattn embed-protein seqs.fasta --model facebook/esm2_t6_8M_UR50D \\
              --output means.npy
          mmattn embed-protein Fixtures/protein/LuxC.faa \\
              --model Fixtures/models/esm2 --shard 1/3 --resume --output part-1.npy
        """
    )

    @Argument(help: ArgumentHelp("A FASTA file.", valueName: "fasta")) var fasta: String
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(help: ArgumentHelp("What to compute per record: mean, per-token, bos, contacts (repeat the option or separate with commas).",
                               valueName: "kinds"))
    var include: [String] = ["mean"]
    @Option(name: .customLong("repr-layers"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Layers to return: 0 is the embeddings, negative counts from the end (repeat or separate with commas).",
                               valueName: "layers"))
    var reprLayers: [String] = ["-1"]
    @Option(name: .customLong("toks-per-batch"), help: "Token budget of one batch, padding included.") var toksPerBatch = 4096
    @Option(name: .customLong("truncation-seq-length"), help: "Residues kept per record.") var truncationSeqLength = 1022
    @Flag(name: .customLong("no-truncate"), help: "Keep whole records, however long.") var noTruncate = false
    @Option(help: ArgumentHelp("Where to write the outputs: .npy, .json (means only) or .safetensors (without it the means are printed).",
                               valueName: "file"))
    var output: String?
    @Flag(help: "Without --output: print {\"model\", \"results\": [{\"input\", \"shape\", \"embedding\"}]} with the means.")
    var json = false
    @Option(name: .customLong("contacts-png"),
            help: ArgumentHelp("Also draw the contact map of a one-record FASTA file as a PNG image.", valueName: "file"))
    var contactsPNG: String?
    @OptionGroup var runOptions: RunOptions
    @Flag(help: "Do not draw a progress bar.") var quiet = false

    /// `--include` as output kinds (a usage error when empty or unknown).
    func kinds() throws -> Set<ProteinOutputKind> {
        try Set(parseList(include, option: "--include", expected: "mean, per-token, bos, contacts").map { k -> ProteinOutputKind in
            guard let kind = ProteinOutputKind(rawValue: k) else {
                throw ValidationError("--include: unknown output \"\(k)\" (use mean, per-token, bos, contacts)")
            }
            return kind
        })
    }

    /// `--repr-layers` as integers (a usage error when empty or not integers).
    func layers() throws -> [Int] {
        try parseList(reprLayers, option: "--repr-layers", expected: "layer indices such as 0,-1").map { s -> Int in
            guard let l = Int(s) else { throw ValidationError("--repr-layers: \"\(s)\" is not a layer index") }
            return l
        }
    }

    func validate() throws {
        _ = try kinds()
        _ = try layers()
        guard toksPerBatch >= 1 else { throw ValidationError("--toks-per-batch must be at least 1") }
        guard noTruncate || truncationSeqLength >= 1 else { throw ValidationError("--truncation-seq-length must be at least 1") }
        if json && output != nil { throw ValidationError("--json prints the means; with --output they go to the file instead (give one of them)") }
        try runOptions.validate(output: output)
        if contactsPNG != nil && (runOptions.shard != nil || runOptions.resume) {
            throw ValidationError("--contacts-png draws a one-record file; it does not go with --shard or --resume")
        }
        if output == nil, try kinds() != [.mean] {
            throw ValidationError("--include per-token, bos or contacts need an --output file ending in .safetensors; without --output the means are printed")
        }
    }

    func run() throws {
        // Every argument is checked before the model loads and before any record is embedded.
        let kinds = try kinds(), layers = try layers()
        if let output { try ProteinOutputWriter.check(path: output, include: kinds) }
        try checkOutputPath(output)
        if let contactsPNG {
            guard (contactsPNG as NSString).pathExtension.lowercased() == "png" else {
                throw MMAttnError("--contacts-png writes a PNG image: give a file name ending in .png", file: contactsPNG)
            }
            guard contactsPNG != output else { throw MMAttnError("--contacts-png and --output name the same file", file: contactsPNG) }
            try OutputFile.checkWritable(contactsPNG)
        }

        let shard = try runOptions.parsedShard()
        let range = try shard.isWhole ? nil : shard.byteRange(size: fileSize(fasta))
        let model = try modelOptions.resolve(default: DefaultModel.protein)
        let encoder = try ProteinEncoder(model: model, dtype: compute.dtype)
        let resolvedLayers = try encoder.resolveLayers(layers)
        if contactsPNG != nil {
            let records = try encoder.countRecords(fasta: fasta, limit: 2)
            guard records == 1 else {
                throw MMAttnError("--contacts-png draws the map of a one-record file; this file has more than one record "
                                  + "(write contacts for all with --include contacts and a .safetensors output)", file: fasta)
            }
        }
        var computed = kinds
        if contactsPNG != nil { computed.insert(.contacts) }
        let batching = ProteinBatchOptions(toksPerBatch: toksPerBatch, truncationSeqLength: noTruncate ? nil : truncationSeqLength)
        let writtenLayers = (try? OutputFile.format(of: output ?? "")) == .safetensors ? resolvedLayers : [resolvedLayers.last!]
        let options = ProteinEmbeddingOptions(include: computed, reprLayers: writtenLayers, batch: batching)
        let progress = ProgressBar(enabled: !quiet)
        var contacts: Tensor?
        // Warnings start on a line of their own, not after the progress bar's.
        let clearLine = progress.enabled ? "\r\u{1B}[K" : ""
        guard let output else {
            var printed = Embeddings(name: "mean")
            try Diagnostics.capture({ Stderr.write(clearLine + "warning: " + $0 + "\n") }) {
                try encoder.embed(fasta: fasta, options: options, range: range, progress: { progress.update($0) }) { e in
                    if contacts == nil { contacts = e.contacts }
                    if let mean = e.mean[resolvedLayers.last!] { printed.append(mean, input: e.id) }
                }
            }
            Stdout.write(json ? ResultsJSON.embeddings(printed, model: model) : embeddingsSummary(printed))
            if let contactsPNG, let contacts {
                try ContactMapImage.write(contacts, to: contactsPNG)
                reportWritten(contactsPNG, "contact map of \(contacts.shape.first ?? 0) residues")
            }
            return
        }

        let run = try RunDescription(
            command: "embed-protein", model: model, modelFolder: encoder.model.path, input: fasta, inputFiles: [fasta],
            options: ["include": kinds.map(\.rawValue).sorted().joined(separator: ","),
                      "repr-layers": writtenLayers.map(String.init).joined(separator: ","),
                      "toks-per-batch": String(toksPerBatch), "truncation-seq-length": noTruncate ? "none" : String(truncationSeqLength)]
                .merging(compute.runOptions) { $1 },
            shard: shard)
        if StreamedRun.alreadyDone(output, run: run, resume: runOptions.resume) { return }
        let writer = try ProteinOutputWriter(path: output, include: kinds, layers: writtenLayers, hiddenSize: encoder.esm.config.hiddenSize,
                                             run: run, resume: runOptions.resume)
        StreamedRun.announce(writer.stream, resume: runOptions.resume)
        var records = 0
        try StreamedRun.writing(writer.stream) { try Diagnostics.capture({ Stderr.write(clearLine + "warning: " + $0 + "\n") }) {
            records = try encoder.embedBatches(fasta: fasta, options: options, range: range, from: writer.resumePosition ?? .start,
                                               progress: { progress.update($0) }) { result in
                if contacts == nil { contacts = result.embeddings.first?.embedding.contacts }
                try writer.add(result)
            }
        } }
        try StreamedRun.finish(writer.stream, records: records, progress: progress)
        // Secondary files only once the main output exists.
        if let contactsPNG, let contacts { try ContactMapImage.write(contacts, to: contactsPNG) }
        if let contactsPNG { reportWritten(contactsPNG, "contact map of \(contacts?.shape.first ?? 0) residues") }
    }
}
