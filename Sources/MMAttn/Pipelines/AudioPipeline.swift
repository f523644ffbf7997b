import Foundation

/// Audio files → Whisper encoder or AST embeddings. Load once, embed many.
///
/// Audio is decoded with libsndfile, averaged to mono, and resampled with soxr (high quality) to
/// the model's `sampling_rate`. Whisper sees consecutive 30 s windows; AST sees the first
/// `max_length` fbank frames (10 ms each; 10.24 s for AudioSet checkpoints), as its feature
/// extractor does, with a warning when audio is cut.
public final class AudioEncoder: @unchecked Sendable {
    public enum Backbone {
        case whisper(WhisperEncoder, WhisperFeatureExtractor)
        case ast(AST, ASTFeatureExtractor)
    }

    public let model: ModelFolder
    public let backbone: Backbone

    public init(model spec: String) throws {
        model = try ModelFolder(spec)
        let checkpoint = try model.checkpoint()
        let pre = try model.optionalJSON("preprocessor_config.json")
        switch model.family {
        case .whisper:
            let encoder = try WhisperEncoder(config: model.config, weights: checkpoint)
            let extractor: WhisperFeatureExtractor
            if let pre {
                extractor = try WhisperFeatureExtractor(config: pre)
            } else {
                extractor = try WhisperFeatureExtractor(featureSize: encoder.numMelBins)
                Diagnostics.warn("\(model.file("preprocessor_config.json")): not found; using Whisper's defaults (\(encoder.numMelBins) mel bins, 16 kHz, 30 s windows)")
            }
            guard extractor.featureSize == encoder.numMelBins, extractor.nFrames == encoder.inputFrames else {
                throw MMAttnError("preprocessor_config.json gives \(extractor.featureSize) mel bins × \(extractor.nFrames) frames, but the model expects \(encoder.numMelBins) × \(encoder.inputFrames)", file: model.file("preprocessor_config.json"))
            }
            backbone = .whisper(encoder, extractor)
        case .ast:
            let ast = try AST(config: model.config, weights: checkpoint)
            let extractor: ASTFeatureExtractor
            if let pre {
                extractor = try ASTFeatureExtractor(config: pre)
            } else {
                extractor = try ASTFeatureExtractor(samplingRate: 16_000, numMelBins: ast.numMelBins, maxLength: ast.maxLength)
                Diagnostics.warn("\(model.file("preprocessor_config.json")): not found; using AST's defaults (16 kHz, \(ast.numMelBins) mel bins, AudioSet mean and std)")
            }
            guard extractor.numMelBins == ast.numMelBins, extractor.maxLength == ast.maxLength else {
                throw MMAttnError("preprocessor_config.json gives \(extractor.numMelBins) mel bins × \(extractor.maxLength) frames, but the model expects \(ast.numMelBins) × \(ast.maxLength)", file: model.file("preprocessor_config.json"))
            }
            backbone = .ast(ast, extractor)
        default:
            throw MMAttnError("this is a \(model.family.rawValue) model; audio commands need a Whisper or AST checkpoint", file: model.path)
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
        let clip = try AudioDecoder.decode(path: path)
        return clip.sampleRate == samplingRate ? clip.samples : try clip.resampled(to: samplingRate).samples
    }

    /// The embedding of mono samples at `samplingRate`.
    ///
    /// Whisper: `mean` [D] averages the encoder frames that cover audio over all 30 s windows;
    /// `none` is `[1500, D]` for audio up to 30 s and `[windows, 1500, D]` beyond.
    /// AST: `mean` is the pooled output [D]; `none` the last hidden state [T, D]. `cls` is the first token.
    public func embed(samples: [Float], pooling: Pooling, source: String = "audio") throws -> Tensor {
        let out: Tensor
        switch backbone {
        case .whisper(let encoder, let extractor):
            let D = encoder.config.hiddenSize, P = encoder.maxSourcePositions
            var blocks: [Tensor] = []
            let mean = Tensor(zeros: [D])
            var covered = 0
            for window in extractor.windows(samples) {
                let hidden = try encoder.forward(features: window.features)  // [1500, D]
                // Encoder frames halve the mel frames (stride-2 convolution).
                let frames = min(P, (window.validFrames + 1) / 2)
                for t in 0..<frames { Kernels.add(hidden.data + t * D, into: mean.data, count: D) }
                covered += frames
                if pooling != .mean { blocks.append(hidden) }
            }
            switch pooling {
            case .mean:
                for d in 0..<D { mean.data[d] /= Float(max(covered, 1)) }
                out = mean
            case .cls: out = blocks[0].rows(0..<1).reshaped([D])
            case .none: out = blocks.count == 1 ? blocks[0] : Tensor.stack(blocks)
            }
        case .ast(let ast, let extractor):
            let frames = extractor.frameCount(sampleCount: samples.count)
            if frames > ast.maxLength {
                Diagnostics.warn("\(source): \(String(format: "%.2f", Double(samples.count) / Double(extractor.samplingRate))) s of audio; AST sees the first \(ast.maxLength) frames (\(String(format: "%.2f", Double(ast.maxLength) / 100)) s), as its feature extractor does")
            }
            let hidden = try ast.forward(features: extractor.features(samples))
            switch pooling {
            case .mean: out = ast.pooled(hidden)
            case .cls: out = hidden.rows(0..<1).reshaped([ast.config.hiddenSize])
            case .none: out = hidden
            }
        }
        try out.checkFinite("embeddings", file: model.path)
        return out
    }

    public func embed(path: String, pooling: Pooling = .mean) throws -> Tensor {
        try embed(samples: try samples(path: path), pooling: pooling, source: path)
    }
}

/// Audio files → labels of an AST classifier (AudioSet: multi-label, sigmoid scores).
public final class AudioClassifier: @unchecked Sendable {
    public let encoder: AudioEncoder
    let ast: AST

    public init(model spec: String) throws {
        encoder = try AudioEncoder(model: spec)
        guard case .ast(let ast, _) = encoder.backbone else {
            throw MMAttnError("Whisper checkpoints have no audio classification head: use embed-audio, or an AST classifier (MIT/ast-finetuned-audioset-*)", file: encoder.model.path)
        }
        guard ast.hasClassifier else {
            throw MMAttnError("the checkpoint has no classification head (classifier.dense): use embed-audio", file: encoder.model.path)
        }
        self.ast = ast
    }

    public var labels: [String] { ast.labels }
    /// Sigmoid scores when the checkpoint is multi-label, softmax otherwise.
    public var multiLabel: Bool { ast.multiLabel }

    /// Classifier logits of an audio file, [L].
    public func logits(path: String) throws -> Tensor {
        let pooled = try encoder.embed(path: path, pooling: .mean)
        let logits = try ast.logits(pooled: pooled)
        try logits.checkFinite("logits", file: encoder.model.path)
        return logits
    }

    public func classify(path: String, topK: Int = 5) throws -> [Prediction] {
        Scores.top(topK, logits: try logits(path: path), labels: labels, multiLabel: multiLabel)
    }
}
