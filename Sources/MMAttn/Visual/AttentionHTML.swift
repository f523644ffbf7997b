import CZlib
import Foundation

/// A rectangle of an attention view's picture, in pixels (origin top left).
public struct PictureRegion: Sendable, Equatable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }
}

/// One token of an attention view: its label and, optionally, the rectangle of the view's picture
/// that shows it (an image patch, a spectrogram frame, a video tubelet).
public struct AttentionViewToken: Sendable, Equatable {
    public var label: String
    public var region: PictureRegion?

    public init(label: String, region: PictureRegion? = nil) {
        self.label = label
        self.region = region
    }
}

/// What the tokens of an attention view are; the page names them accordingly.
public enum AttentionViewKind: String, Sendable, CaseIterable {
    case text, image, audio, protein, video, cross
}

/// Everything the HTML attention viewer shows.
public struct AttentionViewInput: Sendable {
    /// The heading of the page, e.g. the model and the input.
    public var title: String
    /// Attention probabilities, shape [L, H, Tq, Tk], rows summing to 1 (masked entries 0).
    public var probabilities: Tensor
    /// L layer names (the selection may be a subset of the model's layers).
    public var layerNames: [String]
    /// H head names.
    public var headNames: [String]
    /// Tq query tokens.
    public var queries: [AttentionViewToken]
    /// Tk key tokens (equal to `queries` for self-attention).
    public var keys: [AttentionViewToken]
    /// The picture token thumbnails are cut from (through the tokens' regions), if any.
    public var picture: RGBImage?
    public var kind: AttentionViewKind

    public init(title: String, probabilities: Tensor, layerNames: [String], headNames: [String],
                queries: [AttentionViewToken], keys: [AttentionViewToken], picture: RGBImage? = nil,
                kind: AttentionViewKind) {
        self.title = title
        self.probabilities = probabilities
        self.layerNames = layerNames
        self.headNames = headNames
        self.queries = queries
        self.keys = keys
        self.picture = picture
        self.kind = kind
    }
}

/// The standalone HTML attention viewer: one self-contained file (no network, no external scripts
/// or fonts) with a head view (query and key tokens joined by lines weighted by attention), a
/// heatmap of the selected heads and a model view (a thumbnail of every layer and head).
///
/// Data encoding. Every probability p becomes one byte:
/// - 0: p is exactly 0 (masked);
/// - 1: 0 < p < `floor`, where floor = max(min(2^-8, 4/Tk), 2^-30): the entry is drawn as its row's
///   fill, the mean of that row's entries in this class (stored exactly, as a float), so diffuse
///   rows keep their mass without storing jitter that no display can show;
/// - 2...: p ≥ floor on a float scale with three mantissa bits: the byte is
///   2 + (bits(p) >> 20) - (bits(2^E) >> 20), E = ⌊log2 floor⌋ (bits = the IEEE-754 single
///   pattern), so each octave has 8 bins; the page draws the centre of the bin (at most 1), which
///   is within p/16 of p.
/// The bytes of a layer, [H, Tq, Tk] row-major, follow that layer's fills ([H, Tq] little-endian
/// float32) in one zlib (deflate) stream, base64 in a `<script type="application/octet-stream">`
/// element; the page inflates a layer only when it is shown (`DecompressionStream("deflate")`).
/// The model view reads a separate small stream: per layer and head, the mean attention over a
/// grid of at most 64 × 64 (query bins × key bins), as round(255·sqrt(mean / max)) with the max
/// of each thumbnail in the page's metadata. Labels and names travel as JSON with `<`, `>`, `&`
/// and control characters escaped, so no token can end a script element; the picture is one PNG.
public enum AttentionHTML {
    /// Thumbnails of the model view have at most this many rows and columns.
    static let thumbnailSide = 64
    /// The zlib compression level of the data: 5 is within 5% of level 6's size on attention codes
    /// in half its time.
    static let compressionLevel: Int32 = 5
    /// Pages hold at most this many weights (about 100 MB of page, more than a browser tab
    /// handles comfortably).
    public static let maxWeights = 1_000_000_000

    /// The HTML document for `input`.
    public static func document(_ input: AttentionViewInput) throws -> Data {
        let shape = try validate(input)
        let (layerCount, headCount, tq, tk) = (shape[0], shape[1], shape[2], shape[3])
        guard layerCount * headCount * tq * tk <= maxWeights else {
            throw MMAttnError("a page of \(layerCount) layers × \(headCount) heads of \(tq) × \(tk) weights would be too large for a browser "
                              + "(at most \(maxWeights / 1_000_000) million weights); select fewer layers or heads with --layer and --head")
        }
        let floor = floorValue(keys: tk)
        let (layers, thumbnails, maxima) = try encode(input.probabilities, floor: floor)

        var meta = "{\"format\":1,\"title\":" + jsonString(input.title)
        meta += ",\"kind\":" + jsonString(input.kind.rawValue)
        meta += ",\"layers\":" + jsonArray(input.layerNames.map(jsonString))
        meta += ",\"heads\":" + jsonArray(input.headNames.map(jsonString))
        meta += ",\"queries\":" + jsonArray(input.queries.map { jsonString($0.label) })
        meta += ",\"queryRegions\":" + regionsJSON(input.queries)
        let selfAttention = input.keys == input.queries
        meta += ",\"keys\":" + (selfAttention ? "null" : jsonArray(input.keys.map { jsonString($0.label) }))
        meta += ",\"keyRegions\":" + (selfAttention ? "null" : regionsJSON(input.keys))
        meta += ",\"shape\":[\(layerCount),\(headCount),\(tq),\(tk)]"
        meta += ",\"floor\":\(floor),\"levelExponent\":\(levelExponent(floor))"
        meta += ",\"thumbnail\":{\"rows\":\(min(tq, thumbnailSide)),\"cols\":\(min(tk, thumbnailSide)),\"max\":"
        meta += jsonArray(maxima.map { "\($0)" }) + "}}"

        var out = Data()
        out.reserveCapacity(layers.reduce(0) { $0 + $1.count } + thumbnails.count + 200_000)
        func put(_ s: String) { out.append(contentsOf: Array(s.utf8)) }
        func chunk(_ id: String, _ data: Data) {
            put("<script type=\"application/octet-stream\" id=\"\(id)\">")
            out.append(data)
            put("</script>\n")
        }
        let title = htmlText(input.title)
        put("""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="generator" content="mmattn">
            <title>\(title) · attention</title>
            <style>\(AttentionViewerPage.css)</style>
            </head>
            <body class="busy">
            <h1 id="title">\(title)</h1>
            \(AttentionViewerPage.body)
            <script type="application/json" id="mmattn-meta">\(meta)</script>

            """)
        chunk("mmattn-thumbnails", thumbnails)
        if let picture = input.picture {
            chunk("mmattn-picture", try PNGEncoder.encode(picture).base64EncodedData())
        }
        // Layer 0 comes before the script so the first view is drawn while the rest is parsed.
        chunk("mmattn-layer-0", layers[0])
        put("<script>\(AttentionViewerPage.script)</script>\n")
        for (l, data) in layers.enumerated().dropFirst() { chunk("mmattn-layer-\(l)", data) }
        put("</body>\n</html>\n")
        return out
    }

    // MARK: - Validation

    /// The shape [L, H, Tq, Tk], once every count, name, token and region agrees with it.
    static func validate(_ input: AttentionViewInput) throws -> [Int] {
        let shape = input.probabilities.shape
        guard shape.count == 4, shape.allSatisfy({ $0 > 0 }) else {
            throw MMAttnError("attention view: probabilities must have shape [layers, heads, queries, keys], got \(shape)")
        }
        let checks: [(Int, Int, String)] = [(input.layerNames.count, shape[0], "layer names"),
                                            (input.headNames.count, shape[1], "head names"),
                                            (input.queries.count, shape[2], "query tokens"),
                                            (input.keys.count, shape[3], "key tokens")]
        for (count, expected, what) in checks where count != expected {
            throw MMAttnError("attention view: \(count) \(what) for probabilities of shape \(shape)")
        }
        guard shape[2] * shape[3] <= Int(Int32.max) / shape[1] else {
            throw MMAttnError("attention view: a layer of \(shape[1]) heads × \(shape[2]) × \(shape[3]) is too large for one page")
        }
        for token in input.queries + input.keys {
            guard let r = token.region else { continue }
            guard let picture = input.picture else {
                throw MMAttnError("attention view: token \(token.label.debugDescription) has a picture region but there is no picture")
            }
            guard r.width > 0, r.height > 0, r.x >= 0, r.y >= 0,
                  r.x + r.width <= picture.width, r.y + r.height <= picture.height else {
                throw MMAttnError("attention view: region \(r) of token \(token.label.debugDescription) is outside the \(picture.width)x\(picture.height) picture")
            }
        }
        return shape
    }

    // MARK: - Quantisation

    /// The smallest probability stored on its own (see the type's documentation).
    static func floorValue(keys: Int) -> Float {
        max(min(1 / 256, 4 / Float(keys)), 0x1p-30)
    }

    /// E = ⌊log2 floor⌋, the octave the level codes start at.
    static func levelExponent(_ floor: Float) -> Int { Int(floor.exponent) }

    /// The code of a probability of 1, the largest level code.
    static func topCode(_ floor: Float) -> UInt32 {
        2 + (Float(1).bitPattern >> 20) - (Float(sign: .plus, exponent: floor.exponent, significand: 1).bitPattern >> 20)
    }

    /// The layers' base64 zlib streams, the base64 thumbnail stream and the thumbnails' maxima
    /// ([L, H]) of `probabilities` ([L, H, Tq, Tk]).
    static func encode(_ probabilities: Tensor, floor: Float) throws -> (layers: [Data], thumbnails: Data, maxima: [Float]) {
        let shape = probabilities.shape
        let (layerCount, headCount, tq, tk) = (shape[0], shape[1], shape[2], shape[3])
        let (sq, sk) = (min(tq, thumbnailSide), min(tk, thumbnailSide))
        // Key j falls in thumbnail column keyBin[j]; each bin's element count for the mean.
        let keyBin = (0..<tk).map { Int32($0 * sk / tk) }
        var rowsPerBin = [Float](repeating: 0, count: sq), colsPerBin = [Float](repeating: 0, count: sk)
        for i in 0..<tq { rowsPerBin[i * sq / tq] += 1 }
        for j in 0..<tk { colsPerBin[j * sk / tk] += 1 }
        let binCount = (0..<(sq * sk)).map { rowsPerBin[$0 / sk] * colsPerBin[$0 % sk] }

        let layers = UnsafeMutablePointer<Data?>.allocate(capacity: layerCount)
        layers.initialize(repeating: nil, count: layerCount)
        defer { layers.deinitialize(count: layerCount); layers.deallocate() }
        let failures = UnsafeMutablePointer<String?>.allocate(capacity: layerCount)
        failures.initialize(repeating: nil, count: layerCount)
        defer { failures.deinitialize(count: layerCount); failures.deallocate() }
        // [L, H, sq, sk] thumbnail bytes and [L, H] maxima, each written by its layer's worker.
        let thumbBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: layerCount * headCount * sq * sk)
        defer { thumbBytes.deallocate() }
        let maxima = UnsafeMutablePointer<Float>.allocate(capacity: layerCount * headCount)
        defer { maxima.deallocate() }

        let source = probabilities.pointer
        let fillBytes = headCount * tq * 4
        let rawCount = fillBytes + headCount * tq * tk
        let base = Float(sign: .plus, exponent: floor.exponent, significand: 1).bitPattern >> 20
        let top = topCode(floor)
        keyBin.withUnsafeBufferPointer { keyBin in
            binCount.withUnsafeBufferPointer { binCount in
                Threads.parallelFor(layerCount) { start, end in
                    // One layer's raw stream ([H, Tq] fills, then [H, Tq, Tk] codes) and one head's
                    // thumbnail sums ([sq, sk]) at a time per worker.
                    let raw = UnsafeMutablePointer<UInt8>.allocate(capacity: rawCount)
                    defer { raw.deallocate() }
                    let sums = UnsafeMutablePointer<Float>.allocate(capacity: sq * sk)
                    defer { sums.deallocate() }
                    for l in start..<end {
                        var bad = false
                        for h in 0..<headCount {
                            sums.initialize(repeating: 0, count: sq * sk)
                            for i in 0..<tq {
                                let row = source + ((l * headCount + h) * tq + i) * tk
                                let codes = raw + fillBytes + (h * tq + i) * tk
                                let sumRow = sums + (i * sq / tq) * sk
                                var fillSum: Float = 0, fillCount = 0
                                for j in 0..<tk {
                                    let p = row[j]
                                    if p >= floor {
                                        bad = bad || p > 1.001
                                        codes[j] = UInt8(truncatingIfNeeded: min(2 + (p.bitPattern >> 20) &- base, top))
                                    } else if p > 0 {
                                        codes[j] = 1
                                        fillSum += p
                                        fillCount += 1
                                    } else {
                                        bad = bad || p != 0
                                        codes[j] = 0
                                    }
                                    sumRow[Int(keyBin[j])] += p
                                }
                                let fill = fillCount > 0 ? fillSum / Float(fillCount) : 0
                                withUnsafeBytes(of: fill.bitPattern.littleEndian) { bytes in
                                    for b in 0..<4 { raw[(h * tq + i) * 4 + b] = bytes[b] }
                                }
                            }
                            if bad { break }
                            var largest: Float = 0
                            for b in 0..<(sq * sk) {
                                sums[b] /= binCount[b]
                                largest = max(largest, sums[b])
                            }
                            maxima[l * headCount + h] = largest
                            let thumb = thumbBytes + (l * headCount + h) * sq * sk
                            let scale = largest > 0 ? 1 / largest : 0
                            for b in 0..<(sq * sk) { thumb[b] = UInt8((255 * (sums[b] * scale).squareRoot()).rounded()) }
                        }
                        if bad {
                            failures[l] = "attention view: layer \(l) holds values that are not probabilities (negative, above 1 or NaN)"
                            continue
                        }
                        do {
                            layers[l] = try deflate(UnsafeRawBufferPointer(start: raw, count: rawCount)).base64EncodedData()
                        } catch {
                            failures[l] = "\(error)"
                        }
                    }
                }
            }
        }
        if let failure = (0..<layerCount).lazy.compactMap({ failures[$0] }).first { throw MMAttnError(failure) }
        let thumbnails = try deflate(UnsafeRawBufferPointer(start: thumbBytes, count: layerCount * headCount * sq * sk))
        return ((0..<layerCount).map { layers[$0]! }, thumbnails.base64EncodedData(),
                Array(UnsafeBufferPointer(start: maxima, count: layerCount * headCount)))
    }

    /// `bytes` as one zlib stream (what `DecompressionStream("deflate")` reads).
    static func deflate(_ bytes: UnsafeRawBufferPointer) throws -> Data {
        var size = compressBound(uLong(bytes.count))
        var out = Data(count: Int(size))
        let status = out.withUnsafeMutableBytes { dst in
            compress2(dst.baseAddress!.assumingMemoryBound(to: Bytef.self), &size,
                      bytes.baseAddress!.assumingMemoryBound(to: Bytef.self), uLong(bytes.count), compressionLevel)
        }
        guard status == Z_OK else { throw MMAttnError("attention view: zlib could not compress \(bytes.count) bytes (status \(status))") }
        out.count = Int(size)
        return out
    }

    // MARK: - Escaping

    /// `s` as a JSON string literal that is also safe inside an HTML `<script>` element: what
    /// `JSON.quote` escapes, and `<`, `>`, `&`, DEL, U+2028 and U+2029.
    static func jsonString(_ s: String) -> String {
        var out = ""
        for scalar in JSON.quote(s).unicodeScalars {
            switch scalar {
            case "<", ">", "&", "\u{2028}", "\u{2029}", "\u{7F}": out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func jsonArray(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

    /// The tokens' regions as a flat JSON array [x, y, width, height, ...] (-1s for a token
    /// without one), or null when no token has one.
    static func regionsJSON(_ tokens: [AttentionViewToken]) -> String {
        guard tokens.contains(where: { $0.region != nil }) else { return "null" }
        return jsonArray(tokens.map { t in
            guard let r = t.region else { return "-1,-1,-1,-1" }
            return "\(r.x),\(r.y),\(r.width),\(r.height)"
        })
    }

    /// `s` escaped for HTML text and attribute values.
    static func htmlText(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters other than tab and newline are not allowed in HTML text.
                if scalar.value < 0x20 && scalar != "\t" && scalar != "\n" || scalar.value == 0x7F {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
