import ArgumentParser
import Foundation
import MMAttn
import MMAttnVideo

struct AttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Attention maps of any model: numbers, pictures and a browser view.",
        usage: "mmattn attention <input> --model <model> [options]",
        discussion: """
        INPUT is the text itself for text models, and a file for the others: a
        PNG image (ViT, DeiT), an audio file (Whisper's encoder over its first
        30 s window, AST), a FASTA file (ESM-2: the first record, or --record),
        a video file or a folder of PNG frames (TimeSformer, VideoMAE).

        --output writes the probabilities as transformers' output_attentions=True
        gives them (eager attention), stacked over layers: [layers, heads, T, T],
        each row a softmax over the keys; masked keys are 0 (causal models,
        ModernBERT's local layers). TimeSformer's divided layers give each
        frame's spatial attention: [layers, frames, heads, 1 + N, 1 + N]. --layer
        and --head keep a slice with its axes (--layer 2: [1, heads, T, T]).
        .safetensors holds "attentions" (with --cross "cross_attentions") and
        "rollout", attention rollout over all layers (Abnar & Zuidema, 2020).

        --cross (Whisper checkpoints with a decoder, clips up to 30 s):
        transcribe the clip greedily, then the decoder's attention over the
        encoder frames for prompt + text + end-of-text, [layers, heads, tokens,
        1500], 20 ms per frame.

        --png draws a picture (with --picture to choose): a grid of heads
        (text), the [CLS] attention and the rollout over the image, attention
        over the spectrogram (with --cross: each word's alignment to the
        audio), contacts beside the mean attention (ESM-2), a strip of frames
        with their rollout (video). --html writes one self-contained page with
        a head view, a heatmap and a model view of the kept layers and heads.

        Examples (from the repository root; the models in Fixtures are tiny
        and random, so their maps mean nothing):
          mmattn attention "The animal didn't cross the street." \\
              --model Fixtures/models/bert --layer -1 --output maps.npy
          mmattn attention Fixtures/images/cat.png --model Fixtures/models/vit \\
              --png cat.png --html cat.html
          mmattn attention Fixtures/audio/cards-005.wav --cross \\
              --model Fixtures/models/whisper-gen --png words.png
          mmattn attention "The animal didn't cross the street." \\
              --model sentence-transformers/all-MiniLM-L6-v2 --layer 1 --json
        """
    )

    @Argument(help: ArgumentHelp("The text (text models) or the input file.", valueName: "input")) var input: String
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Layers to keep, from 0; negative counts from the end (repeat or separate with commas).", valueName: "layers"))
    var layer: [String] = []
    @Option(parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Heads to keep, from 0 (repeat or separate with commas).", valueName: "heads"))
    var head: [String] = []
    @Flag(help: "Whisper: the decoder's cross-attention over the audio, for a transcript of the clip.") var cross = false
    @Option(help: ArgumentHelp("FASTA: the id of the record to show (default: the first).", valueName: "id")) var record: String?
    @Option(help: ArgumentHelp("Write the probabilities: .npy, .safetensors or .json.", valueName: "file")) var output: String?
    @Flag(help: "Print {\"model\", \"input\", \"shape\", \"layers\", \"heads\", \"queries\", \"keys\"} on stdout.") var json = false
    @Option(help: ArgumentHelp("Draw a picture of the maps as PNG.", valueName: "file")) var png: String?
    @Option(help: ArgumentHelp("What --png draws (default: the picture that suits the input).", valueName: "kind"))
    var picture: AttentionMaps.Picture?
    @Option(help: ArgumentHelp("Write the browser view of the kept layers and heads: one self-contained HTML file.", valueName: "file"))
    var html: String?

    func indices(_ values: [String], option: String) throws -> [Int]? {
        guard !values.isEmpty else { return nil }
        return try parseList(values, option: option, expected: "indices such as 0,-1").map { s in
            guard let i = Int(s) else { throw ValidationError("\(option): \"\(s)\" is not an index") }
            return i
        }
    }

    func validate() throws {
        _ = try indices(layer, option: "--layer")
        _ = try indices(head, option: "--head")
        if picture != nil && png == nil { throw ValidationError("--picture chooses what --png draws; give --png too") }
        let files = [output, png, html].compactMap { $0 }.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        if Set(files).count < files.count { throw ValidationError("--output, --png and --html must name different files") }
    }

    func run() throws {
        try checkOutputPath(output)
        for file in [png, html].compactMap({ $0 }) { try OutputFile.checkWritable(file) }
        let model = try modelOptions.resolveRequired()
        let inspector = try AttentionInspector(model: model, crossAttention: cross, dtype: compute.dtype)
        let kind = picture ?? inspector.modality.defaultPicture
        if png != nil { try inspector.check(kind) }
        if record != nil && inspector.modality != .protein {
            throw MMAttnError("--record chooses a FASTA record, but this model reads \(inspector.modality.phrase)", file: inspector.model.path)
        }
        if inspector.modality == .text && FileManager.default.fileExists(atPath: input) {
            Diagnostics.warn("\(input) is a file, but text models read INPUT as the text itself: these are the maps of its name")
        }
        // The rollout is computed only where it is written or drawn.
        let rollout = (try output.map { try OutputFile.format(of: $0) == .safetensors } ?? false)
            || (png != nil && (kind == .image || kind == .frames))
        let selection = AttentionSelection(layers: try indices(layer, option: "--layer"), heads: try indices(head, option: "--head"),
                                           rollout: rollout)
        let maps: AttentionMaps
        switch inspector.modality {
        case .text: maps = try inspector.maps(text: input, selection: selection)
        case .image: maps = try inspector.maps(imagePath: input, selection: selection)
        case .audio: maps = try inspector.maps(audioPath: input, selection: selection)
        case .protein: maps = try inspector.maps(fasta: input, record: record, selection: selection)
        case .video: maps = try inspector.maps(clip: try openClip([input]), selection: selection)
        }
        try maps.probabilities.checkFinite("attention probabilities", file: inspector.model.path)
        // Pictures and the page are made in memory first, so that a failure leaves no file at all.
        let pngData = try png.map { _ in try maps.picture(kind, title: title(model: model)).png() }
        let page = try html.map { _ in try AttentionHTML.document(try maps.viewInput(title: title(model: model))) }
        if let output {
            var named = [(cross ? "cross_attentions" : "attentions", maps.probabilities)]
            if let rollout = maps.rollout { named.append(("rollout", rollout)) }
            try OutputFile.write(maps.probabilities, primaryName: named[0].0, named: named, to: output)
            reportWritten(output, "\(maps.axes) = \(maps.probabilities.shape)")
        }
        if let png, let pngData {
            try AtomicFile.write(pngData, to: png)
            reportWritten(png, "\(kind.rawValue) picture")
        }
        if let html, let page {
            try AtomicFile.write(page, to: html)
            reportWritten(html, page.count >= 1_000_000 ? String(format: "%.1f MB page", Double(page.count) / 1e6)
                                                       : String(format: "%.0f kB page", Double(page.count) / 1e3))
        }
        if json {
            Stdout.write(summaryJSON(maps, model: model))
        } else if output == nil && png == nil && html == nil {
            Stdout.write(summary(maps))
        }
    }

    /// "all-MiniLM-L6-v2 — "The animal didn't …"" or "vit — cat.png".
    func title(model: String) -> String {
        let name = (model as NSString).lastPathComponent
        let shown = FileManager.default.fileExists(atPath: input) ? (input as NSString).lastPathComponent
            : "\"" + (input.count > 60 ? input.prefix(59) + "…" : input) + "\""
        return "\(name)\(cross ? " cross-attention" : "") — \(shown)"
    }

    func summaryJSON(_ maps: AttentionMaps, model: String) -> String {
        func list(_ items: [String]) -> String { "[" + items.map(JSON.quote).joined(separator: ", ") + "]" }
        func ints(_ items: [Int]) -> String { "[" + items.map(String.init).joined(separator: ", ") + "]" }
        return "{\"model\": \(JSON.quote(model)), \"input\": \(JSON.quote(input)), \"shape\": \(ints(maps.probabilities.shape)), "
            + "\"layers\": \(ints(maps.layers)), \"heads\": \(ints(maps.heads)), "
            + "\"queries\": \(list(maps.queries)), \"keys\": \(list(maps.keys))}\n"
    }

    /// The shape, then for each kept head of the last kept layer the key each query attends to
    /// most, over the whole map: the strongest link that is not a token to itself.
    func summary(_ maps: AttentionMaps) -> String {
        let p = maps.probabilities
        let name = FileManager.default.fileExists(atPath: input) ? input : JSON.quote(input)
        let n = maps.queries.count
        let size = "\(n) token\(n == 1 ? "" : "s")" + (maps.queries == maps.keys ? "" : " × \(maps.keys.count) frames")
        var out = "\(name): \(size), \(maps.axes) = \(p.shape) (layers \(maps.layers.map(String.init).joined(separator: ",")); "
            + "heads \(maps.heads.map(String.init).joined(separator: ",")))\n"
        guard p.shape.count == 4, let last = maps.layers.last else { return out + "  write them with --output\n" }
        let (H, Tq, Tk) = (p.shape[1], p.shape[2], p.shape[3])
        guard Tq > 1 || Tk > 1 else { return out + "one token: no links between tokens\n" }
        out += "strongest link per head, layer \(last):\n"
        for (k, h) in maps.heads.enumerated() {
            let base = p.pointer + ((maps.layers.count - 1) * H + k) * Tq * Tk
            var best = (i: 0, j: 0, v: -Float.infinity)
            for i in 0..<Tq {
                for j in 0..<Tk where (Tq != Tk || i != j) && base[i * Tk + j] > best.v { best = (i, j, base[i * Tk + j]) }
            }
            out += String(format: "  head %2d  %@ → %@  %.3f\n", h, JSON.quote(maps.queries[best.i]), JSON.quote(maps.keys[best.j]), best.v)
        }
        return out
    }
}

extension AttentionMaps.Picture: ExpressibleByArgument {}
