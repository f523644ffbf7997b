import Foundation

/// Audio files → Whisper encoder or AST embeddings. Load once, embed many.
///
/// Audio is decoded with libsndfile, averaged to mono, and resampled with soxr (high quality) to
/// the model's `sampling_rate`. Whisper sees consecutive 30 s windows; AST sees the first
/// `max_length` fbank frames (10 ms each; 10.24 s for AudioSet checkpoints), as its feature
/// extractor does, with a warning when audio is cut.
public final class AudioEncoder: Sendable {
    public enum Backbone: Sendable {
        case whisper(WhisperEncoder, WhisperFeatureExtractor)
        case ast(AST, ASTFeatureExtractor)
    }

    public let model: ModelFolder
    public let backbone: Backbone

    /// The model computes in `dtype` (bf16 where the CPU runs it: `DType.runnable`).
    public init(model spec: String, dtype: DType = .f32) throws {
        let load = try ModelLoad(spec, accepting: [.whisper, .ast], for: "audio commands", dtype: dtype)
        model = load.folder
        switch load.family {
        case .whisper:
            let encoder = try WhisperEncoder(config: load.folder.config, weights: load.checkpoint)
            let extractor = try load.preprocessor({ try WhisperFeatureExtractor(config: $0) },
                                                  defaults: { try WhisperFeatureExtractor(featureSize: encoder.numMelBins) },
                                                  describe: { "\($0.featureSize) mel bins, \($0.samplingRate / 1000) kHz, \($0.chunkLength) s windows" })
            guard extractor.featureSize == encoder.numMelBins, extractor.nFrames == encoder.inputFrames else {
                throw MMAttnError("preprocessor_config.json gives \(extractor.featureSize) mel bins × \(extractor.nFrames) frames, but the model expects \(encoder.numMelBins) × \(encoder.inputFrames)", file: load.preprocessorPath)
            }
            backbone = .whisper(encoder, extractor)
        default:
            let ast = try AST(config: load.folder.config, weights: load.checkpoint)
            let extractor = try load.preprocessor({ try ASTFeatureExtractor(config: $0) },
                                                  defaults: { try ASTFeatureExtractor(samplingRate: 16_000, numMelBins: ast.numMelBins, maxLength: ast.maxLength) },
                                                  describe: { "\($0.samplingRate / 1000) kHz, \($0.numMelBins) mel bins, AudioSet mean and std" })
            guard extractor.numMelBins == ast.numMelBins, extractor.maxLength == ast.maxLength else {
                throw MMAttnError("preprocessor_config.json gives \(extractor.numMelBins) mel bins × \(extractor.maxLength) frames, but the model expects \(ast.numMelBins) × \(ast.maxLength)", file: load.preprocessorPath)
            }
            backbone = .ast(ast, extractor)
        }
    }

    /// The sampling rate the model's features expect.
    public var samplingRate: Int {
        switch backbone {
        case .whisper(_, let f): return f.samplingRate
        case .ast(_, let f): return f.samplingRate
        }
    }

    /// Decode `path` to mono samples at the model's rate.
    public func samples(path: String) throws -> [Float] {
        try AudioDecoder.samples(path: path, rate: samplingRate)
    }

    /// The embedding of mono samples at `samplingRate`.
    ///
    /// Whisper: `mean` [D] averages the encoder frames that cover audio over all 30 s windows;
    /// `none` is `[1500, D]` for audio up to 30 s and `[windows, 1500, D]` beyond.
    /// AST: `mean` is the pooled output [D]; `none` the last hidden state [T, D]. `cls` is the first token.
    public func embed(samples: [Float], pooling: Pooling, source: String = "audio") throws -> Tensor {
        var out: Tensor?
        try streamEmbeddings(count: 1, source: { _ in source }, samples: { _ in samples }, pooling: pooling) { out = $1 }
        return out!
    }

    /// The embeddings of several clips of mono samples at `samplingRate`, as
    /// `embed(samples:pooling:source:)` gives each, their windows sharing packed batches; errors
    /// name `sources[i]`.
    public func embed(clips: [[Float]], pooling: Pooling, sources: [String]) throws -> [Tensor] {
        precondition(sources.count == clips.count, "one source name per clip")
        var out = [Tensor?](repeating: nil, count: clips.count)
        try streamEmbeddings(count: clips.count, source: { sources[$0] }, samples: { clips[$0] }, pooling: pooling) { out[$0] = $1 }
        return out.map { $0! }
    }

    /// Windows (Whisper: 30 s each) or clips (AST) per forward pass: one packed batch, so GEMMs see
    /// all their rows at once.
    public static let batchSize = 8

    /// What is kept of a clip while its windows are encoded.
    private struct ClipState {
        var remaining: Int      // windows not encoded yet
        var mean: RowMean?      // Whisper `mean`: a running mean over the frames that cover audio
        var kept: [Tensor] = [] // the hidden states pooling needs: every window for `none`, else the first
    }

    /// Embed `count` clips in order, calling `body(i, embedding)` as each is done. Windows of
    /// consecutive clips share packed batches of `batchSize`; one decoded clip and one batch of
    /// windows are alive at a time, and Whisper's `mean` is a running mean, so memory does not
    /// grow with the audio's length or the number of clips. Errors name `source(i)`.
    func streamEmbeddings(count: Int, source: (Int) -> String, samples: (Int) throws -> [Float], pooling: Pooling,
                          _ body: (Int, Tensor) throws -> Void) throws {
        var pending: [(clip: Int, features: Tensor, frames: Int)] = []
        var states: [Int: ClipState] = [:]
        var next = 0  // the next clip to hand to `body`
        func flush() throws {
            guard !pending.isEmpty else { return }
            let hidden: [Tensor] = try attributing(to: source(pending[0].clip)) {
                switch backbone {
                case .whisper(let encoder, _): return try encoder.forward(windows: pending.map(\.features))
                case .ast(let ast, _): return try ast.forward(batch: pending.map(\.features))
                }
            }
            for (input, h) in zip(pending, hidden) {
                states[input.clip]!.mean?.add(h, rows: 0..<input.frames)
                if pooling == .none || states[input.clip]!.kept.isEmpty { states[input.clip]!.kept.append(h) }
                states[input.clip]!.remaining -= 1
            }
            pending.removeAll()
            while let state = states[next], state.remaining == 0 {
                try attributing(to: source(next)) { try body(next, try pooled(state, pooling: pooling)) }
                states[next] = nil
                next += 1
            }
        }
        for c in 0..<count {
            let clip = try attributing(to: source(c)) { try samples(c) }
            var inputs: [(clip: Int, features: Tensor, frames: Int)] = []
            switch backbone {
            case .whisper(let encoder, let extractor):
                // Encoder frames halve the mel frames (stride-2 convolution).
                for w in extractor.windows(clip) { inputs.append((c, w.features, min(encoder.maxSourcePositions, (w.validFrames + 1) / 2))) }
                states[c] = ClipState(remaining: inputs.count, mean: pooling == .mean ? RowMean(width: encoder.config.hiddenSize) : nil)
            case .ast(let ast, let extractor):
                if extractor.frameCount(sampleCount: clip.count) > ast.maxLength {
                    Diagnostics.warn("\(source(c)): \(String(format: "%.2f", Double(clip.count) / Double(extractor.samplingRate))) s of audio; AST sees the first \(ast.maxLength) frames (\(String(format: "%.2f", Double(ast.maxLength) / 100)) s), as its feature extractor does")
                }
                inputs.append((c, extractor.features(clip), ast.tokenCount))
                states[c] = ClipState(remaining: 1, mean: nil)
            }
            for input in inputs {
                pending.append(input)
                if pending.count == Self.batchSize { try flush() }
            }
        }
        try flush()
    }

    /// A clip's embedding from what was kept of it (see `embed(samples:pooling:source:)`).
    private func pooled(_ state: ClipState, pooling: Pooling) throws -> Tensor {
        let out: Tensor
        switch (backbone, pooling) {
        case (.whisper, .mean): out = state.mean!.result
        case (.whisper, .cls): out = pooling.apply(state.kept[0])
        case (.whisper, .none): out = state.kept.count == 1 ? state.kept[0] : Tensor.stack(state.kept)
        case (.ast, _): out = pooling.apply(state.kept[0], meanRows: 0..<2)  // mean: the pooled output, as ASTModel's pooler
        }
        try out.checkFinite("embeddings", file: model.path)
        return out
    }

    /// Throws, naming two clips, when their outputs under `pooling` would differ in shape (`.none`
    /// over clips of different window counts); decodes every clip to count its samples.
    public func checkSameShapes(paths: [String], pooling: Pooling) throws {
        guard pooling == .none && paths.count > 1 else { return }
        try Embeddings.checkSameShapes(try paths.map { path in
            (path, outputShape(sampleCount: try attributing(to: path) { try samples(path: path).count }, pooling: pooling))
        })
    }

    /// The embeddings of audio files, in order (see `streamEmbeddings`); errors name the file.
    public func forEachEmbedding(paths: [String], pooling: Pooling, _ body: (String, Tensor) throws -> Void) throws {
        try streamEmbeddings(count: paths.count, source: { paths[$0] }, samples: { try self.samples(path: paths[$0]) },
                             pooling: pooling) { try body(paths[$0], $1) }
    }

    /// The shape `embed` gives for `sampleCount` samples at the model's rate.
    public func outputShape(sampleCount: Int, pooling: Pooling) -> [Int] {
        switch (backbone, pooling) {
        case (.whisper(let encoder, let extractor), .none):
            let windows = max(1, (sampleCount + extractor.nSamples - 1) / extractor.nSamples)  // 30 s windows
            let hidden = [encoder.maxSourcePositions, encoder.config.hiddenSize]
            return windows == 1 ? hidden : [windows] + hidden
        case (.whisper(let encoder, _), _): return [encoder.config.hiddenSize]
        case (.ast(let ast, _), .none): return [ast.tokenCount, ast.config.hiddenSize]
        case (.ast(let ast, _), _): return [ast.config.hiddenSize]
        }
    }

    public func embed(path: String, pooling: Pooling = .mean) throws -> Tensor {
        try attributing(to: path) { try embed(samples: try samples(path: path), pooling: pooling, source: path) }
    }

    /// The embeddings of several audio files, in order. With `pooling` `.none`, Whisper's output
    /// grows with the number of 30 s windows; unless `allowMixedShapes`, clips whose shapes differ
    /// are an error found by decoding them all before any is encoded.
    public func embed(paths: [String], pooling: Pooling = .mean, allowMixedShapes: Bool = false) throws -> Embeddings {
        if !allowMixedShapes { try checkSameShapes(paths: paths, pooling: pooling) }
        var out = Embeddings(name: pooling == .none ? "last_hidden_state" : "embedding")
        try forEachEmbedding(paths: paths, pooling: pooling) { path, e in out.append(e, input: path) }
        return out
    }
}

/// Audio files → labels of an AST classifier (AudioSet: multi-label, sigmoid scores).
public final class AudioClassifier: Sendable {
    public let encoder: AudioEncoder
    let ast: AST

    /// Load an AST classifier computing in `dtype`.
    public init(model spec: String, dtype: DType = .f32) throws {
        encoder = try AudioEncoder(model: spec, dtype: dtype)
        guard case .ast(let ast, _) = encoder.backbone else {
            throw MMAttnError("Whisper checkpoints have no audio classification head: use embed-audio, or an AST classifier (MIT/ast-finetuned-audioset-*)", file: encoder.model.path)
        }
        guard ast.hasClassifier else {
            throw MMAttnError("the checkpoint has no classification head (classifier.dense): use embed-audio", file: encoder.model.path)
        }
        self.ast = ast
    }

    public var labels: [String] { ast.labels }
    /// How logits become scores (the checkpoint's `problem_type`; see `AST.scoring`).
    public var scoring: Scoring { ast.scoring }
    /// Sigmoid scores (a multi-label checkpoint).
    public var multiLabel: Bool { ast.multiLabel }

    /// Classifier logits of an audio file, [L].
    public func logits(path: String) throws -> Tensor {
        let pooled = try encoder.embed(path: path, pooling: .mean)
        let logits = try ast.logits(pooled: pooled)
        try logits.checkFinite("logits", file: encoder.model.path)
        return logits
    }

    /// The `topK` best labels of an audio file, and its logits; `scoring` overrides the checkpoint's.
    public func classify(path: String, topK: Int = 5, scoring: Scoring? = nil) throws -> Classification {
        let l = try logits(path: path)
        return Classification(input: path, predictions: Scores.top(topK, logits: l, labels: labels, scoring: scoring ?? self.scoring), logits: l)
    }

    /// The logits, [L], of several clips of mono samples at the model's rate, in packed batches;
    /// errors name `sources[i]`.
    public func logits(clips: [[Float]], sources: [String]) throws -> [Tensor] {
        try encoder.embed(clips: clips, pooling: .mean, sources: sources).map { pooled in
            let l = try ast.logits(pooled: pooled)
            try l.checkFinite("logits", file: encoder.model.path)
            return l
        }
    }

    /// Classify several audio files, in order, in packed batches.
    public func classify(paths: [String], topK: Int = 5, scoring: Scoring? = nil) throws -> [Classification] {
        var out: [Classification] = []
        try encoder.forEachEmbedding(paths: paths, pooling: .mean) { path, pooled in
            let l = try ast.logits(pooled: pooled)
            try l.checkFinite("logits", file: encoder.model.path)
            out.append(Classification(input: path, predictions: Scores.top(topK, logits: l, labels: labels, scoring: scoring ?? self.scoring), logits: l))
        }
        return out
    }
}
