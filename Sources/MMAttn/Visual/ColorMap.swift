import Foundation

/// A sequential colour map: 256 colours from dark (0) to bright (1), made by interpolating a few
/// anchor colours in OKLCh (Ottosson's perceptual lightness, chroma and hue) and converting to
/// sRGB, so that lightness rises evenly from end to end and the order reads at a glance.
public struct ColorMap: Sendable {
    /// An anchor colour in OKLCh: lightness 0–1, chroma (0 is gray), hue in degrees. Hues of
    /// successive anchors are interpolated as given, so 400 after 350 turns on through 40.
    public struct Anchor: Sendable {
        public var lightness: Double
        public var chroma: Double
        public var hue: Double

        public init(lightness: Double, chroma: Double, hue: Double) {
            self.lightness = lightness
            self.chroma = chroma
            self.hue = hue
        }
    }

    /// The colours, 256 × RGB: shape [256, 3].
    let table: [UInt8]

    /// A map through `anchors` (at least two), evenly spaced from 0 to 1. Colours outside the sRGB
    /// gamut keep their lightness and hue and lose chroma until they fit.
    public init(anchors: [Anchor]) {
        precondition(anchors.count >= 2, "ColorMap: at least two anchors")
        var table = [UInt8](repeating: 0, count: 256 * 3)
        for i in 0..<256 {
            let t = Double(i) / 255 * Double(anchors.count - 1)
            let k = min(Int(t), anchors.count - 2)
            let f = t - Double(k)
            let a = anchors[k], b = anchors[k + 1]
            let c = ColorMap.srgb(lightness: a.lightness + (b.lightness - a.lightness) * f,
                                  chroma: a.chroma + (b.chroma - a.chroma) * f,
                                  hue: a.hue + (b.hue - a.hue) * f)
            table[i * 3] = c.r
            table[i * 3 + 1] = c.g
            table[i * 3 + 2] = c.b
        }
        self.table = table
    }

    /// The library's map: deep indigo through purple, rose and orange to pale yellow.
    public static let heat = ColorMap(anchors: [
        Anchor(lightness: 0.17, chroma: 0.07, hue: 280),
        Anchor(lightness: 0.36, chroma: 0.15, hue: 305),
        Anchor(lightness: 0.56, chroma: 0.18, hue: 350),
        Anchor(lightness: 0.75, chroma: 0.16, hue: 410),
        Anchor(lightness: 0.96, chroma: 0.09, hue: 460),
    ])

    /// Colour for NaN (no data).
    public static let missing = RGBColor(160, 160, 160)

    /// The colour at `t` in [0, 1] (clamped; NaN gives `missing`).
    @inline(__always)
    public func color(_ t: Float) -> RGBColor {
        guard !t.isNaN else { return ColorMap.missing }
        let i = Int(min(max(t, 0), 1) * 255 + 0.5) * 3
        return RGBColor(table[i], table[i + 1], table[i + 2])
    }

    /// An OKLCh colour in 8-bit sRGB, chroma reduced (by bisection) until it is in gamut.
    static func srgb(lightness L: Double, chroma C: Double, hue: Double) -> RGBColor {
        func linear(_ c: Double) -> (Double, Double, Double) {
            let h = hue * .pi / 180
            let a = c * cos(h), b = c * sin(h)
            let l = pow(L + 0.3963377774 * a + 0.2158037573 * b, 3)
            let m = pow(L - 0.1055613458 * a - 0.0638541728 * b, 3)
            let s = pow(L - 0.0894841775 * a - 1.2914855480 * b, 3)
            return (4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
                    -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
                    -0.0041960863 * l - 0.7034186147 * m + 1.7076147010 * s)
        }
        func inGamut(_ v: (Double, Double, Double)) -> Bool {
            let e = 1e-6
            return v.0 >= -e && v.0 <= 1 + e && v.1 >= -e && v.1 <= 1 + e && v.2 >= -e && v.2 <= 1 + e
        }
        var rgb = linear(C)
        if !inGamut(rgb) {
            var lo = 0.0, hi = C
            for _ in 0..<30 {
                let mid = (lo + hi) / 2
                if inGamut(linear(mid)) { lo = mid } else { hi = mid }
            }
            rgb = linear(lo)
        }
        func encode(_ x: Double) -> UInt8 {
            let v = min(max(x, 0), 1)
            let e = v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1 / 2.4) - 0.055
            return UInt8((e * 255).rounded())
        }
        return RGBColor(encode(rgb.0), encode(rgb.1), encode(rgb.2))
    }
}

/// How heatmap values map to the colour map's [0, 1].
public enum ColorScale: Sendable, Equatable {
    /// From 0 to the largest value (attention: small values still use the whole map).
    case zeroToMax
    /// From the smallest to the largest value (log-mel spectrograms).
    case dataRange

    /// The range for `values` (NaNs ignored); never empty.
    public func range(of values: UnsafeBufferPointer<Float>) -> ClosedRange<Float> {
        var lo = Float.infinity, hi = -Float.infinity
        for v in values where !v.isNaN {
            lo = min(lo, v)
            hi = max(hi, v)
        }
        if !lo.isFinite || !hi.isFinite { lo = 0; hi = 1 }
        if self == .zeroToMax { lo = min(0, lo) }
        if !(hi > lo) { hi = lo + (lo == 0 ? 1 : abs(lo)) }
        return lo...hi
    }

    /// The range for `values`.
    public func range(of values: [Float]) -> ClosedRange<Float> {
        values.withUnsafeBufferPointer { range(of: $0) }
    }
}

/// A vertical colour bar: caption lines above, the gradient (bright at the top), tick marks and
/// values at round numbers on its right.
public struct ColorBar: Sendable {
    public var range: ClosedRange<Float>
    public var colorMap: ColorMap
    /// Lines drawn above the bar, for example ["attention", "max 0.137"].
    public var caption: [String]
    /// Text scale of the caption and tick values.
    public var textScale: Int

    /// Width of the gradient, in pixels.
    public static let barWidth = 18
    static let tickLength = 5

    public init(range: ClosedRange<Float>, colorMap: ColorMap = .heat, caption: [String] = [], textScale: Int = 2) {
        self.range = range
        self.colorMap = colorMap
        self.caption = caption
        self.textScale = textScale
    }

    /// The tick values: multiples of a round step (1, 2, 2.5 or 5 times a power of ten) inside
    /// the range, about four intervals and at least three ticks.
    public var ticks: [Float] { ColorBar.ticks(in: range, step: tickStep) }

    /// The step of `ticks`: the range over 4, rounded up to a round step, or over 6 or 8 when
    /// that gives fewer than three ticks.
    var tickStep: Double {
        let span = Double(range.upperBound - range.lowerBound)
        for parts in [4.0, 6, 8] {
            let step = ColorBar.roundStep(span / parts)
            if ColorBar.ticks(in: range, step: step).count >= 3 { return step }
        }
        return ColorBar.roundStep(span / 8)
    }

    static func ticks(in range: ClosedRange<Float>, step: Double) -> [Float] {
        let first = (Double(range.lowerBound) / step - 1e-6).rounded(.up)
        let last = (Double(range.upperBound) / step + 1e-6).rounded(.down)
        guard first <= last else { return [] }
        return (Int(first)...Int(last)).map { Float(Double($0) * step) }
    }

    /// Pixels from the top of the caption to the top of the gradient.
    public var captionHeight: Int {
        caption.isEmpty ? BitmapFont.capHeight * textScale / 2 : caption.count * lineHeight + 4 * textScale
    }

    var lineHeight: Int { (BitmapFont.cellHeight + 2) * textScale }

    /// Total width: the gradient, tick marks and values, or the caption if it is wider.
    public var width: Int {
        let labels = ticks.map { BitmapFont.width(of: ColorBar.format($0, step: tickStep), scale: textScale) }.max() ?? 0
        let captionWidth = caption.map { BitmapFont.width(of: $0, scale: textScale) }.max() ?? 0
        return max(ColorBar.barWidth + ColorBar.tickLength + 3 * textScale + labels, captionWidth)
    }

    /// Draw with the caption's top-left at (x, y) and the gradient `height` pixels tall below it.
    public func draw(on canvas: inout Canvas, x: Int, y: Int, height: Int) {
        var top = y
        for line in caption {
            canvas.text(line, x: x, y: top, scale: textScale, color: Style.text)
            top += lineHeight
        }
        top = y + captionHeight
        guard height > 1 else { return }
        for row in 0..<height {
            let t = 1 - Float(row) / Float(height - 1)
            canvas.fill(x: x, y: top + row, width: ColorBar.barWidth, height: 1, color: colorMap.color(t))
        }
        canvas.stroke(x: x, y: top, width: ColorBar.barWidth, height: height, color: Style.axis)
        let span = range.upperBound - range.lowerBound
        for tick in ticks {
            let yy = top + Int(((1 - (tick - range.lowerBound) / span) * Float(height - 1)).rounded())
            canvas.fill(x: x + ColorBar.barWidth, y: yy, width: ColorBar.tickLength, height: 1, color: Style.axis)
            canvas.text(ColorBar.format(tick, step: tickStep), x: x + ColorBar.barWidth + ColorBar.tickLength + 3 * textScale,
                        y: yy - BitmapFont.capHeight * textScale / 2, scale: textScale, color: Style.text)
        }
    }

    /// 1, 2, 2.5 or 5 times a power of ten: the smallest at least `x`.
    static func roundStep(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return 1 }
        let magnitude = pow(10, (log10(x)).rounded(.down))
        for m in [1.0, 2, 2.5, 5] where m * magnitude >= x * (1 - 1e-9) { return m * magnitude }
        return 10 * magnitude
    }

    /// `value` with the decimals `step` needs, trailing zeros dropped ("0.25", "0.5", "1").
    static func format(_ value: Float, step: Double) -> String {
        var decimals = 0
        while decimals < 8, abs(step * pow(10, Double(decimals)) - (step * pow(10, Double(decimals))).rounded()) > 1e-6 { decimals += 1 }
        var s = String(format: "%.\(decimals)f", Double(value))
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s == "-0" ? "0" : s
    }

    /// `value` to three significant digits ("0.137", "12.5", "1500").
    public static func format(_ value: Float) -> String {
        guard value.isFinite else { return "\(value)" }
        if value == 0 { return "0" }
        let a = abs(Double(value))
        if a >= 1e5 || a < 1e-4 { return String(format: "%.2e", Double(value)) }
        let decimals = max(0, 2 - Int(log10(a).rounded(.down)))
        var s = String(format: "%.\(decimals)f", Double(value))
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s
    }
}
