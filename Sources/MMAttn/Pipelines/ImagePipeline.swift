import Foundation

/// PNG files → ViT/DeiT hidden states and embeddings. Load once, embed many.
public final class ImageEncoder: Sendable {
    public let model: ModelFolder
    public let vit: ViT
    public let preprocessor: ImagePreprocessor
    /// Warns once when images reach the model at another size than it was trained at.
    private let sizeWarning: WarnOnce

    /// Load a ViT or DeiT model (folder or cached Hub id). `imageSize` resizes inputs to another
    /// height × width than the checkpoint's; position embeddings are then interpolated. Throws,
    /// before any image is read, when the processor's output size cannot fit in memory. The model
    /// computes in `dtype` (bf16 where the CPU runs it: `DType.runnable`).
    public init(model spec: String, imageSize: (height: Int, width: Int)? = nil, dtype: DType = .f32) throws {
        let load = try ModelLoad(spec, accepting: [.vit, .deit], for: "image commands", dtype: dtype)
        model = load.folder
        vit = try ViT(config: load.folder.config, weights: load.checkpoint)
        var pre = try load.preprocessor({ try ImagePreprocessor(config: $0) },
                                        defaults: { ImagePreprocessor.defaults(for: load.family.rawValue) },
                                        describe: \.summary)
        if let imageSize { pre = pre.resizing(toHeight: imageSize.height, width: imageSize.width) }
        preprocessor = pre
        let trained = vit.config.imageSize
        sizeWarning = WarnOnce("\(load.folder.path): preprocessing gives images of another size than the model's "
                               + "\(trained.height)×\(trained.width); position embeddings are interpolated")
        if let fixed = pre.fixedOutputSize {
            try checkFits(height: fixed.height, width: fixed.width)
            if imageSize != nil || (fixed.height == trained.height && fixed.width == trained.width) { sizeWarning.silence() }
        }
    }

    /// Refuse an image size whose attention cannot fit in memory; the error names where the size
    /// came from (preprocessor_config.json or --image-size) and the largest square size that fits.
    func checkFits(height: Int, width: Int) throws {
        do {
            try vit.checkFits(height: height, width: width, what: "\(width)×\(height) pixels")
        } catch let error as MMAttnError {
            let P = vit.config.patchSize
            var side = P
            while (try? vit.checkFits(height: side + P, width: side + P, what: "")) != nil { side += P }
            throw MMAttnError(error.message + "; use a smaller size (at most \(side)×\(side) fits)",
                              file: preprocessor.source ?? model.path)
        }
    }

    /// The normalised pixel tensor of a PNG file, [3, H, W].
    public func pixels(path: String) throws -> Tensor {
        try preprocessor(try PNGImage.decode(path: path))
    }

    /// Images per forward pass of the multi-image calls: one packed batch, so GEMMs see all
    /// their rows at once (8 ViT-B/16 images: 1,576 rows, about 50 MB of activations).
    public static let batchSize = 8

    /// The normalised pixels of an image at the size the model will see, [3, H, W].
    func prepared(_ image: RGBImage) throws -> Tensor {
        try preparedWithImage(image).pixels
    }

    /// `prepared`, and the resized, cropped image the pixels were normalised from.
    func preparedWithImage(_ image: RGBImage) throws -> (pixels: Tensor, seen: RGBImage) {
        let (h, w) = preprocessor.outputSize(height: image.height, width: image.width)
        if preprocessor.fixedOutputSize == nil { try checkFits(height: h, width: w) }
        let trained = vit.config.imageSize
        if h != trained.height || w != trained.width { sizeWarning.fire() }
        let seen = try preprocessor.resized(image)
        return (preprocessor.normalized(seen), seen)  // [3, H, W]
    }

    /// The last hidden state (after the final layer norm) of an image, [T, D].
    public func lastHiddenState(image: RGBImage) throws -> Tensor {
        let hidden = try vit.forward(try prepared(image)).lastHiddenState
        try hidden.checkFinite("hidden states", file: model.path)
        return hidden
    }

    /// The last hidden state's shape, [T, D], for a processor that resizes every image to one
    /// size; [0, D] when the size depends on the image.
    public var tokenShape: [Int] {
        guard let size = preprocessor.fixedOutputSize else { return [0, vit.hiddenSize] }
        return [vit.tokenCount(height: size.height, width: size.width), vit.hiddenSize]
    }

    /// Throws, naming two images, when their outputs under `pooling` would differ in shape
    /// (`.none` with a processor that keeps aspect ratios); reads only the PNG headers.
    public func checkSameShapes(paths: [String], pooling: Pooling) throws {
        guard pooling == .none && preprocessor.fixedOutputSize == nil && paths.count > 1 else { return }
        try Embeddings.checkSameShapes(try paths.map { path in
            let size = try PNGImage.size(path: path)
            let (h, w) = preprocessor.outputSize(height: size.height, width: size.width)
            return (path, [vit.tokenCount(height: h, width: w), vit.hiddenSize])
        })
    }

    /// Call `body` with each PNG file's last hidden state, [T, D], in order, `batchSize` images
    /// per packed forward pass (only one batch's states are alive at a time); errors name the file.
    public func forEachLastHiddenState(paths: [String], _ body: (String, Tensor) throws -> Void) throws {
        for start in stride(from: 0, to: paths.count, by: Self.batchSize) {
            let group = Array(paths[start..<min(start + Self.batchSize, paths.count)])
            let embedded = try group.map { path in
                try attributing(to: path) { try vit.embed(try prepared(try PNGImage.decode(path: path))) }
            }
            for (path, hidden) in zip(group, try vit.forward(embedded: embedded)) {
                try attributing(to: path) {
                    try hidden.checkFinite("hidden states", file: model.path)
                    try body(path, hidden)
                }
            }
        }
    }

    /// The normalised pixels of a decoded image at the size the model sees, [3, H, W].
    public func pixels(image: RGBImage) throws -> Tensor {
        try prepared(image)
    }

    /// The last hidden states of images' pixels (from `pixels(image:)`), [T, D] each, in one
    /// packed forward pass: the numbers `forEachLastHiddenState` gives for the same images.
    public func lastHiddenStates(pixels: [Tensor]) throws -> [Tensor] {
        let hidden = try vit.forward(embedded: try pixels.map { try vit.embed($0) })
        for h in hidden { try h.checkFinite("hidden states", file: model.path) }
        return hidden
    }

    /// The embedding of an image: `cls` [D], `mean` [D] or `none` [T, D].
    public func embed(image: RGBImage, pooling: Pooling = .cls) throws -> Tensor {
        pooling.apply(try lastHiddenState(image: image))
    }

    public func embed(path: String, pooling: Pooling = .cls) throws -> Tensor {
        try attributing(to: path) { try embed(image: try PNGImage.decode(path: path), pooling: pooling) }
    }

    /// The embeddings of several PNG files, in order. With `pooling` `.none` the outputs' shapes
    /// follow the images' sizes when the processor keeps aspect ratios; unless `allowMixedShapes`,
    /// differing shapes are an error found from the image headers before any image is embedded.
    public func embed(paths: [String], pooling: Pooling = .cls, allowMixedShapes: Bool = false) throws -> Embeddings {
        if !allowMixedShapes { try checkSameShapes(paths: paths, pooling: pooling) }
        var out = Embeddings(name: pooling == .none ? "last_hidden_state" : "embedding")
        try forEachLastHiddenState(paths: paths) { path, hidden in out.append(pooling.apply(hidden), input: path) }
        return out
    }
}

/// PNG files → labels of a ViT/DeiT image classifier. Load once, classify many.
public final class ImageClassifier: Sendable {
    public let encoder: ImageEncoder

    /// Load a ViT or DeiT classifier; `imageSize` and `dtype` as for `ImageEncoder`.
    public init(model spec: String, imageSize: (height: Int, width: Int)? = nil, dtype: DType = .f32) throws {
        encoder = try ImageEncoder(model: spec, imageSize: imageSize, dtype: dtype)
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
        Scores.top(topK, logits: try logits(image: image), labels: labels, scoring: .softmax)
    }

    /// The `topK` most likely labels of a PNG file, and its logits.
    public func classify(path: String, topK: Int = 5) throws -> Classification {
        let l = try attributing(to: path) { try logits(image: try PNGImage.decode(path: path)) }
        return Classification(input: path, predictions: Scores.top(topK, logits: l, labels: labels, scoring: .softmax), logits: l)
    }

    /// Classify several PNG files, in order, in packed batches.
    public func classify(paths: [String], topK: Int = 5) throws -> [Classification] {
        var out: [Classification] = []
        try encoder.forEachLastHiddenState(paths: paths) { path, hidden in
            let l = try encoder.vit.logits(lastHiddenState: hidden)
            try l.checkFinite("logits", file: encoder.model.path)
            out.append(Classification(input: path, predictions: Scores.top(topK, logits: l, labels: labels, scoring: .softmax), logits: l))
        }
        return out
    }
}

/// Run `body`; an error that names no file is attributed to `path` (the input being processed).
func attributing<T>(to path: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as MMAttnError { throw error.inFile(path) }
}
