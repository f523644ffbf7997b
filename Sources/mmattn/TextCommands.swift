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

    /// Call `body` with successive chunks of (name, text): the arguments at once, or the lines of
    /// `--input` a few thousand at a time, reporting (lines, bytes read, total bytes) after each.
    func forEachChunk(_ body: ([(name: String, text: String)]) throws -> Void,
                      progress: (Int, Int, Int?) -> Void = { _, _, _ in }) throws {
        guard let input else {
            try body(try argumentTexts().map { ($0, $0) })
            return
        }
        let reader = try TextLineReader(path: input, lossy: lossyUTF8)
        while let lines = try reader.next(4096) {
            let first = reader.lineNumber - lines.count + 1
            try body(lines.enumerated().map { ("\(input):\(first + $0)", $1) })
            progress(reader.lineNumber, reader.bytesRead, reader.totalBytes)
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
        """
    )

    @OptionGroup var source: TextSource
    @OptionGroup var modelOptions: ModelOptions
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
    @Flag(help: "Do not draw a progress bar.") var quiet = false

    func validate() throws {
        if let maxLength, maxLength < 1 { throw ValidationError("--max-length must be at least 1") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if prompt != nil && promptText != nil { throw ValidationError("give --prompt or --prompt-text, not both") }
        try output.validate()
    }

    func run() throws {
        try checkOutputPath(output.file)
        let model = try modelOptions.resolve(default: DefaultModel.text)
        let encoder = try TextEncoder(model: model)
        let options = TextEmbeddingOptions(pooling: pooling, normalize: normalize, maxLength: maxLength, batchSize: batchSize,
                                           promptName: prompt, prompt: promptText)
        _ = try encoder.prompt(options)  // an unknown prompt name fails before any work
        let limit = encoder.lengthLimit(options)
        var embeddings = Embeddings(name: pooling == TextPooling.none ? "last_hidden_state" : "embedding")
        var truncated = 0
        let progress = ProgressBar(enabled: !quiet && source.input != nil, unit: "lines")
        let clearLine = progress.enabled ? "\r\u{1B}[K" : ""  // warnings start on their own line
        try Diagnostics.capture({ Stderr.write(clearLine + "warning: " + $0 + "\n") }) {
            try source.forEachChunk({ chunk in
                let result = try encoder.embed(chunk.map(\.text), options: options)
                truncated += result.truncated
                for (item, vector) in zip(chunk, result.vectors) { embeddings.append(vector, input: item.name) }
            }, progress: { lines, bytes, total in
                progress.update(count: lines, amount: bytes, rateUnit: "bytes", fraction: total.map { Double(bytes) / Double(max($0, 1)) })
            })
        }
        if truncated > 0 {
            Stderr.write("warning: \(truncated) of \(embeddings.items.count) texts had more than \(limit.tokens) tokens and were cut to "
                         + "\(limit.tokens) (\(limit.source)\(limit.source == "--max-length" ? "" : "; --max-length sets another"))\n")
        }
        guard !embeddings.items.isEmpty else { throw MMAttnError("the input has no lines to embed", file: source.input) }
        if pooling == TextPooling.none { embeddings = embeddings.zeroPadded() }
        if let file = output.file { progress.finish(writing: file) }
        try output.deliver(embeddings, model: model)
    }
}
