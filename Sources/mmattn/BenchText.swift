import ArgumentParser
import Foundation
import MMAttn

struct BenchTokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenizer throughput in MB/s on the lines of a file, on one thread and on all, and the scaling between them."
    )
    @Option(help: ArgumentHelp("A folder with the tokenizer (as for tokenize).", valueName: "model")) var model: String
    @Option(help: ArgumentHelp("A UTF-8 text file, one text per line.", valueName: "file")) var input: String
    @Option(help: "Timed repetitions.") var runs = 5

    func run() throws {
        let tokenizer = try Tokenizer.load(model)
        let reader = try TextLineReader(path: input, lossy: false)
        var lines: [String] = []
        while let chunk = try reader.next(65536) { lines += chunk }
        let megabytes = Double(lines.reduce(0) { $0 + $1.utf8.count }) / 1e6
        // The first pass fills the merge caches (cold); the timed passes run warm, as a long job does.
        let (encodings, cold) = timedOnce { Threads.withCount(1) { tokenizer.encodeBatch(lines, addSpecialTokens: false) } }
        let tokens = encodings.reduce(0) { $0 + $1.ids.count }
        let one = medianSeconds(runs: runs) { _ = Threads.withCount(1) { tokenizer.encodeBatch(lines, addSpecialTokens: false) } }
        let all = medianSeconds(runs: runs) { _ = tokenizer.encodeBatch(lines, addSpecialTokens: false) }
        print(String(format: "%.2f MB in %d lines, %d tokens", megabytes, lines.count, tokens))
        print(String(format: "1 thread: %.2f MB/s (first pass, cold caches: %.2f MB/s)", megabytes / one, megabytes / cold))
        print(String(format: "%d threads: %.2f MB/s = %.2f× one thread", Threads.count, megabytes / all, one / all))
    }
}

struct BenchText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "text",
        abstract: "Forward time of a text model on a batch of equal-length sequences, and its GFLOP/s against this machine's GEMM peak.",
        usage: "mmattn bench text [--model <model>] [--batch <n>] [--seq <n>] [options]"
    )
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: ArgumentHelp("Sequences per batch.", valueName: "n")) var batch = 32
    @Option(help: ArgumentHelp("Tokens per sequence.", valueName: "n")) var seq = 128
    @Option(help: ArgumentHelp("Timed repetitions.", valueName: "n")) var runs = 5

    func run() throws {
        let spec = try modelOptions.resolve(default: DefaultModel.text)
        let (model, load) = try timedOnce {
            let folder = try ModelFolder(spec)
            return try loadTextModel(folder, weights: try folder.checkpoint())
        }
        let T = min(seq, model.maxTokens)
        var state: UInt64 = 0x9E3779B97F4A7C15
        let ids = (0..<batch).map { _ in
            (0..<T).map { _ -> Int32 in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Int32((state >> 33) % UInt64(model.vocabSize))
            }
        }
        let seconds = try medianSeconds(runs: runs) { _ = try model.forward(ids: ids) }
        let flops = Double(batch) * encoderFlops(model.config, layers: model.numLayers, tokens: T)
        print(String(format: "load %.1f ms; %d × %d tokens", load * 1e3, batch, T))
        print(modelLine("forward", seconds: seconds, flops: flops,
                        gemmRate: gemmRate(m: batch * T, n: model.config.intermediateSize, k: model.config.hiddenSize, runs: runs)))
        print(String(format: "%.0f sequences/s", Double(batch) / seconds))
    }
}
