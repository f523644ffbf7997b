import Foundation

/// Any checkpoint → the attention maps of one input, with the labels and context pictures need.
/// Load once, inspect many. The maps come from the Encoder's attention sink, the one path that
/// computes probabilities; runs that ask for none keep the fused kernel.
public final class AttentionInspector: Sendable {
    /// What the model reads.
    public enum Modality: String, Sendable { case text, image, audio, protein, video }

    enum Backbone: Sendable {
        case text(TextEncoder)
        case image(ImageEncoder)
        case audio(AudioEncoder)
        case speech(Transcriber)
        case protein(ProteinEncoder)
        case video(VideoEncoder)
    }

    let backbone: Backbone
    public let model: ModelFolder
    public let family: ModelFamily

    /// Load any supported checkpoint. `crossAttention` loads a Whisper checkpoint with its decoder,
    /// for the decoder's attention over the audio; other families refuse it. The model computes in
    /// `dtype` (see `DType.runnable`); the probabilities come from fp32 scores either way.
    public init(model spec: String, crossAttention: Bool = false, dtype: DType = .f32) throws {
        let folder = try ModelFolder(spec)
        let family = try folder.family()
        if crossAttention && family != .whisper {
            throw MMAttnError("this is \(family.modelPhrase); cross-attention maps need a Whisper checkpoint with its decoder", file: folder.path)
        }
        switch family {
        case .vit, .deit: backbone = .image(try ImageEncoder(model: spec, dtype: dtype))
        case .whisper: backbone = crossAttention ? .speech(try Transcriber(model: spec, dtype: dtype)) : .audio(try AudioEncoder(model: spec, dtype: dtype))
        case .ast: backbone = .audio(try AudioEncoder(model: spec, dtype: dtype))
        case .esm: backbone = .protein(try ProteinEncoder(model: spec, dtype: dtype))
        case .timesformer, .videomae: backbone = .video(try VideoEncoder(model: spec, dtype: dtype))
        case .bert, .roberta, .distilbert, .gpt2, .modernbert, .qwen3: backbone = .text(try TextEncoder(model: spec, dtype: dtype))
        }
        model = folder
        self.family = family
    }

    /// What the model reads, which says what the input of `maps` is.
    public var modality: Modality {
        switch backbone {
        case .text: return .text
        case .image: return .image
        case .audio, .speech: return .audio
        case .protein: return .protein
        case .video: return .video
        }
    }

    /// Layers and heads per layer of the attention `maps` reports.
    public var shape: (layers: Int, heads: Int) {
        switch backbone {
        case .text(let t): return (t.model.numLayers, t.model.config.numHeads)
        case .image(let i): return (i.vit.config.numLayers, i.vit.config.encoder.numHeads)
        case .audio(let a):
            switch a.backbone {
            case .whisper(let e, _): return (e.numLayers, e.config.numHeads)
            case .ast(let m, _): return (m.numLayers, m.config.numHeads)
            }
        case .speech(let s): return (s.whisper.decoder.numLayers, s.whisper.decoder.numHeads)
        case .protein(let p): return (p.esm.numLayers, p.esm.config.numHeads)
        case .video(let v): return (v.backbone.numLayers, v.backbone.numHeads)
        }
    }

    /// Refuse, before any work, a picture that does not fit this model's inputs.
    public func check(_ picture: AttentionMaps.Picture) throws {
        try picture.check(modality)
        if picture == .contacts, case .protein(let p) = backbone, !p.esm.hasContactHead { throw AttentionMaps.noContactHead(file: model.path) }
    }

    // MARK: - Text

    /// The maps of a text, tokenized as `tokenizer(text)` does (special tokens added; no prompt or
    /// sentence-transformers length), cut to the model's positions with a warning.
    public func maps(text: String, selection: AttentionSelection = AttentionSelection()) throws -> AttentionMaps {
        guard case .text(let encoder) = backbone else { throw wrongInput("a text") }
        let limit = encoder.model.maxTokens
        guard let encoding = encoder.tokenizer.encodeBatch([text], maxLength: limit).first, !encoding.ids.isEmpty else {
            throw MMAttnError("the text has no tokens (it is empty, and this tokenizer adds no special tokens)")
        }
        if encoding.truncated { Diagnostics.warn("the text was cut to the model's \(limit) positions") }
        let T = encoding.ids.count
        let collect = try collector(selection, queries: T, keys: T)
        let types = encoder.model.usesTokenTypes ? [encoding.typeIds] : nil
        _ = try encoder.model.forward(ids: [encoding.ids], typeIds: types, options: TextForwardOptions(attentionSink: collect.take))
        let labels = encoding.ids.map { encoder.tokenizer.token($0) ?? "\($0)" }
        return finish(collect, queries: labels, keys: labels, source: .text)
    }

    // MARK: - Images

    /// The maps of a PNG image, preprocessed as the checkpoint's image processor does.
    public func maps(imagePath path: String, selection: AttentionSelection = AttentionSelection()) throws -> AttentionMaps {
        guard case .image(let encoder) = backbone else { throw wrongInput("an image") }
        return try attributing(to: path) {
            let image = try PNGImage.decode(path: path)
            let (pixels, seen) = try encoder.preparedWithImage(image)  // [3, H, W] and the picture it came from
            let P = encoder.vit.config.patchSize, prefix = encoder.vit.prefixTokens
            let rows = pixels.shape[1] / P, cols = pixels.shape[2] / P
            let T = prefix + rows * cols
            let collect = try collector(selection, queries: T, keys: T)
            _ = try encoder.vit.forward(pixels, options: EncoderOptions(attentionSink: collect.take))
            let labels = (prefix == 2 ? ["[CLS]", "[DIST]"] : ["[CLS]"]) + (0..<(rows * cols)).map { "r\($0 / cols) c\($0 % cols)" }
            return finish(collect, queries: labels, keys: labels, source: .image(seen, rows: rows, cols: cols, prefix: prefix))
        }
    }

    // MARK: - Audio

    /// The maps of an audio file: Whisper's encoder over the first 30 s window, or AST over its
    /// input length. A cross-attention inspector transcribes the clip (up to 30 s) and reports the
    /// decoder's attention over the encoder frames instead.
    public func maps(audioPath path: String, selection: AttentionSelection = AttentionSelection()) throws -> AttentionMaps {
        if case .speech(let transcriber) = backbone { return try crossMaps(transcriber, path: path, selection: selection) }
        guard case .audio(let encoder) = backbone else { throw wrongInput("an audio file") }
        return try attributing(to: path) {
            let samples = try encoder.samples(path: path)
            switch encoder.backbone {
            case .whisper(let whisper, let extractor):
                if samples.count > extractor.nSamples {
                    Diagnostics.warn("\(path): only the first \(extractor.chunkLength) s are shown (Whisper's encoder window)")
                }
                let features = extractor.features(Array(samples.prefix(extractor.nSamples)))  // [mels, 3000]
                let T = whisper.maxSourcePositions
                let collect = try collector(selection, queries: T, keys: T)
                _ = try whisper.forwardWithStates(features: features, options: EncoderOptions(attentionSink: collect.take))
                let labels = (0..<T).map { String(format: "%.2f s", Double($0) * 0.02) }
                let tokens = AudioTokens(logMel: features, audioFrames: extractor.validFrames(sampleCount: samples.count),
                                         prefix: 0, bands: 1, steps: T, secondsPerStep: 0.02)
                return finish(collect, queries: labels, keys: labels, source: .audio(tokens))
            case .ast(let ast, let extractor):
                let frames = extractor.frameCount(sampleCount: samples.count)
                if frames > ast.maxLength {
                    Diagnostics.warn("\(path): only the first \(ast.maxLength) frames (\(Double(ast.maxLength) / 100) s) are shown, the model's input length")
                }
                let features = extractor.features(samples)  // [maxLength, mels]
                let (bands, steps) = ast.patchGrid
                let T = 2 + bands * steps
                let collect = try collector(selection, queries: T, keys: T)
                _ = try ast.forward(features: features, options: EncoderOptions(attentionSink: collect.take))
                let seconds = Double(ast.timeStride) * 0.01
                let labels = ["[CLS]", "[DIST]"] + (0..<(bands * steps)).map { String(format: "b%d %.2f s", $0 / steps, Double($0 % steps) * seconds) }
                let tokens = AudioTokens(logMel: transposed(features), audioFrames: min(frames, ast.maxLength),
                                         prefix: 2, bands: bands, steps: steps, secondsPerStep: seconds)
                return finish(collect, queries: labels, keys: labels, source: .audio(tokens))
            }
        }
    }

    /// Whisper's decoder over a transcript of the clip: greedy decoding as `transcribe` does
    /// (no timestamps), then one pass over prompt + text + end-of-text with the probabilities kept,
    /// as transformers' `model(input_features, decoder_input_ids=generate(...), output_attentions=True)`.
    func crossMaps(_ transcriber: Transcriber, path: String, selection: AttentionSelection) throws -> AttentionMaps {
        try attributing(to: path) {
            let extractor = transcriber.featureExtractor
            let samples = try AudioDecoder.samples(path: path, rate: transcriber.samplingRate)
            guard samples.count <= extractor.nSamples else {
                throw MMAttnError("the clip is \(String(format: "%.1f", Double(samples.count) / Double(extractor.samplingRate))) s long; "
                                  + "cross-attention maps cover one \(extractor.chunkLength) s window: cut the clip first")
            }
            let features = extractor.features(samples)  // [mels, 3000]
            let whisper = transcriber.whisper
            let encoded = try whisper.encoder.forward(features: features)  // [1500, D]
            let prompt = try transcriber.initialTokens(options: TranscriptionOptions(), timestamps: false, firstWindow: { encoded })
            let generation = transcriber.generation
            let maxLength = generation.maxLength
            let heads = generation.alignmentHeads ?? []
            let decoder = whisper.decoder
            for (l, h) in heads where l >= decoder.numLayers || h >= decoder.numHeads {
                throw MMAttnError("alignment head [\(l), \(h)] does not exist in a decoder of \(decoder.numLayers) layers × \(decoder.numHeads) heads", file: generation.source)
            }
            let alignHeads = !heads.isEmpty && transcriber.wordRoles != nil
            let decoded = try transcriber.decodeWindow(encoded, prompt: prompt, rules: WhisperLogitsRules(config: generation, timestamps: false, begin: prompt.count),
                                                       maxLength: maxLength, alignment: false)
            var sequence = prompt + decoded.tokens
            let endsWithEndOfText = sequence.count < maxLength
            if endsWithEndOfText { sequence.append(generation.eosTokenId) }
            let N = sequence.count, F = encoded.shape[0]
            var crossSelection = selection
            crossSelection.rollout = false  // no rollout across two sequences
            let collect = try collector(crossSelection, queries: N, keys: F)
            let alignment = alignHeads ? Tensor(zeros: [N, F]) : nil  // [tokens, frames], the alignment heads' mean
            var options = EncoderOptions()
            options.crossAttentionSink = { layer, probs in
                collect.take(layer: layer, probs)
                guard let alignment else { return }
                let w = 1 / Float(heads.count), out = alignment.data
                for (l, h) in heads where l == layer {
                    let src = probs.pointer + h * N * F
                    for i in 0..<(N * F) { out[i] += w * src[i] }
                }
            }
            _ = try decoder.step([sequence], memory: decoder.memory([encoded]), cache: decoder.makeCache(), lastOnly: true, options: options)
            // The words `transcribe --word-timestamps` gives: it decodes again, with timestamp tokens,
            // whose alignment places the first word better than this plain decoding's does. The
            // features and the encoder's output are this run's.
            let audioFrames = extractor.validFrames(sampleCount: samples.count)
            let words = alignHeads
                ? try transcriber.transcribe(PaddedWindow(features: features, audioFrames: audioFrames), longForm: false,
                                             options: TranscriptionOptions(wordTimestamps: true), firstEncoded: encoded).segments.flatMap(\.words)
                : []
            let labels = sequence.map { transcriber.tokenizer.decode([$0]) }
            let frames = (0..<F).map { String(format: "%.2f s", Double($0) * 0.02) }
            let text = transcriber.tokenizer.decode(decoded.tokens, skipSpecialTokens: true)
            let tokens = TranscriptTokens(logMel: features, audioFrames: audioFrames, tokens: sequence,
                                          endsWithEndOfText: endsWithEndOfText, promptLength: prompt.count, words: words, alignmentHeads: heads,
                                          alignment: alignment, text: text)
            return finish(collect, queries: labels, keys: frames, source: .transcript(tokens))
        }
    }

    // MARK: - Proteins

    /// The maps of one FASTA record (the first, or the one whose id is `record`), tokenized with
    /// BOS and EOS as fair-esm and transformers do.
    public func maps(fasta path: String, record: String? = nil, selection: AttentionSelection = AttentionSelection()) throws -> AttentionMaps {
        guard case .protein(let encoder) = backbone else { throw wrongInput("a FASTA file") }
        let reader = try FastaReader(path: path, alphabet: encoder.alphabet)
        var found: FastaRecord?, more = false
        // The record wanted; without an id, the first, and whether another follows (the rest of
        // a database is not read).
        while let r = try reader.next() {
            if found != nil { more = true; break }
            if record == nil || r.id == record {
                found = r
                if record != nil { break }
            }
        }
        guard let found else {
            throw MMAttnError(record.map { "has no record with id \"\($0)\"" } ?? "has no records", file: path)
        }
        if more { Diagnostics.warn("\(path): showing the first record, \"\(found.id)\", of several (choose another with --record)") }
        let tokens = encoder.alphabet.encode(found.sequence)
        let T = tokens.count
        let collect = try collector(selection, queries: T, keys: T)
        let out = try attributing(to: path) {
            try encoder.esm.forward(tokens: [tokens], repr: [], contacts: encoder.esm.hasContactHead, attentionSink: collect.take)
        }
        let residues = Array(found.sequence)
        let labels = ["<cls>"] + residues.enumerated().map { "\($0.element)\($0.offset + 1)" } + ["<eos>"]
        return finish(collect, queries: labels, keys: labels,
                      source: .protein(id: found.id, residues: found.sequence, contacts: out.contacts.first))
    }

    // MARK: - Video

    /// The maps of a clip, its frames sampled and preprocessed as `embed-video` does.
    public func maps(clip: FrameSource, selection: AttentionSelection = AttentionSelection()) throws -> AttentionMaps {
        guard case .video(let encoder) = backbone else { throw wrongInput("a video or frames") }
        return try attributing(to: clip.name) {
            var frames = [RGBImage?](repeating: nil, count: encoder.numFrames)
            let pixels = try encoder.pixelValues(clip) { t, frame in frames[t] = frame }.pixels  // [F, 3, H, W]
            let seen = frames.map { $0! }  // every position was handed over
            let (H, W) = encoder.backbone.frameSize
            let P = encoder.backbone.patchSize
            let rows = H / P, cols = W / P, N = rows * cols, F = encoder.numFrames
            let layout: VideoTokens, labels: [String], T: Int, groups: Int
            if let timesformer = encoder.backbone as? TimeSformer {
                let divided = timesformer.config.attentionType == .dividedSpaceTime
                layout = VideoTokens(frames: seen, prefix: 1, rows: rows, cols: cols, tubelet: 1, patchMajor: true, divided: divided)
                if divided {
                    T = 1 + N
                    groups = F
                    labels = ["[CLS]"] + (0..<N).map { "r\($0 / cols) c\($0 % cols)" }
                } else {
                    T = 1 + N * F
                    groups = 1
                    labels = ["[CLS]"] + (0..<(N * F)).map { "r\($0 / F / cols) c\($0 / F % cols) f\($0 % F)" }
                }
            } else if let videomae = encoder.backbone as? VideoMAE {
                let tubelet = videomae.config.tubeletSize
                layout = VideoTokens(frames: seen, prefix: 0, rows: rows, cols: cols, tubelet: tubelet, patchMajor: false, divided: false)
                T = N * (F / tubelet)
                groups = 1
                labels = (0..<T).map { "f\($0 / N * tubelet)-\($0 / N * tubelet + tubelet - 1) r\($0 % N / cols) c\($0 % cols)" }
            } else {
                throw MMAttnError("attention maps of \(encoder.backbone.family.displayName) clips are not supported")
            }
            let collect = try collector(selection, queries: T, keys: T, groups: groups)
            _ = try encoder.backbone.forward(pixels, options: EncoderOptions(attentionSink: collect.take))
            return finish(collect, queries: labels, keys: labels, source: .video(layout))
        }
    }

    // MARK: - Shared

    func collector(_ selection: AttentionSelection, queries: Int, keys: Int, groups: Int = 1) throws -> AttentionCollector {
        let (L, H) = shape, rollout = selection.rollout
        let (layers, heads) = try selection.resolved(layers: L, heads: H)
        // The kept maps, their sum, a layer's maps as the encoder hands them over, and the rollout's
        // three T × T matrices, per group.
        let plane = Double(queries) * Double(keys) * Double(groups) * 4
        let bytes = plane * (Double(layers.count * heads.count) + 1 + Double(H) + (rollout && queries == keys ? 3 : 0))
        guard bytes <= Double(AttentionInspector.maxBytes) else {
            throw MMAttnError(String(format: "the attention maps would take %.1f GB (%d layers × %d heads of %d × %d%@); select fewer with --layer and --head",
                                     bytes / 1e9, layers.count, heads.count, queries, keys, groups > 1 ? " in each of \(groups) frames" : ""))
        }
        return try AttentionCollector(layers: layers, heads: heads, modelHeads: H, groups: groups, queries: queries, keys: keys, rollout: rollout)
    }

    /// The most memory the kept maps may take (8 GB).
    public static let maxBytes = 8 << 30

    func finish(_ collect: AttentionCollector, queries: [String], keys: [String], source: AttentionSource) -> AttentionMaps {
        let (L, H) = shape
        return AttentionMaps(probabilities: collect.probabilities, layers: collect.layers, heads: collect.heads, layerCount: L, headCount: H,
                             queries: queries, keys: keys, rollout: collect.rollout, mean: collect.mean, source: source)
    }

    /// `[rows, cols]` → `[cols, rows]`.
    func transposed(_ x: Tensor) -> Tensor {
        let (r, c) = (x.shape[0], x.shape[1])
        let out = Tensor(uninitialized: [c, r])  // [cols, rows]
        let src = x.pointer, dst = out.data
        for j in 0..<c { for i in 0..<r { dst[j * r + i] = src[i * c + j] } }
        return out
    }

    func wrongInput(_ what: String) -> MMAttnError {
        MMAttnError("this is \(family.modelPhrase), which does not read \(what); it reads \(modality.phrase)", file: model.path)
    }
}

extension AttentionInspector.Modality {
    /// "a text", "a PNG image", ...
    public var phrase: String {
        switch self {
        case .text: return "text"
        case .image: return "PNG images"
        case .audio: return "audio files"
        case .protein: return "FASTA files"
        case .video: return "videos or frames"
        }
    }
}
