import ArgumentParser
import Foundation
import MMAttn

extension ProteinOutputKind: ExpressibleByArgument {}

struct EmbedProtein: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-protein",
        abstract: "Embed the protein sequences of a FASTA file with ESM-2 (as fair-esm's esm-extract).",
        discussion: """
        Records are sorted by length and packed into batches of at most --toks-per-batch tokens
        (padding masked, so every record gets the outputs it gets alone); outputs keep file order.
        Records longer than --truncation-seq-length residues are cut, with a warning.

        Outputs: .npy (or .json) holds the mean representation of the last requested layer, [N, D].
        .safetensors holds, per record id and included kind, <id>/mean [D], <id>/per-token [L, D],
        <id>/bos [D], <id>/contacts [L, L]; with several layers <id>/mean/<layer> and so on.

        Example:
          mmattn embed-protein seqs.fasta --model facebook/esm2_t6_8M_UR50D --output means.npy
          mmattn embed-protein seqs.fasta --model ./esm2 --include mean,per-token,contacts \\
              --repr-layers 0,-1 --output all.safetensors
        """
    )

    @Argument(help: "FASTA file.") var fasta: String
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: ArgumentHelp("Outputs: mean, per-token, bos, contacts (repeat or comma-separate).", valueName: "kinds"))
    var include: [String] = ["mean"]
    @Option(name: .customLong("repr-layers"), parsing: .unconditionalSingleValue, help: ArgumentHelp("Layers: 0 = embeddings, negative from the end (default -1).", valueName: "layers"))
    var reprLayers: [String] = ["-1"]
    @Option(name: .customLong("toks-per-batch"), help: "Token budget of a batch, padding included.") var toksPerBatch = 4096
    @Option(name: .customLong("truncation-seq-length"), help: "Residues kept per record.") var truncationSeqLength = 1022
    @Flag(name: .customLong("no-truncate"), help: "Keep whole records, however long.") var noTruncate = false
    @Option(help: "Output file (.npy, .json or .safetensors).") var output: String
    @Option(name: .customLong("contacts-png"), help: "Also draw the contact map of a one-record FASTA as a PNG.")
    var contactsPNG: String?
    @Flag(help: "No progress bar.") var quiet = false

    func run() throws {
        try checkOutputPath(output)
        let kinds = try Set(splitList(include).map { k -> ProteinOutputKind in
            guard let kind = ProteinOutputKind(rawValue: k) else {
                throw ValidationError("--include: unknown output \"\(k)\" (use mean, per-token, bos, contacts)")
            }
            return kind
        })
        guard !kinds.isEmpty else { throw ValidationError("--include: name at least one of mean, per-token, bos, contacts") }
        let layers = try splitList(reprLayers).map { s -> Int in
            guard let l = Int(s) else { throw ValidationError("--repr-layers: \"\(s)\" is not a layer index") }
            return l
        }
        guard toksPerBatch >= 1 else { throw ValidationError("--toks-per-batch must be at least 1") }
        guard noTruncate || truncationSeqLength >= 1 else { throw ValidationError("--truncation-seq-length must be at least 1") }
        let format = try OutputFile.format(of: output)
        if format != .safetensors && kinds != [.mean] {
            throw MMAttnError("\(format.rawValue) output holds the mean only; use a .safetensors output for per-token, bos or contacts", file: output)
        }
        if let contactsPNG { try checkOutputPath(contactsPNG) }

        let encoder = try ProteinEncoder(model: modelOptions.model)
        var include = kinds
        if contactsPNG != nil { include.insert(.contacts) }
        let options = ProteinEmbeddingOptions(include: include, reprLayers: layers,
                                              batch: ProteinBatchOptions(toksPerBatch: toksPerBatch, truncationSeqLength: noTruncate ? nil : truncationSeqLength))
        let resolved = try encoder.resolveLayers(layers)
        let progress = ProgressBar(enabled: !quiet)
        var means: [Tensor] = []
        var named: [(String, Tensor)] = []
        var firstContacts: Tensor?
        var records = 0
        try encoder.embed(fasta: fasta, options: options, progress: progress.update) { e in
            records += 1
            if firstContacts == nil { firstContacts = e.contacts }
            if let last = resolved.last, let m = e.mean[last] { means.append(m) }
            guard format == .safetensors else { return }
            for kind in ProteinOutputKind.allCases where kinds.contains(kind) {
                if kind == .contacts {
                    if let c = e.contacts { named.append(("\(e.id)/contacts", c)) }
                    continue
                }
                let byLayer = kind == .mean ? e.mean : kind == .bos ? e.bos : e.perToken
                for l in resolved {
                    guard let t = byLayer[l] else { continue }
                    named.append((resolved.count == 1 ? "\(e.id)/\(kind.rawValue)" : "\(e.id)/\(kind.rawValue)/\(l)", t))
                }
            }
        }
        progress.finish()
        if let contactsPNG {
            guard records == 1, let c = firstContacts else {
                throw MMAttnError("--contacts-png draws one record's map; the file has \(records) records", file: fasta)
            }
            try ContactMapImage.write(c, to: contactsPNG)
        }
        switch format {
        case .safetensors:
            try OutputFile.write(named[0].1, primaryName: named[0].0, named: named, to: output)
            FileHandle.standardError.write(Data("wrote \(output): \(named.count) tensors for \(records) records\n".utf8))
        default:
            let result = Tensor.stack(means)
            try OutputFile.write(result, primaryName: "mean", to: output)
            reportWritten(output, result)
        }
    }
}

/// Records done, residues per second and an estimate, redrawn on one stderr line when stderr is a terminal.
final class ProgressBar {
    let enabled: Bool
    let start = Date()
    var lastDraw = Date.distantPast

    init(enabled: Bool) {
        self.enabled = enabled && isatty(2) != 0
    }

    func update(_ p: ProteinProgress) {
        guard enabled, Date().timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = Date()
        let elapsed = max(Date().timeIntervalSince(start), 1e-3)
        var line = String(format: "\r%d records, %.0f residues/s, %.0f s", p.records, Double(p.residues) / elapsed, elapsed)
        if let f = p.fraction, f > 0 {
            line += String(format: ", %3.0f%%, ETA %.0f s   ", 100 * f, elapsed * (1 - f) / f)
        }
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled && lastDraw != .distantPast { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
