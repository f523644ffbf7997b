import ArgumentParser
import Foundation
import MMAttn
import MMAttnHub

/// Where the texts of a text command come from: arguments, or `--input` with one text per line.
struct TextSource: ParsableArguments {
    @Argument(help: ArgumentHelp("Texts (each argument is one text).", valueName: "text")) var texts: [String] = []
    @Option(help: ArgumentHelp("A UTF-8 text file, one text per line (read as it streams; empty lines are texts too).",
                               valueName: "file"))
    var input: String?
    @Flag(name: .customLong("lossy-utf8"),
          help: "Replace invalid UTF-8 with U+FFFD instead of stopping with an error.")
    var lossyUTF8 = false

    func validate() throws {
        guard texts.isEmpty != (input == nil) else {
            throw ValidationError(texts.isEmpty ? "give texts as arguments or --input FILE" : "give texts as arguments or --input FILE, not both")
        }
    }

    /// The arguments as texts, checked for invalid UTF-8 in the raw command line.
    func argumentTexts() throws -> [String] {
        guard !lossyUTF8 else { return texts }
        for i in 1..<Int(CommandLine.argc) {
            guard let raw = CommandLine.unsafeArgv[i] else { continue }
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(raw).assumingMemoryBound(to: UInt8.self), count: strlen(raw))
            if let bad = UTF8Text.firstInvalidByte(bytes) {
                throw MMAttnError("argument \(i) is not valid UTF-8 (byte offset \(bad)); pass --lossy-utf8 to replace invalid bytes with U+FFFD")
            }
        }
        return texts
    }

    /// Texts per chunk of `--input`: a resumed run continues at a chunk boundary, so its batches
    /// are those of an uninterrupted run.
    static let chunkLines = 4096

    /// Call `body` with successive chunks of (name, id, text), of the whole input or of its part
    /// `shard`, after skipping its first `skip` texts: the arguments at once, or the lines of
    /// `--input` a few thousand at a time, reporting (lines, fraction of the part read) after each
    /// and, once, the fraction the skipped lines were.
    /// The name is `FILE:LINE` (`FILE@BYTE` in a part, whose line numbers are unknown), the id
    /// `FILE@BYTE` (the argument itself for arguments).
    func forEachChunk(shard: Shard = .whole, skip: Int = 0, _ body: ([(name: String, id: String, text: String)]) throws -> Void,
                      skipped: (Double?) -> Void = { _ in }, progress: (Int, Double?) -> Void = { _, _ in }) throws {
        guard let input else {
            let texts = try argumentTexts()
            try body(texts[shard.itemRange(count: texts.count)].dropFirst(skip).map { ($0, $0, $0) })
            return
        }
        let reader = try TextLineReader(path: input, lossy: lossyUTF8, range: shard.isWhole ? nil : shard.byteRange(size: try fileSize(input)))
        var passed = 0
        while passed < skip, let lines = try reader.next(min(Self.chunkLines, skip - passed)) { passed += lines.count }
        if skip > 0 { skipped(reader.fractionRead) }
        while let lines = try reader.next(Self.chunkLines) {
            let first = reader.lineNumber - lines.count + 1
            try body(zip(lines, reader.offsets).enumerated().map { i, line in
                let id = "\(input)@\(line.1)"
                return (shard.isWhole ? "\(input):\(first + i)" : id, id, line.0)
            })
            progress(reader.lineNumber, reader.fractionRead)
        }
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the token ids and tokens of texts, as transformers' tokenizer(text).",
        usage: "mmattn tokenize <text> ... --model <model> [--json] [options]",
        discussion: """
        The model folder needs only its tokenizer: tokenizer.json, or the legacy
        vocab.json with merges.txt (GPT-2, RoBERTa) or vocab.txt (BERT).
        Special tokens are added as the tokenizer's post-processor says, as
        transformers does by default. --json prints {"ids": [[int]], "tokens":
        [[str]]}, one list per text.

        Examples (from the repository root):
          mmattn tokenize "Hello world!" --model Fixtures/tokenizers/bert-uncased
          mmattn tokenize "Hello world!" --model Fixtures/tokenizers/gpt2-whisper --json
          mmattn tokenize --input notes.txt --model bert-base-uncased --json
        """
    )

    @OptionGroup var source: TextSource
    @Option(help: ArgumentHelp("A folder with the tokenizer, or a Hub id (found in the Hugging Face cache or downloaded into it).",
                               valueName: "model"))
    var model: String
    @Flag(help: "Print one JSON object: {\"ids\": [[int]], \"tokens\": [[str]]}.") var json = false
    @Flag(name: .customLong("no-special-tokens"), help: "Leave out the special tokens the post-processor adds.")
    var noSpecialTokens = false
    @Option(name: .customLong("max-length"), help: "Truncate each text to this many tokens, special tokens included.")
    var maxLength: Int?

    func validate() throws {
        if let maxLength, maxLength < 1 { throw ValidationError("--max-length must be at least 1") }
    }

    func run() throws {
        try fetchModel(model, needsWeights: false)
        let tokenizer = try Tokenizer.load(model)
        var ids: [String] = [], tokens: [String] = []
        try source.forEachChunk { chunk in
            let encodings = tokenizer.encodeBatch(chunk.map(\.text), addSpecialTokens: !noSpecialTokens, maxLength: maxLength)
            for (item, e) in zip(chunk, encodings) {
                let names = e.ids.map { tokenizer.token($0) ?? "" }
                if json {
                    ids.append("[" + e.ids.map(String.init).joined(separator: ", ") + "]")
                    tokens.append("[" + names.map(JSON.quote).joined(separator: ", ") + "]")
                } else {
                    Stdout.write("\(item.name == item.text ? JSON.quote(item.text) : item.name): \(e.ids.count) tokens\n"
                                 + "  tokens: \(names.map(JSON.quote).joined(separator: " "))\n"
                                 + "  ids:    \(e.ids.map(String.init).joined(separator: " "))\n")
                }
            }
        }
        if json { Stdout.write("{\"ids\": [\(ids.joined(separator: ", "))], \"tokens\": [\(tokens.joined(separator: ", "))]}\n") }
    }
}

extension TextPooling: ExpressibleByArgument {}

struct EmbedText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-text",
        abstract: "Embed texts with BERT, RoBERTa, DistilBERT, GPT-2, ModernBERT or Qwen3 (sentence-transformers folders as encode does).",
        usage: "mmattn embed-text <text> ... [--model <model>] [options]",
        discussion: """
        One row per text, [N, D]; with --pooling none every token's vector,
        [N, T, D], zero-padded to the longest text. mean averages all tokens of a
        text, special tokens included, as sentence-transformers does. A
        sentence-transformers folder (modules.json) sets the pooling, the
        normalization and the maximum length from its own files; the options
        override them. Longer texts are truncated, with one warning for all.
        --prompt puts one of the folder's prompts (config_sentence_transformers.json)
        before each text, as encode(prompt_name=...) does: Qwen3-Embedding wants
        its "query" instruction on queries and nothing on documents. Texts of
        mixed lengths run packed, so a batch costs what its tokens cost.
        Without --output, each text's shape and first values are printed (--json:
        the vectors).

        Large runs: --output is written as batches finish (memory stays flat)
        with the row ids beside it (NAME.ids.jsonl); --shard K/N takes the K-th
        of N parts of the input (mmattn merge joins the parts); --resume
        continues an interrupted run into the same --output.

        \(DefaultModel.help(DefaultModel.text, DefaultModel.textReason))

        Examples (from the repository root):
          mmattn embed-text "A cat sat on the mat."
          mmattn embed-text "A cat sat on the mat." "A dog lay on the rug." \\
              --model Fixtures/models/st-bert-mean
          mmattn embed-text --input Fixtures/text/hard_cases.txt \\
              --model Fixtures/models/bert --pooling cls --output hard.npy
          mmattn embed-text "semantic search" \\
              --model sentence-transformers/all-MiniLM-L6-v2 --json
          mmattn embed-text "What is the capital of China?" --prompt query \\
              --model Fixtures/models/qwen3-embedding
          mmattn embed-text --input Fixtures/text/hard_cases.txt \\
              --model Fixtures/models/bert --shard 0/2 --resume --output part-0.npy
        """
    )

    @OptionGroup var source: TextSource
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(help: "How to reduce the token vectors: mean, cls, max, last, mean-sqrt-len or none (default: the folder's, else mean).")
    var pooling: TextPooling?
    @Flag(inversion: .prefixedNo, help: "Scale each vector to unit length (default: the folder's, else no).")
    var normalize: Bool?
    @Option(name: .customLong("max-length"), help: "Tokens per text, special tokens included (default: the model's).")
    var maxLength: Int?
    @Option(name: .customLong("batch-size"), help: "Texts per forward pass.") var batchSize = 32
    @Option(help: ArgumentHelp("Put the folder's prompt of this name before each text (Qwen3-Embedding: query).", valueName: "name"))
    var prompt: String?
    @Option(name: .customLong("prompt-text"), help: ArgumentHelp("Put this text before each text (instead of a named prompt).", valueName: "text"))
    var promptText: String?
    @OptionGroup var output: EmbeddingOutput
    @OptionGroup var runOptions: RunOptions
    @Flag(help: "Do not draw a progress bar.") var quiet = false

    func validate() throws {
        if let maxLength, maxLength < 1 { throw ValidationError("--max-length must be at least 1") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if prompt != nil && promptText != nil { throw ValidationError("give --prompt or --prompt-text, not both") }
        try output.validate()
        try runOptions.validate(output: output.file)
    }

    func run() throws {
        try checkOutputPath(output.file)
        let model = try modelOptions.resolve(default: DefaultModel.text)
        let encoder = try TextEncoder(model: model, dtype: compute.dtype)
        let options = TextEmbeddingOptions(pooling: pooling, normalize: normalize, maxLength: maxLength, batchSize: batchSize,
                                           promptName: prompt, prompt: promptText)
        _ = try encoder.prompt(options)  // an unknown prompt name fails before any work
        let limit = encoder.lengthLimit(options)
        let shard = try runOptions.parsedShard()
        let (pool, normalized) = encoder.settings(options)
        let none = pool == [.none]
        var truncated = 0, count = 0
        let progress = ProgressBar(enabled: !quiet && source.input != nil, unit: "lines")
        let clearLine = progress.enabled ? "\r\u{1B}[K" : ""  // warnings start on their own line
        func warnTruncated() {
            guard truncated > 0 else { return }
            Stderr.write("warning: \(truncated) of \(count) texts had more than \(limit.tokens) tokens and were cut to "
                         + "\(limit.tokens) (\(limit.source)\(limit.source == "--max-length" ? "" : "; --max-length sets another"))\n")
        }
        guard let file = output.file else {
            var embeddings = Embeddings(name: none ? "last_hidden_state" : "embedding")
            try Diagnostics.capture({ Stderr.write(clearLine + "warning: " + $0 + "\n") }) {
                try source.forEachChunk(shard: shard, { chunk in
                    let result = try encoder.embed(chunk.map(\.text), options: options)
                    truncated += result.truncated
                    count += chunk.count
                    for (item, vector) in zip(chunk, result.vectors) { embeddings.append(vector, input: item.name) }
                })
            }
            warnTruncated()
            guard !embeddings.items.isEmpty || !shard.isWhole else { throw MMAttnError("the input has no lines to embed", file: source.input) }
            try output.deliver(none ? embeddings.zeroPadded() : embeddings, model: model)
            return
        }

        let run = try RunDescription(
            command: "embed-text", model: model, modelFolder: encoder.folder.path, input: source.input ?? "arguments",
            inputFiles: source.input.map { [$0] } ?? [], inputText: source.input == nil ? try source.argumentTexts() : [],
            options: ["pooling": pool.map(\.rawValue).joined(separator: ","), "normalize": String(normalized),
                      "max-length": String(limit.tokens), "batch-size": String(batchSize), "prompt": try encoder.prompt(options) ?? "",
                      "lossy-utf8": String(source.lossyUTF8)].merging(compute.runOptions) { $1 },
            shard: shard)
        if StreamedRun.alreadyDone(file, run: run, resume: runOptions.resume) { return }
        let stream = try EmbeddingStream(path: file, layout: none ? .tensors : .rows(encoder.outputShape(options)),
                                         run: run, resume: runOptions.resume)
        StreamedRun.announce(stream, resume: runOptions.resume)
        let resumed = stream.resumed?.records ?? 0
        count = resumed
        try StreamedRun.writing(stream) { try Diagnostics.capture({ Stderr.write(clearLine + "warning: " + $0 + "\n") }) {
            try source.forEachChunk(shard: shard, skip: resumed, { chunk in
                let result = try encoder.embed(chunk.map(\.text), options: options)
                truncated += result.truncated
                for (item, vector) in zip(chunk, result.vectors) {
                    if none { try stream.put(vector, name: item.id) } else { try stream.put(row: vector, at: count) }
                    count += 1
                }
                try stream.appendIds(chunk.map(\.id))
                try stream.commit(records: count)
            }, skipped: { progress.resumed = (resumed, $0 ?? 0) }, progress: { lines, fraction in
                progress.update(count: lines, amount: lines - resumed, rateUnit: "lines", fraction: fraction)
            })
            guard count > 0 || !shard.isWhole else { throw MMAttnError("the input has no lines to embed", file: source.input) }
        } }
        warnTruncated()
        try StreamedRun.finish(stream, records: count,
                               assembly: .stacked(name: none ? "last_hidden_state" : "embedding", padFirstAxis: true,
                                                  emptyRowShape: [0, encoder.model.config.hiddenSize]),
                               progress: progress)
    }
}
