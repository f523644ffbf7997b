import ArgumentParser
import Foundation
import MMAttn

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join the outputs of a run's parts (--shard K/N) into the output of the whole run.",
        usage: "mmattn merge <part> ... --output <file>",
        discussion: """
        The parts are the .npy (with their .ids.jsonl files) or .safetensors
        outputs of one embedding command run with --shard 0/N to N-1/N. merge
        checks that they come from the same command, model, input and options
        and that every part is there once, then writes them in part order
        (give them in any order): rows stacked for .npy and stacked outputs,
        the tensors of each part for one tensor per name (embed-protein's
        .safetensors). Rows of text --pooling none, zero-padded to their part's
        longest text, are padded to the longest of all. The merged ids file
        lists every record once. Memory stays small: the parts are streamed.

        Examples (from the repository root):
          mmattn embed-protein Fixtures/protein/LuxC.faa --model Fixtures/models/esm2 \\
              --shard 0/2 --output part-0.npy
          mmattn embed-protein Fixtures/protein/LuxC.faa --model Fixtures/models/esm2 \\
              --shard 1/2 --output part-1.npy
          mmattn merge part-0.npy part-1.npy --output means.npy
        """
    )

    @Argument(help: ArgumentHelp("The parts' output files (.npy or .safetensors).", valueName: "part")) var parts: [String]
    @Option(help: ArgumentHelp("The merged file, in the parts' format.", valueName: "file")) var output: String

    func run() throws {
        try checkOutputPath(output)
        reportWritten(output, try PartMerge.merge(parts, into: output))
        if FileManager.default.fileExists(atPath: EmbeddingStream.idsPath(for: output)),
           parts.allSatisfy({ FileManager.default.fileExists(atPath: EmbeddingStream.idsPath(for: $0)) }) {
            reportWritten(EmbeddingStream.idsPath(for: output), "the record ids, one per row")
        }
    }
}
