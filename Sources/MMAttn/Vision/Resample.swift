import Foundation

/// Pillow's resampling filters, with their PIL ids (the `resample` values of preprocessor configs).
public enum ResampleFilter: Int, Sendable, CaseIterable {
    case nearest = 0, lanczos = 1, bilinear = 2, bicubic = 3, box = 4, hamming = 5

    /// Pillow's name for the filter.
    public var name: String {
        switch self {
        case .nearest: return "nearest"
        case .lanczos: return "lanczos"
        case .bilinear: return "bilinear"
        case .bicubic: return "bicubic"
        case .box: return "box"
        case .hamming: return "hamming"
        }
    }

    /// Half-width of the filter in source pixels at scale 1.
    var support: Double {
        switch self {
        case .nearest, .box: return 0.5
        case .bilinear, .hamming: return 1
        case .bicubic: return 2
        case .lanczos: return 3
        }
    }

    /// The filter's weight at distance `x`, computed in the same order of operations as Pillow's
    /// Resample.c so that the doubles, and so the fixed-point coefficients, agree to the bit.
    func weight(_ x: Double) -> Double {
        switch self {
        case .nearest, .box:
            return x > -0.5 && x <= 0.5 ? 1 : 0
        case .bilinear:
            let a = abs(x)
            return a < 1 ? 1 - a : 0
        case .hamming:
            let a = abs(x)
            if a == 0 { return 1 }
            if a >= 1 { return 0 }
            let t = a * Double.pi
            // Pillow writes these constants as C floats.
            return sin(t) / t * (Double(Float(0.54)) + Double(Float(0.46)) * cos(t))
        case .bicubic:
            let a = abs(x), k = -0.5
            if a < 1 { return ((k + 2) * a - (k + 3)) * a * a + 1 }
            if a < 2 { return (((a - 5) * a + 8) * a - 4) * k }
            return 0
        case .lanczos:
            guard -3 <= x && x < 3 else { return 0 }
            return Self.sinc(x) * Self.sinc(x / 3)
        }
    }

    private static func sinc(_ x: Double) -> Double {
        if x == 0 { return 1 }
        let t = x * Double.pi
        return sin(t) / t
    }
}

/// Fixed-point precision of Pillow's 8-bit resampling: 32 bits less 8 for the result and 2 for
/// overshoot of filters with negative lobes.
private let precisionBits: Int32 = 22

/// The weights of one resampling pass (one axis): for each output position, the first source
/// index, the number of source samples, and that many fixed-point weights (`taps` slots each).
struct ResampleKernel {
    let taps: Int
    let first: [Int]
    let count: [Int]
    /// [outSize, taps], scaled by 2^22 and rounded away from zero as Pillow does.
    let weights: [Int32]

    init(inSize: Int, outSize: Int, filter: ResampleFilter) {
        // Pillow passes the source box as C floats: an image side above 2^24 is rounded here too.
        let scale = Double(Float(inSize)) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        let inverse = 1 / filterScale
        var first = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Int32](repeating: 0, count: outSize * taps)
        var k = [Double](repeating: 0, count: taps)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0)
            // At most `taps` samples by construction (as in Pillow); the clamp only makes it evident.
            let n = min(min(Int(center + support + 0.5), inSize) - lo, taps)
            var sum = 0.0
            for x in 0..<max(n, 0) {
                let w = filter.weight((Double(x + lo) - center + 0.5) * inverse)
                k[x] = w
                sum += w
            }
            for x in 0..<max(n, 0) {
                let w = sum != 0 ? k[x] / sum : k[x]
                let scaled = w * Double(1 << precisionBits)
                weights[xx * taps + x] = Int32(w < 0 ? scaled - 0.5 : scaled + 0.5)
            }
            first[xx] = lo
            count[xx] = max(n, 0)
        }
        self.taps = taps
        self.first = first
        self.count = count
        self.weights = weights
    }
}

extension RGBImage {
    /// This image resized to `width`×`height` exactly as Pillow's `Image.resize((width, height), filter)`
    /// does for an RGB image: the same filter support (widened by the scale factor when
    /// downscaling, for antialiasing), the same fixed-point weights, two separable passes each
    /// rounded to 8 bits, in Pillow's order (vertical first when the height shrinks by more than
    /// twice as many pixels as the width), and NEAREST through Pillow's affine sampling. The same
    /// size returns the image unchanged.
    public func resized(width outWidth: Int, height outHeight: Int, filter: ResampleFilter) -> RGBImage {
        precondition(outWidth > 0 && outHeight > 0 && width > 0 && height > 0, "resize to \(outWidth)x\(outHeight)")
        if outWidth == width && outHeight == height { return self }
        if filter == .nearest { return nearest(width: outWidth, height: outHeight) }
        let shrink = height - outHeight
        if shrink > 0 && shrink > (width - outWidth) * 2 {
            return resampledVertically(to: outHeight, filter: filter).resampledHorizontally(to: outWidth, filter: filter)
        }
        let vertical = ResampleKernel(inSize: height, outSize: outHeight, filter: filter)
        guard outWidth != width else { return resampledVertically(vertical) }
        // Only the source rows the vertical pass reads go through the horizontal pass.
        let firstRow = vertical.first[0]
        let lastRow = vertical.first[outHeight - 1] + vertical.count[outHeight - 1]
        let horizontal = ResampleKernel(inSize: width, outSize: outWidth, filter: filter)
        let band = resampledHorizontally(horizontal, rows: firstRow..<lastRow)
        if outHeight == height { return band }
        return band.resampledVertically(vertical, rowOffset: firstRow)
    }

    func resampledHorizontally(to outWidth: Int, filter: ResampleFilter) -> RGBImage {
        if outWidth == width { return self }
        return resampledHorizontally(ResampleKernel(inSize: width, outSize: outWidth, filter: filter), rows: 0..<height)
    }

    func resampledVertically(to outHeight: Int, filter: ResampleFilter) -> RGBImage {
        if outHeight == height { return self }
        return resampledVertically(ResampleKernel(inSize: height, outSize: outHeight, filter: filter))
    }

    /// Horizontal pass over source rows `rows`: [rows.count, outWidth, 3].
    func resampledHorizontally(_ kernel: ResampleKernel, rows: Range<Int>) -> RGBImage {
        let outWidth = kernel.first.count
        let inStride = width * 3
        return RGBImage(width: outWidth, height: rows.count) { out in
            pixels.withUnsafeBufferPointer { src in
                kernel.weights.withUnsafeBufferPointer { weights in
                    kernel.first.withUnsafeBufferPointer { first in
                        kernel.count.withUnsafeBufferPointer { count in
                            let half: Int32 = 1 << (precisionBits - 1)
                            for y in 0..<rows.count {
                                let line = src.baseAddress! + (rows.lowerBound + y) * inStride
                                var o = out + y * outWidth * 3
                                for xx in 0..<outWidth {
                                    var p = line + first[xx] * 3
                                    let k = weights.baseAddress! + xx * kernel.taps
                                    var s0 = half, s1 = half, s2 = half
                                    for x in 0..<count[xx] {
                                        let w = k[x]
                                        s0 &+= Int32(p[0]) &* w
                                        s1 &+= Int32(p[1]) &* w
                                        s2 &+= Int32(p[2]) &* w
                                        p += 3
                                    }
                                    o[0] = UInt8(clamping: s0 >> precisionBits)
                                    o[1] = UInt8(clamping: s1 >> precisionBits)
                                    o[2] = UInt8(clamping: s2 >> precisionBits)
                                    o += 3
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Vertical pass; output row `yy` reads source rows `kernel.first[yy] - rowOffset` onwards.
    func resampledVertically(_ kernel: ResampleKernel, rowOffset: Int = 0) -> RGBImage {
        let outHeight = kernel.first.count
        let stride = width * 3
        let half: Int32 = 1 << (precisionBits - 1)
        var sums = [Int32](repeating: 0, count: stride)
        return RGBImage(width: width, height: outHeight) { out in
            pixels.withUnsafeBufferPointer { src in
                sums.withUnsafeMutableBufferPointer { acc in
                    kernel.weights.withUnsafeBufferPointer { weights in
                        let acc = acc.baseAddress!
                        for yy in 0..<outHeight {
                            acc.update(repeating: half, count: stride)
                            let k = weights.baseAddress! + yy * kernel.taps
                            let top = kernel.first[yy] - rowOffset
                            for y in 0..<kernel.count[yy] {
                                let w = k[y]
                                let line = src.baseAddress! + (top + y) * stride
                                for i in 0..<stride { acc[i] &+= Int32(line[i]) &* w }
                            }
                            let o = out + yy * stride
                            for i in 0..<stride { o[i] = UInt8(clamping: acc[i] >> precisionBits) }
                        }
                    }
                }
            }
        }
    }

    /// Pillow's NEAREST resize: an affine map sampled at pixel centres, with the source position
    /// advanced by repeated addition (as Pillow does) and truncated.
    func nearest(width outWidth: Int, height outHeight: Int) -> RGBImage {
        let dx = Double(Float(width)) / Double(outWidth)
        let dy = Double(Float(height)) / Double(outHeight)
        func positions(_ n: Int, _ step: Double, _ limit: Int) -> [Int] {
            var out = [Int](repeating: -1, count: n)
            var v = step * 0.5
            for i in 0..<n {
                let p = v < 0 ? -1 : Int(v)
                if p < limit { out[i] = p }
                v += step
            }
            return out
        }
        let xs = positions(outWidth, dx, width)
        let ys = positions(outHeight, dy, height)
        return RGBImage(width: outWidth, height: outHeight) { out in
            pixels.withUnsafeBufferPointer { src in
                for y in 0..<outHeight {
                    let o = out + y * outWidth * 3
                    guard ys[y] >= 0 else { o.update(repeating: 0, count: outWidth * 3); continue }
                    let line = src.baseAddress! + ys[y] * width * 3
                    for x in 0..<outWidth {
                        let sx = xs[x]
                        if sx >= 0 {
                            o[3 * x] = line[3 * sx]; o[3 * x + 1] = line[3 * sx + 1]; o[3 * x + 2] = line[3 * sx + 2]
                        } else {
                            o[3 * x] = 0; o[3 * x + 1] = 0; o[3 * x + 2] = 0
                        }
                    }
                }
            }
        }
    }
}
