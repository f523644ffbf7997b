import Foundation

/// PNG files → ViT/DeiT hidden states and embeddings. Load once, embed many.
public final class ImageEncoder: @unchecked Sendable {
    public let model: ModelFolder
    public let vit: ViT
    public let preprocessor: ImagePreprocessor
    /// True when the caller asked for another image size (`--image-size`), so interpolation is expected.
    let interpolationExpected: Bool
    private var warnedSize = false

    /// Load a ViT or DeiT model (folder or cached Hub id). `imageSize` resizes inputs to another
    /// height × width than the checkpoint's; position embeddings are then interpolated.
    public init(model spec: String, imageSize: (height: Int, width: Int)? = nil) throws {
        model = try ModelFolder(spec)
        guard model.family == .vit || model.family == .deit else {
            throw MMAttnError("this is a \(model.family.rawValue) model; image commands need a ViT or DeiT checkpoint", file: model.path)
        }
        vit = try ViT(config: model.config, weights: try model.checkpoint())
        var pre: ImagePreprocessor
        if let json = try model.optionalJSON("preprocessor_config.json") {
            pre = try ImagePreprocessor(config: json)
        } else {
            pre = ImagePreprocessor.defaults(for: model.family == .deit ? "deit" : "vit")
            Diagnostics.warn("\(model.file("preprocessor_config.json")): not found; using the \(model.family.rawValue) defaults (\(pre.summary))")
        }
        if let imageSize {
            pre = pre.resizing(toHeight: imageSize.height, width: imageSize.width)
        }
        preprocessor = pre
        interpolationExpected = imageSize != nil
    }

    /// The normalised pixel tensor of a PNG file, [3, H, W].
    public func pixels(path: String) throws -> Tensor {
        try preprocessor(try PNGImage.decode(path: path))
    }

    /// The last hidden state (after the final layer norm) of an image, [T, D].
    public func lastHiddenState(image: RGBImage) throws -> Tensor {
        let pixels = try preprocessor(image)  // [3, H, W]
        let trained = vit.config.imageSize
        if !interpolationExpected && (pixels.shape[1] != trained.height || pixels.shape[2] != trained.width) && !warnedSize {
            warnedSize = true
            Diagnostics.warn("\(model.path): preprocessing gives \(pixels.shape[1])×\(pixels.shape[2]) images but the model was trained at \(trained.height)×\(trained.width); position embeddings are interpolated")
        }
        let hidden = try vit.forward(pixels).lastHiddenState
        try hidden.checkFinite("hidden states", file: model.path)
        return hidden
    }

    /// The embedding of an image: `cls` [D], `mean` [D] or `none` [T, D].
    public func embed(image: RGBImage, pooling: Pooling = .cls) throws -> Tensor {
        Self.pool(try lastHiddenState(image: image), pooling)
    }

    public func embed(path: String, pooling: Pooling = .cls) throws -> Tensor {
        try embed(image: try PNGImage.decode(path: path), pooling: pooling)
    }

    /// Reduce a last hidden state [T, D] as `pooling` says.
    static func pool(_ hidden: Tensor, _ pooling: Pooling) -> Tensor {
        let T = hidden.shape[0], D = hidden.shape[1]
        switch pooling {
        case .none: return hidden
        case .cls: return hidden.rows(0..<1).reshaped([D])
        case .mean:
            let out = Tensor(zeros: [D])
            for t in 0..<T { Kernels.add(hidden.data + t * D, into: out.data, count: D) }
            for d in 0..<D { out.data[d] /= Float(T) }
            return out
        }
    }
}

/// PNG files → labels of a ViT/DeiT image classifier. Load once, classify many.
public final class ImageClassifier: @unchecked Sendable {
    public let encoder: ImageEncoder

    public init(model spec: String, imageSize: (height: Int, width: Int)? = nil) throws {
        encoder = try ImageEncoder(model: spec, imageSize: imageSize)
        guard encoder.vit.hasClassifier else {
            throw MMAttnError("the checkpoint has no classification head (classifier.weight): use embed-image", file: encoder.model.path)
        }
    }

    public var labels: [String] { encoder.vit.labels }

    /// Classifier logits of an image, [L].
    public func logits(image: RGBImage) throws -> Tensor {
        let logits = try encoder.vit.logits(lastHiddenState: try encoder.lastHiddenState(image: image))
        try logits.checkFinite("logits", file: encoder.model.path)
        return logits
    }

    /// The `topK` most likely labels of an image, softmax scores.
    public func classify(image: RGBImage, topK: Int = 5) throws -> [Prediction] {
        Scores.top(topK, logits: try logits(image: image), labels: labels, multiLabel: false)
    }

    public func classify(path: String, topK: Int = 5) throws -> [Prediction] {
        try classify(image: try PNGImage.decode(path: path), topK: topK)
    }
}
