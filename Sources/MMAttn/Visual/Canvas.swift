import Foundation

/// An 8-bit sRGB colour.
public struct RGBColor: Sendable, Equatable {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    public static let white = RGBColor(255, 255, 255)
    public static let black = RGBColor(0, 0, 0)
}

/// The colours and sizes every picture shares.
enum Style {
    static let background = RGBColor.white
    static let text = RGBColor(34, 34, 34)
    static let secondaryText = RGBColor(100, 100, 100)
    static let axis = RGBColor(120, 120, 120)
    static let frame = RGBColor(200, 200, 200)
    /// Outer margin, in pixels.
    static let margin = 24
    /// Space between panels.
    static let gap = 24
    static let titleScale = 3
    static let textScale = 2
}

/// Horizontal placement of text relative to its anchor.
public enum TextAlignment: Sendable {
    case left, center, right
}

/// How a grid of values larger than the rectangle it is drawn into is reduced.
public enum Reduction: Sendable {
    /// The mean of the values each pixel covers.
    case mean
    /// The largest of them (keeps isolated peaks visible).
    case max
}

/// An RGB raster to draw pictures on, written out as PNG.
public struct Canvas: Sendable {
    /// Canvases with more pixels than this are refused.
    public static let maxPixels = 100_000_000

    public let width: Int
    public let height: Int
    /// Interleaved RGB samples, row-major: shape [height, width, 3].
    public private(set) var pixels: [UInt8]

    /// A canvas filled with `background`; refuses empty or absurdly large sizes.
    public init(width: Int, height: Int, background: RGBColor = .white) throws {
        guard width > 0, height > 0 else {
            throw MMAttnError("cannot draw a \(width)x\(height) picture: both sides must be positive")
        }
        guard width <= Canvas.maxPixels / height else {
            throw MMAttnError("a \(width)x\(height) picture is more than \(Canvas.maxPixels / 1_000_000) megapixels; draw fewer or smaller panels")
        }
        self.width = width
        self.height = height
        var p = [UInt8](repeating: 0, count: width * height * 3)
        p.withUnsafeMutableBufferPointer { buf in
            var i = 0
            while i < buf.count {
                buf[i] = background.r
                buf[i + 1] = background.g
                buf[i + 2] = background.b
                i += 3
            }
        }
        pixels = p
    }

    /// The picture as an RGB image.
    public var image: RGBImage { RGBImage(width: width, height: height, pixels: pixels) }

    /// The picture's PNG bytes.
    public func png() throws -> Data { try PNGEncoder.encode(image) }

    /// Write the picture as PNG, atomically.
    public func write(to path: String) throws { try PNGEncoder.write(image, to: path) }

    /// The colour at (x, y).
    public func color(x: Int, y: Int) -> RGBColor {
        let i = (y * width + x) * 3
        return RGBColor(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    // MARK: - Shapes

    /// The part of a rectangle inside the canvas, or nil.
    private func clip(_ x: Int, _ y: Int, _ w: Int, _ h: Int) -> (x0: Int, y0: Int, x1: Int, y1: Int)? {
        let x0 = max(x, 0), y0 = max(y, 0), x1 = min(x + w, width), y1 = min(y + h, height)
        return x0 < x1 && y0 < y1 ? (x0, y0, x1, y1) : nil
    }

    /// Fill a rectangle (clipped to the canvas).
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, color: RGBColor) {
        guard let c = clip(x, y, w, h) else { return }
        let stride = width
        pixels.withUnsafeMutableBufferPointer { p in
            for yy in c.y0..<c.y1 {
                var i = (yy * stride + c.x0) * 3
                for _ in c.x0..<c.x1 {
                    p[i] = color.r
                    p[i + 1] = color.g
                    p[i + 2] = color.b
                    i += 3
                }
            }
        }
    }

    /// The outline of a rectangle, `thickness` pixels inside its bounds.
    public mutating func stroke(x: Int, y: Int, width w: Int, height h: Int, color: RGBColor, thickness: Int = 1) {
        let t = max(1, min(thickness, w / 2, h / 2))
        fill(x: x, y: y, width: w, height: t, color: color)
        fill(x: x, y: y + h - t, width: w, height: t, color: color)
        fill(x: x, y: y + t, width: t, height: h - 2 * t, color: color)
        fill(x: x + w - t, y: y + t, width: t, height: h - 2 * t, color: color)
    }

    // MARK: - Images and heatmaps

    /// Draw `image` scaled to `width` × `height` at (x, y), with Pillow's `filter` (bilinear by
    /// default; nearest keeps pixels square).
    public mutating func draw(_ image: RGBImage, x: Int, y: Int, width w: Int, height h: Int, filter: ResampleFilter = .bilinear) {
        guard w > 0, h > 0, image.width > 0, image.height > 0 else { return }
        let scaled = image.resized(width: w, height: h, filter: filter)
        guard let c = clip(x, y, w, h) else { return }
        let stride = width
        pixels.withUnsafeMutableBufferPointer { p in
            scaled.pixels.withUnsafeBufferPointer { s in
                for yy in c.y0..<c.y1 {
                    let src = ((yy - y) * w + (c.x0 - x)) * 3
                    let dst = (yy * stride + c.x0) * 3
                    (p.baseAddress! + dst).update(from: s.baseAddress! + src, count: (c.x1 - c.x0) * 3)
                }
            }
        }
    }

    /// Draw `values` (shape [rows, cols], row 0 at the top) colour-mapped into the rectangle at
    /// (x, y): `range` maps to the colour map's ends. A grid larger than the rectangle is first
    /// reduced (`reduction` over the values each pixel covers); a smaller one is enlarged with
    /// square cells, or bilinearly when `smooth`. An `opacity` below 1 blends over what is there,
    /// from its lower bound at the low end of `range` to its upper bound at the high end.
    public mutating func heatmap(_ values: [Float], rows: Int, cols: Int, x: Int, y: Int, width w: Int, height h: Int,
                                 range: ClosedRange<Float>, colorMap: ColorMap = .heat, reduction: Reduction = .mean,
                                 smooth: Bool = false, opacity: ClosedRange<Float> = 1...1) {
        precondition(values.count == rows * cols, "Canvas.heatmap: \(values.count) values for \(rows)x\(cols)")
        guard rows > 0, cols > 0, w > 0, h > 0 else { return }
        var grid = values, gr = rows, gc = cols
        if rows > h || cols > w {
            gr = min(rows, h)
            gc = min(cols, w)
            grid = Heatmap.reduced(values, rows: rows, cols: cols, toRows: gr, toCols: gc, reduction)
        }
        // The colour-map index of every grid value, once.
        let lo = range.lowerBound, scale = 1 / (range.upperBound - range.lowerBound)
        let t = grid.map { v -> Float in v.isNaN ? .nan : (v - lo) * scale }
        let a0 = min(max(opacity.lowerBound, 0), 1), a1 = min(max(opacity.upperBound, 0), 1), opaque = a0 >= 1
        // Source coordinates of every output column and row.
        let xs = Heatmap.samples(w, over: gc, smooth: smooth)
        let ys = Heatmap.samples(h, over: gr, smooth: smooth)
        let stride = width
        pixels.withUnsafeMutableBufferPointer { p in
            t.withUnsafeBufferPointer { t in
                for j in 0..<h {
                    let yy = y + j
                    guard yy >= 0, yy < height else { continue }
                    let sy = ys[j]
                    let row0 = sy.index * gc, row1 = sy.next * gc
                    for i in 0..<w {
                        let xx = x + i
                        guard xx >= 0, xx < stride else { continue }
                        let sx = xs[i]
                        let v: Float
                        if smooth {
                            let top = t[row0 + sx.index] + (t[row0 + sx.next] - t[row0 + sx.index]) * sx.weight
                            let bottom = t[row1 + sx.index] + (t[row1 + sx.next] - t[row1 + sx.index]) * sx.weight
                            v = top + (bottom - top) * sy.weight
                        } else {
                            v = t[row0 + sx.index]
                        }
                        let c = colorMap.color(v)
                        let k = (yy * stride + xx) * 3
                        if opaque {
                            p[k] = c.r
                            p[k + 1] = c.g
                            p[k + 2] = c.b
                        } else {
                            let a = v.isNaN ? a0 : a0 + (a1 - a0) * min(max(v, 0), 1), keep = 1 - a
                            p[k] = UInt8(Float(p[k]) * keep + Float(c.r) * a + 0.5)
                            p[k + 1] = UInt8(Float(p[k + 1]) * keep + Float(c.g) * a + 0.5)
                            p[k + 2] = UInt8(Float(p[k + 2]) * keep + Float(c.b) * a + 0.5)
                        }
                    }
                }
            }
        }
    }

    // MARK: - Text

    /// Draw `text` with the bitmap font at integer `scale`. Horizontal text: `y` is the top of
    /// the line and `x` its left end, centre or right end by `align`. Vertical text (`vertical`,
    /// turned 90° anticlockwise, read from bottom to top): `x` is the left of the turned line
    /// (where the tops of the letters face) and `y` its start (bottom), centre or end (top).
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int = 2, color: RGBColor, align: TextAlignment = .left,
                              vertical: Bool = false) {
        let s = max(1, scale)
        let w = BitmapFont.width(of: text, scale: s)
        var pen: Int
        switch align {
        case .left: pen = 0
        case .center: pen = -w / 2
        case .right: pen = -w
        }
        BitmapFont.forEachGlyph(in: text) { glyph in
            if glyph.bits != 0 {
                for row in 0..<BitmapFont.cellHeight {
                    for col in 0..<5 where glyph.isSet(row: row, column: col) {
                        let along = pen + (col - glyph.left) * s
                        if vertical {
                            fill(x: x + row * s, y: y - along - s, width: s, height: s, color: color)
                        } else {
                            fill(x: x + along, y: y + row * s, width: s, height: s, color: color)
                        }
                    }
                }
            }
            pen += glyph.advance * s
        }
    }
}

/// Resampling of value grids for heatmaps.
enum Heatmap {
    /// Where an output position samples the grid: the cell, the next cell, and the weight of the
    /// next (0 for square cells).
    struct Sample {
        var index: Int
        var next: Int
        var weight: Float
    }

    /// The source positions of `n` output pixels over `count` cells: the cell under each pixel's
    /// centre, or with `smooth` the two cells around it (cell centres at half-integers, ends clamped).
    static func samples(_ n: Int, over count: Int, smooth: Bool) -> [Sample] {
        (0..<n).map { i in
            if !smooth { return Sample(index: min(i * count / n, count - 1), next: 0, weight: 0) }
            let pos = max((Float(i) + 0.5) * Float(count) / Float(n) - 0.5, 0)
            let k = min(Int(pos), count - 1)
            return Sample(index: k, next: min(k + 1, count - 1), weight: pos - Float(k))
        }
    }

    /// `values` ([rows, cols]) reduced to [toRows, toCols]: each output cell the mean or maximum
    /// of the block of cells it covers (block edges at i·rows/toRows). NaNs are skipped; a block
    /// of NaNs stays NaN. `toRows` ≤ `rows`, `toCols` ≤ `cols`.
    static func reduced(_ values: [Float], rows: Int, cols: Int, toRows: Int, toCols: Int, _ reduction: Reduction) -> [Float] {
        precondition(toRows <= rows && toCols <= cols && toRows > 0 && toCols > 0)
        // Columns first ([rows, toCols] of sums or maxima, with the counts of non-NaN values), then rows.
        let isMax = reduction == .max
        var partial = [Float](repeating: 0, count: rows * toCols)
        var counts = [Float](repeating: 0, count: rows * toCols)
        var out = [Float](repeating: 0, count: toRows * toCols)
        values.withUnsafeBufferPointer { v in
            partial.withUnsafeMutableBufferPointer { p in
                counts.withUnsafeMutableBufferPointer { n in
                    for r in 0..<rows {
                        for j in 0..<toCols {
                            let c0 = j * cols / toCols, c1 = max((j + 1) * cols / toCols, c0 + 1)
                            var acc: Float = isMax ? -.infinity : 0, count: Float = 0
                            for c in c0..<c1 {
                                let x = v[r * cols + c]
                                if x.isNaN { continue }
                                acc = isMax ? Swift.max(acc, x) : acc + x
                                count += 1
                            }
                            p[r * toCols + j] = acc
                            n[r * toCols + j] = count
                        }
                    }
                }
            }
        }
        partial.withUnsafeBufferPointer { p in
            counts.withUnsafeBufferPointer { n in
                out.withUnsafeMutableBufferPointer { o in
                    for i in 0..<toRows {
                        let r0 = i * rows / toRows, r1 = max((i + 1) * rows / toRows, r0 + 1)
                        for j in 0..<toCols {
                            var acc: Float = isMax ? -.infinity : 0, count: Float = 0
                            for r in r0..<r1 where n[r * toCols + j] > 0 {
                                let x = p[r * toCols + j]
                                acc = isMax ? Swift.max(acc, x) : acc + x
                                count += n[r * toCols + j]
                            }
                            o[i * toCols + j] = count == 0 ? .nan : (isMax ? acc : acc / count)
                        }
                    }
                }
            }
        }
        return out
    }
}
