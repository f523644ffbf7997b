import Foundation

/// Clips (PNG frames, or video files through `MMAttnVideo`) → TimeSformer or VideoMAE hidden
/// states and embeddings. Load once, embed many.
public final class VideoEncoder: Sendable {
    public let model: ModelFolder
    public let backbone: any VideoModel
    /// Applied to each frame (VideoMAEImageProcessor semantics: shortest-edge resize, center crop,
    /// rescale, normalize).
    public let preprocessor: ImagePreprocessor

    /// Load a TimeSformer or VideoMAE model (folder or cached Hub id) and its processor settings:
    /// `preprocessor_config.json`, else `video_preprocessor_config.json` (transformers 5's video
    /// processors), else the family's defaults with a warning. Throws when the settings give frames
    /// of another size than the model takes. The model computes in `dtype` (see `DType.runnable`).
    public init(model spec: String, dtype: DType = .f32) throws {
        let load = try ModelLoad(spec, accepting: ModelFamily.videoFamilies, for: "video commands", dtype: dtype)
        model = load.folder
        backbone = try loadVideoModel(load.folder, weights: load.checkpoint)
        let family = load.family.rawValue
        preprocessor = try load.preprocessor({ try ImagePreprocessor(config: $0) },
                                             defaults: { ImagePreprocessor.defaults(for: family) }, describe: \.summary,
                                             files: ["preprocessor_config.json", "video_preprocessor_config.json"])
        let size = backbone.frameSize
        if let fixed = preprocessor.fixedOutputSize, fixed != size {
            throw MMAttnError("the preprocessing gives \(fixed.width)×\(fixed.height) frames but the model takes "
                              + "\(size.width)×\(size.height) (config.json's image_size): the two files do not belong together",
                              file: preprocessor.source ?? load.preprocessorPath)
        }
    }

    /// Frames per clip the model takes.
    public var numFrames: Int { backbone.numFrames }

    /// The frames of `source` the model sees (`FrameSampling`) and their pixel values, [F, 3, H, W]
    /// as transformers' processor gives them (without the batch axis). `seen` gets each frame as
    /// the model sees it (resized and cropped) with its position.
    public func pixelValues(_ source: FrameSource, seen: ((Int, RGBImage) -> Void)? = nil) throws -> (indices: [Int], pixels: Tensor) {
        let indices = try FrameSampling.indices(for: source, wanted: numFrames)
        let (H, W) = backbone.frameSize
        let pixels = Tensor(uninitialized: [indices.count, 3, H, W])  // [F, 3, H, W], every frame written
        var size: (width: Int, height: Int)?
        // Each frame is preprocessed as it is decoded, so a clip holds one full-size frame at a time.
        try source.forEachFrame(at: indices) { t, frame in
            if let size, size != (frame.width, frame.height) {
                throw MMAttnError("frame \(indices[t]) is \(frame.width)×\(frame.height) but others are \(size.width)×\(size.height); "
                                  + "all frames of a clip must have one size", file: source.name)
            }
            size = (frame.width, frame.height)
            let out = preprocessor.outputSize(height: frame.height, width: frame.width)
            guard out == (H, W) else {
                throw MMAttnError("frames of \(frame.width)×\(frame.height) preprocess to \(out.width)×\(out.height), but the model "
                                  + "takes \(W)×\(H); give larger frames or a preprocessor_config.json with a center crop", file: source.name)
            }
            let resized = try preprocessor.resized(frame)
            seen?(t, resized)
            preprocessor.normalize(resized, into: pixels.data + t * 3 * H * W)  // [3, H, W]
        }
        return (indices, pixels)
    }

    /// The last hidden state of a clip as the family's base model returns it, [T, D] (TimeSformer:
    /// [CLS], then patch-major, frame-minor; VideoMAE: tubelets in time, row, column order).
    public func lastHiddenState(_ source: FrameSource) throws -> Tensor {
        try attributing(to: source.name) {
            let hidden = try backbone.forward(try pixelValues(source).pixels, options: EncoderOptions()).lastHiddenState
            try hidden.checkFinite("hidden states", file: model.path)
            return hidden
        }
    }

    /// The embedding of a clip: `pooling` nil takes the family's default (TimeSformer `cls`;
    /// VideoMAE `mean`: the mean, then `fc_norm` where the checkpoint has one); `none` gives [T, D].
    public func embed(_ source: FrameSource, pooling: Pooling? = nil) throws -> Tensor {
        backbone.pool(try lastHiddenState(source), pooling ?? backbone.defaultPooling)
    }
}

/// Clips → labels of a TimeSformer or VideoMAE video classifier. Load once, classify many.
public final class VideoClassifier: Sendable {
    public let encoder: VideoEncoder

    /// Load a TimeSformer or VideoMAE classifier computing in `dtype`.
    public init(model spec: String, dtype: DType = .f32) throws {
        encoder = try VideoEncoder(model: spec, dtype: dtype)
        guard encoder.backbone.hasClassifier else {
            throw MMAttnError("the checkpoint has no classification head (classifier.weight): use embed-video", file: encoder.model.path)
        }
    }

    public var labels: [String] { encoder.backbone.labels }

    /// The `topK` most likely labels of a clip (softmax scores) and its logits.
    public func classify(_ source: FrameSource, topK: Int = 5) throws -> Classification {
        let hidden = try encoder.lastHiddenState(source)
        let logits = try encoder.backbone.logits(lastHiddenState: hidden)
        try logits.checkFinite("logits", file: encoder.model.path)
        return Classification(input: source.name, predictions: Scores.top(topK, logits: logits, labels: labels, scoring: .softmax),
                              logits: logits)
    }
}

