import Foundation

/// The image preprocessing of transformers' PIL-backend image processors (ViT, DeiT, BEiT,
/// VideoMAE style), driven by a `preprocessor_config.json`: resize with Pillow, center crop
/// (zero padding where the crop is larger than the image), rescale, normalize, channels first.
/// Input images are RGB already (see `PNGImage`); transformers' optional compositing of alpha
/// onto white (`do_convert_rgb`) is not applied.
public struct ImagePreprocessor: Sendable {
    /// How `size` chooses the resized image's size.
    public enum Size: Sendable, Equatable {
        /// Exactly this size.
        case fixed(height: Int, width: Int)
        /// The shorter side becomes `shortestEdge`, the other keeps the aspect ratio (truncated),
        /// as transformers' `get_resize_output_image_size`.
        case shortestEdge(Int)
        /// As `shortestEdge`, but the longer side is capped at `longestEdge` (transformers'
        /// `get_size_with_aspect_ratio`).
        case shortestLongestEdge(shortest: Int, longest: Int)
    }

    public var doResize: Bool
    public var size: Size
    public var resample: ResampleFilter
    public var doCenterCrop: Bool
    /// (height, width) of the center crop.
    public var cropSize: (height: Int, width: Int)
    public var doRescale: Bool
    public var rescaleFactor: Double
    public var doNormalize: Bool
    /// Per-channel mean and standard deviation (R, G, B).
    public var imageMean: [Double]
    public var imageStd: [Double]
    /// Whether a plain integer `size` in a config means a square (ViT) or the shortest edge (VideoMAE).
    public var defaultToSquare: Bool
    /// Resized or cropped images with more pixels than this are refused (a config or an extreme
    /// aspect ratio could otherwise ask for gigabytes).
    public var maxOutputPixels = 16_777_216
    /// Where the settings came from (the preprocessor_config.json path, or `--image-size`), named in
    /// errors about the sizes they ask for; nil for built-in defaults.
    public var source: String?

    /// Largest side accepted in a config's `size` or `crop_size`.
    public static let maxSide = 16_384
    /// Largest side of an image that is resized: the resampling weights grow with the side
    /// (about 16 bytes per source pixel of it for bicubic), whatever the pixel count.
    public static let maxInputSide = 65_536

    public init(doResize: Bool, size: Size, resample: ResampleFilter, doCenterCrop: Bool,
                cropSize: (height: Int, width: Int), doRescale: Bool, rescaleFactor: Double,
                doNormalize: Bool, imageMean: [Double], imageStd: [Double], defaultToSquare: Bool) {
        self.doResize = doResize
        self.size = size
        self.resample = resample
        self.doCenterCrop = doCenterCrop
        self.cropSize = cropSize
        self.doRescale = doRescale
        self.rescaleFactor = rescaleFactor
        self.doNormalize = doNormalize
        self.imageMean = imageMean
        self.imageStd = imageStd
        self.defaultToSquare = defaultToSquare
    }

    // MARK: - Family defaults (transformers' class attributes)

    static let standardMean = [0.5, 0.5, 0.5], standardStd = [0.5, 0.5, 0.5]
    static let imagenetMean = [0.485, 0.456, 0.406], imagenetStd = [0.229, 0.224, 0.225]

    /// ViTImageProcessor: 224×224 bilinear, mean and std 0.5.
    public static let vit = ImagePreprocessor(
        doResize: true, size: .fixed(height: 224, width: 224), resample: .bilinear, doCenterCrop: false,
        cropSize: (224, 224), doRescale: true, rescaleFactor: 1.0 / 255, doNormalize: true,
        imageMean: standardMean, imageStd: standardStd, defaultToSquare: true)
    /// DeiTImageProcessor: 256×256 bicubic, center crop 224×224, mean and std 0.5.
    public static let deit = ImagePreprocessor(
        doResize: true, size: .fixed(height: 256, width: 256), resample: .bicubic, doCenterCrop: true,
        cropSize: (224, 224), doRescale: true, rescaleFactor: 1.0 / 255, doNormalize: true,
        imageMean: standardMean, imageStd: standardStd, defaultToSquare: true)
    /// BeitImageProcessor: 224×224 bicubic, no crop, mean and std 0.5.
    public static let beit = ImagePreprocessor(
        doResize: true, size: .fixed(height: 224, width: 224), resample: .bicubic, doCenterCrop: false,
        cropSize: (224, 224), doRescale: true, rescaleFactor: 1.0 / 255, doNormalize: true,
        imageMean: standardMean, imageStd: standardStd, defaultToSquare: true)
    /// VideoMAEImageProcessor (per frame): shortest edge 224 bilinear, center crop 224, mean and std 0.5.
    public static let videomae = ImagePreprocessor(
        doResize: true, size: .shortestEdge(224), resample: .bilinear, doCenterCrop: true,
        cropSize: (224, 224), doRescale: true, rescaleFactor: 1.0 / 255, doNormalize: true,
        imageMean: standardMean, imageStd: standardStd, defaultToSquare: false)
    /// TimesformerVideoProcessor (per frame): as VideoMAE with the ImageNet mean and std.
    public static let timesformer = ImagePreprocessor(
        doResize: true, size: .shortestEdge(224), resample: .bilinear, doCenterCrop: true,
        cropSize: (224, 224), doRescale: true, rescaleFactor: 1.0 / 255, doNormalize: true,
        imageMean: imagenetMean, imageStd: imagenetStd, defaultToSquare: false)

    /// The defaults of a model family (a config's `model_type`): vit, deit, beit, videomae,
    /// timesformer; any other family gets ViT's. For a model folder without a
    /// preprocessor_config.json (the caller should say so with `Diagnostics.warn`).
    public static func defaults(for family: String) -> ImagePreprocessor {
        switch family.lowercased() {
        case "deit": return deit
        case "beit": return beit
        case "videomae": return videomae
        case "timesformer": return timesformer
        default: return vit
        }
    }

    /// The family whose defaults transformers uses for a config: the class named by
    /// `image_processor_type` (or the older `feature_extractor_type`, or a video processor's
    /// `video_processor_type`), ViT when none says.
    static func family(of config: JSONFields) throws -> String {
        let name = (try config.string("image_processor_type", "feature_extractor_type", "video_processor_type") ?? "").lowercased()
        for family in ["deit", "beit", "videomae", "timesformer"] where name.hasPrefix(family) { return family }
        return "vit"
    }

    // MARK: - Reading a config

    /// The settings of `config` (a preprocessor_config.json) over `defaults`, by default those of
    /// the processor class the config names.
    public init(config: JSONFields, defaults: ImagePreprocessor? = nil) throws {
        self = try defaults ?? Self.defaults(for: Self.family(of: config))
        let file = config.file
        doResize = try config.bool("do_resize", default: doResize)
        defaultToSquare = try config.bool("default_to_square", default: defaultToSquare)
        if let json = config.object["size"], !json.isNull {
            size = try Self.parseSize(json, key: "size", square: defaultToSquare, file: file)
        }
        if config.has("resample") {
            let id = try config.int("resample", in: 0...5)
            resample = ResampleFilter(rawValue: id) ?? resample
        }
        doCenterCrop = try config.bool("do_center_crop", default: doCenterCrop)
        if let json = config.object["crop_size"], !json.isNull {
            guard case .fixed(let h, let w) = try Self.parseSize(json, key: "crop_size", square: true, file: file) else {
                throw MMAttnError("\"crop_size\" must give a height and a width", file: file)
            }
            cropSize = (h, w)
        }
        doRescale = try config.bool("do_rescale", default: doRescale)
        rescaleFactor = try config.double("rescale_factor", default: rescaleFactor)
        doNormalize = try config.bool("do_normalize", default: doNormalize)
        imageMean = try Self.channelValues(config, "image_mean") ?? imageMean
        imageStd = try Self.channelValues(config, "image_std") ?? imageStd
        if let i = imageStd.firstIndex(of: 0) {
            throw MMAttnError("\"image_std\" has 0 for channel \(i); normalization would divide by zero", file: file)
        }
        if case .fixed(let h, let w) = size, doResize, h * w > maxOutputPixels {
            throw MMAttnError("\"size\" asks for \(h)×\(w) pixels, more than the \(maxOutputPixels) accepted", file: file)
        }
        if doCenterCrop, cropSize.height * cropSize.width > maxOutputPixels {
            throw MMAttnError("\"crop_size\" asks for \(cropSize.height)×\(cropSize.width) pixels, more than the \(maxOutputPixels) accepted", file: file)
        }
        source = file
    }

    /// A `size` or `crop_size` value: an integer, [height, width], or an object with height and
    /// width, shortest_edge, or shortest_edge and longest_edge.
    static func parseSize(_ json: JSON, key: String, square: Bool, file: String) throws -> Size {
        func side(_ v: JSON, _ name: String) throws -> Int {
            guard let i = v.int else {
                throw MMAttnError("\"\(name)\" must be an integer, found \(v.kindName)", file: file)
            }
            guard (1...maxSide).contains(i) else {
                throw MMAttnError("\"\(name)\" is \(i); it must be between 1 and \(maxSide)", file: file)
            }
            return i
        }
        switch json {
        case .number:
            let n = try side(json, key)
            return square ? .fixed(height: n, width: n) : .shortestEdge(n)
        case .array(let a) where a.count == 2:
            return .fixed(height: try side(a[0], "\(key)[0]"), width: try side(a[1], "\(key)[1]"))
        case .object(let o):
            let keys = Set(o.keys)
            if keys == ["height", "width"], let h = o["height"], let w = o["width"] {
                return .fixed(height: try side(h, "\(key).height"), width: try side(w, "\(key).width"))
            }
            if keys == ["shortest_edge"], let s = o["shortest_edge"] { return .shortestEdge(try side(s, "\(key).shortest_edge")) }
            if keys == ["shortest_edge", "longest_edge"], let s = o["shortest_edge"], let l = o["longest_edge"] {
                return .shortestLongestEdge(shortest: try side(s, "\(key).shortest_edge"), longest: try side(l, "\(key).longest_edge"))
            }
            throw MMAttnError("\"\(key)\" has the keys \(o.keys); expected {height, width}, {shortest_edge} "
                              + "or {shortest_edge, longest_edge}", file: file)
        default:
            throw MMAttnError("\"\(key)\" must be an integer, [height, width] or an object, found \(json.kindName)", file: file)
        }
    }

    /// `image_mean` / `image_std`: three numbers (R, G, B), or one number for all channels.
    static func channelValues(_ config: JSONFields, _ key: String) throws -> [Double]? {
        guard let json = config.object[key], !json.isNull else { return nil }
        if case .number = json {
            return Array(repeating: try config.double(key, default: 0), count: 3)
        }
        return try config.doubles(key, count: 3)
    }

    /// A one-line description for messages.
    public var summary: String {
        var parts: [String] = []
        if doResize {
            switch size {
            case .fixed(let h, let w): parts.append("resize to \(h)×\(w) \(resample.name)")
            case .shortestEdge(let s): parts.append("resize shortest edge to \(s) \(resample.name)")
            case .shortestLongestEdge(let s, let l): parts.append("resize shortest edge to \(s) (longest \(l)) \(resample.name)")
            }
        }
        if doCenterCrop { parts.append("center crop \(cropSize.height)×\(cropSize.width)") }
        if doRescale { parts.append("rescale by \(rescaleFactor)") }
        if doNormalize { parts.append("normalize with mean \(imageMean) std \(imageStd)") }
        return parts.isEmpty ? "no preprocessing" : parts.joined(separator: ", ")
    }

    // MARK: - Running

    /// The same preprocessing resizing to exactly `height`×`width`, without a crop: `--image-size`,
    /// for running a model at another resolution with interpolated position embeddings.
    /// `resized` refuses sizes outside 1...`maxOutputPixels` pixels.
    public func resizing(toHeight height: Int, width: Int) -> ImagePreprocessor {
        var p = self
        p.doResize = true
        p.size = .fixed(height: height, width: width)
        p.doCenterCrop = false
        p.source = "--image-size \(height)x\(width)"
        return p
    }

    /// The output size when it does not depend on the input image (a fixed resize, or a crop), else nil.
    public var fixedOutputSize: (height: Int, width: Int)? {
        if doCenterCrop { return cropSize }
        if doResize, case .fixed(let h, let w) = size { return (h, w) }
        return nil
    }

    /// The size `resized` gives an image of `height`×`width`.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        var h = height, w = width
        if doResize { (h, w) = resizeTarget(height: height, width: width) }
        if doCenterCrop { (h, w) = cropSize }
        return (h, w)
    }

    /// transformers' target size for the resize step.
    func resizeTarget(height: Int, width: Int) -> (height: Int, width: Int) {
        switch size {
        case .fixed(let h, let w):
            return (h, w)
        case .shortestEdge(let s):
            // get_resize_output_image_size with default_to_square=False: int(s * long / short).
            let short = min(width, height), long = max(width, height)
            let newLong = Int(Double(s) * Double(long) / Double(short))
            return width <= height ? (newLong, s) : (s, newLong)
        case .shortestLongestEdge(let shortest, let longest):
            // get_size_with_aspect_ratio(image_size, shortest, longest).
            var size = shortest
            var raw: Double? = nil
            let minSide = Double(min(height, width)), maxSide = Double(max(height, width))
            if maxSide / minSide * Double(size) > Double(longest) {
                raw = Double(longest) * minSide / maxSide
                size = Int(raw!.rounded(.toNearestOrEven))
            }
            if (height <= width && height == size) || (width <= height && width == size) { return (height, width) }
            if width < height {
                return (raw.map { Int($0 * Double(height) / Double(width)) } ?? Int(Double(size) * Double(height) / Double(width)), size)
            }
            return (size, raw.map { Int($0 * Double(width) / Double(height)) } ?? Int(Double(size) * Double(width) / Double(height)))
        }
    }

    /// Resize (Pillow) and center crop, as uint8: the image the normalization step sees.
    public func resized(_ image: RGBImage) throws -> RGBImage {
        var out = image
        if doResize {
            guard image.width <= Self.maxInputSide && image.height <= Self.maxInputSide else {
                throw MMAttnError("the image is \(image.width)×\(image.height) pixels; images are resized up to "
                                  + "\(Self.maxInputSide) pixels a side: crop or downscale it first")
            }
            let (h, w) = resizeTarget(height: image.height, width: image.width)
            guard h >= 1, w >= 1, h * w <= maxOutputPixels else {
                throw MMAttnError("resizing a \(image.width)×\(image.height) image as \"size\" asks gives \(w)×\(h) pixels, "
                                  + "outside 1...\(maxOutputPixels) pixels", file: source ?? "preprocessor_config.json")
            }
            out = out.resized(width: w, height: h, filter: resample)
        }
        if doCenterCrop { out = out.centerCropped(height: cropSize.height, width: cropSize.width) }
        return out
    }

    /// `pixel_values` of one image: [3, H, W] float32, channels first.
    public func callAsFunction(_ image: RGBImage) throws -> Tensor {
        normalized(try resized(image))
    }

    /// Rescale and normalize a resized image: [3, H, W]. Each value is computed as transformers
    /// does (uint8 -> float64 * rescale_factor -> float32, then float32 (x - mean) / std), through a
    /// 256-entry table per channel.
    public func normalized(_ image: RGBImage) -> Tensor {
        let out = Tensor(uninitialized: [3, image.height, image.width])  // [3, H, W], every value written
        normalize(image, into: out.data)
        return out
    }

    /// `normalized` written to `out`, 3·H·W floats channels first (a frame of a clip's tensor).
    public func normalize(_ image: RGBImage, into out: UnsafeMutablePointer<Float>) {
        precondition(imageMean.count == 3 && imageStd.count == 3, "imageMean and imageStd need 3 values (R, G, B)")
        let plane = image.width * image.height
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            let mean = Float(imageMean[c]), std = Float(imageStd[c])
            for v in 0..<256 {
                var x = doRescale ? Float(Double(v) * rescaleFactor) : Float(v)
                if doNormalize { x = (x - mean) / std }
                table[c * 256 + v] = x
            }
        }
        image.pixels.withUnsafeBufferPointer { src in
            table.withUnsafeBufferPointer { t in
                let p = src.baseAddress!, t = t.baseAddress!
                let r = out, g = out + plane, b = out + 2 * plane
                for i in 0..<plane {
                    r[i] = t[Int(p[3 * i])]
                    g[i] = t[256 + Int(p[3 * i + 1])]
                    b[i] = t[512 + Int(p[3 * i + 2])]
                }
            }
        }
    }
}

extension RGBImage {
    /// transformers' `center_crop`: offsets floor((side - crop) / 2), zero padding where the crop
    /// reaches past the image.
    public func centerCropped(height cropHeight: Int, width cropWidth: Int) -> RGBImage {
        let top = (height - cropHeight) >> 1, left = (width - cropWidth) >> 1  // floor division
        if top == 0 && left == 0 && cropHeight == height && cropWidth == width { return self }
        return RGBImage(width: cropWidth, height: cropHeight) { out in
            out.update(repeating: 0, count: cropWidth * cropHeight * 3)
            let x0 = max(0, -left), x1 = min(cropWidth, width - left)
            guard x1 > x0 else { return }
            pixels.withUnsafeBufferPointer { src in
                for y in 0..<cropHeight {
                    let sy = y + top
                    guard sy >= 0 && sy < height else { continue }
                    (out + (y * cropWidth + x0) * 3).update(from: src.baseAddress! + (sy * width + left + x0) * 3,
                                                            count: (x1 - x0) * 3)
                }
            }
        }
    }
}
