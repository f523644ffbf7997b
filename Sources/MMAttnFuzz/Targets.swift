import Foundation
import MMAttn
import MMAttnServer
import MMAttnVideo

/// The targets, one per input format. Each names the fixture files it loads once and the entry
/// point the bytes go through; limits are those the commands use unless the comment says otherwise.
enum Targets {
    // MARK: Weights and configs

    /// A `model.safetensors` file: header, tensor table, then every tensor read as the models read them.
    static let safetensors = FuzzTarget("safetensors", "model.safetensors → Checkpoint(folder:), every tensor") { scratch in
        let folder = scratch.file("model/")
        return { bytes in
            try scratch.write(bytes, to: "model/model.safetensors")
            try readEveryTensor(Checkpoint(folder: folder))
        }
    }

    /// A `pytorch_model.bin` file (zip or legacy tar-free pickle): the restricted unpickler and the storages.
    static let pickle = FuzzTarget("pickle", "pytorch_model.bin → Checkpoint(folder:), every tensor") { scratch in
        let folder = scratch.file("model/")
        return { bytes in
            try scratch.write(bytes, to: "model/pytorch_model.bin")
            try readEveryTensor(Checkpoint(folder: folder))
        }
    }

    private static func readEveryTensor(_ checkpoint: Checkpoint) throws {
        for name in checkpoint.names { _ = try checkpoint.tensor(name) }
        for name in checkpoint.names.prefix(4) { _ = try checkpoint.computing(in: .bf16).tensor(name) }
    }

    /// A `.npy` array, as `mmattn merge` and the tests read embeddings back.
    static let npy = FuzzTarget("npy", ".npy → NPY.decode") { _ in
        { bytes in _ = try NPY.decode(Data(bytes), file: "input.npy") }
    }

    /// A model's `config.json`, loaded with the weights of the tiny fixture of the family it names,
    /// by the generic loader the `attention` command uses (every family's config reader and shape checks).
    static let config = FuzzTarget("config", "config.json → AttentionInspector(model:) with the family's fixture weights") { scratch in
        func fixture(_ family: ModelFamily) -> String {  // exhaustive: a new family needs its fixture here
            switch family {
            case .vit, .deit, .whisper, .ast, .timesformer, .videomae, .bert, .roberta, .distilbert, .gpt2, .modernbert:
                return family.rawValue
            case .esm: return "esm2-model"
            case .qwen3: return "qwen3-embedding"
            }
        }
        var folders: [ModelFamily: String] = [:]
        for family in ModelFamily.allCases {
            folders[family] = try scratch.linkedFolder(family.rawValue, to: "models/" + fixture(family), except: ["config.json"])
        }
        return { bytes in
            let family = try ModelFamily(config: JSONFields(JSON.parse(bytes), file: "config.json"))
            let folder = folders[family]!
            try scratch.write(bytes, to: family.rawValue + "/config.json")
            _ = try AttentionInspector(model: folder)
        }
    }

    /// A sentence-transformers folder's own files, NUL-separated in this order: `modules.json`,
    /// `1_Pooling/config.json`, `sentence_bert_config.json`, `config_sentence_transformers.json`;
    /// the folder's model is the tiny BERT fixture. Loaded as `embed-text` loads it, then one text embedded.
    static let sentenceTransformers = FuzzTarget("st-config", "sentence-transformers files → TextEncoder(model:), one embedding") { scratch in
        let folder = try scratch.linkedFolder("st", to: "models/st-bert-mean",
                                              except: ["modules.json", "1_Pooling", "sentence_bert_config.json",
                                                       "config_sentence_transformers.json"])
        let names = ["modules.json", "1_Pooling/config.json", "sentence_bert_config.json", "config_sentence_transformers.json"]
        return { bytes in
            for (name, piece) in zip(names, pieces(bytes, count: names.count)) {
                try scratch.write(piece, to: "st/" + name)
            }
            let encoder = try TextEncoder(model: folder)
            _ = try encoder.embed(["a short sentence"], options: TextEmbeddingOptions(promptName: encoder.sentenceTransformer?.prompts.keys.sorted().first))
        }
    }

    // MARK: Text

    /// A `tokenizer.json`: loaded, then a few hard texts encoded, as pairs and truncated, and decoded.
    static let tokenizerJSON = FuzzTarget("tokenizer-json", "tokenizer.json → Tokenizer(file:), encode and decode") { scratch in
        let texts = ["Hello, world! It's 2026.", "naïve café — 東京 🙂 \u{301}x", "  spaced\ttabs\nnew lines  ", ""]
        return { bytes in
            let path = try scratch.write(bytes, to: "tokenizer.json")
            let tokenizer = try Tokenizer(file: path)
            for text in texts {
                let e = tokenizer.encode(text, pair: "second", maxLength: 16)
                _ = tokenizer.decode(e.ids, skipSpecialTokens: true)
            }
        }
    }

    /// Arbitrary text (the bytes after the first, decoded as UTF-8 with replacement) through a real
    /// tokenizer the first byte picks: encoded alone, as a pair, truncated, batched, and decoded back.
    static let tokenize = FuzzTarget("tokenize", "text → each real tokenizer's encode and decode") { _ in
        let tokenizers = try ["tokenizers/bert-uncased", "tokenizers/gpt2-whisper", "tokenizers/roberta-small",
                              "tokenizers/split-regex", "tokenizers/wordpiece-nfd", "tokenizers/wordpiece-kitchen",
                              "tokenizers/wordpiece-bertnorm", "models/qwen3-embedding", "models/modernbert"]
            .map { try Tokenizer(folder: Repository.fixture($0)) }
        return { bytes in
            guard let first = bytes.first else { return }
            let tokenizer = tokenizers[Int(first) % tokenizers.count]
            let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
            let e = tokenizer.encode(text)
            _ = tokenizer.decode(e.ids)
            _ = tokenizer.decode(e.ids, skipSpecialTokens: true)
            _ = tokenizer.encode(text, pair: text, maxLength: 32)
            _ = tokenizer.pad(tokenizer.encodeBatch([text, "x"], maxLength: 8))
        }
    }

    // MARK: Images, audio, video, proteins

    /// A PNG decoded (at most 4 megapixels here, against 40 by default, to keep executions fast;
    /// the budget check is the same code) and prepared by ViT's and DeiT's preprocessors.
    static let png = FuzzTarget("png", "PNG → PNGImage.decode(data:), ViT and DeiT preprocessing") { _ in
        { bytes in
            let image = try PNGImage.decode(data: Data(bytes), file: "input.png", maxPixels: 4_000_000)
            _ = try ImagePreprocessor.vit(image)
            _ = try ImagePreprocessor.deit(image)
        }
    }

    /// An audio file decoded from memory (libsndfile's virtual I/O; at most 60 s here, against an
    /// hour by default), resampled to 16 kHz, and turned into Whisper's and AST's features.
    static let audio = FuzzTarget("audio", "audio → AudioDecoder.decode(data:), 16 kHz, Whisper and AST features") { _ in
        let whisper = WhisperFeatureExtractor(), ast = ASTFeatureExtractor()
        return { bytes in
            let clip = try AudioDecoder.decode(data: Data(bytes), name: "input.wav", maxSeconds: 60).resampled(to: 16_000)
            _ = whisper.windows(clip.samples)
            _ = ast.features(clip.samples)
        }
    }

    /// A video container probed and its first frames decoded (FFmpeg), as `embed-video` starts.
    static let video = FuzzTarget("video", "video → VideoFile(path:), frame count, two frames") { scratch in
        { bytes in
            let path = try scratch.write(bytes, to: "input.mp4")
            let video = try VideoFile(path: path)
            let count = try video.frameCount()
            try video.forEachFrame(at: Array(0..<min(count, 2))) { _, _ in }
        }
    }

    /// A FASTA file read with ESM-2's alphabet, whole and as two halves (`--shard`'s byte ranges).
    static let fasta = FuzzTarget("fasta", "FASTA → FastaReader(path:alphabet:), whole and sharded") { scratch in
        { bytes in
            let path = try scratch.write(bytes, to: "input.fasta")
            let size = Int64(bytes.count)
            for range in [nil, 0..<size / 2, size / 2..<size] {
                let reader = try FastaReader(path: path, alphabet: .esm2, maxResidues: 100_000, range: range)
                while let record = try reader.next() { _ = ESMAlphabet.esm2.encode(record.sequence) }
            }
        }
    }

    // MARK: Server

    /// An HTTP request body: the first line is its Content-Type, the rest the body. Decoded as
    /// the server decodes it: a multipart form (or raw upload), else a JSON body for TEI's `/embed`
    /// and OpenAI's `/v1/embeddings`.
    static let server = FuzzTarget("server", "Content-Type line + body → the server's form and JSON request decoders") { _ in
        { bytes in
            let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            let contentType = String(decoding: bytes[..<newline], as: UTF8.self)
            let body = UnsafeRawBufferPointer(rebasing: bytes[min(newline + 1, bytes.count)...])
            if !contentType.lowercased().hasPrefix("application/json") {
                _ = try Form(body: Data(body), contentType: contentType, query: [("model", "m")], limits: ServerLimits())
                return
            }
            let object = try RequestBodies.jsonObject(body)
            _ = try? TextEmbeddingRequest(tei: object, autoTruncate: true)
            _ = try TextEmbeddingRequest.openAI(object, autoTruncate: false)
        }
    }
}
