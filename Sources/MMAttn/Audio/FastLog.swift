/// Natural logarithm of positive normal floats without a libm call per element: the mantissa/exponent
/// split and the single-precision minimax polynomial of Cephes' `logf` (within about 1.2e-7 relative of
/// libm's `log`). Written with selects and bit operations only, so loops over it vectorise.
enum FastLog {
    /// `p[i] = ln(max(p[i], floor)) · scale` for `count` values; returns the largest result.
    /// `floor` must be a positive normal float.
    static func apply(_ p: UnsafeMutablePointer<Float>, count: Int, floor: Float, scale: Float) -> Float {
        for i in 0..<count { p[i] = ln(p[i] < floor ? floor : p[i]) * scale }
        var peak = SIMD4<Float>(repeating: -.infinity)
        var i = 0
        while i + 4 <= count {
            let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD4<Float>.self)
            peak.replace(with: v, where: v .> peak)
            i += 4
        }
        var best = peak.max()
        while i < count {
            best = max(best, p[i])
            i += 1
        }
        return best
    }

    /// ln(x) for a positive normal float.
    @inline(__always)
    static func ln(_ x: Float) -> Float {
        let bits = x.bitPattern
        // x = m · 2^e with m in [0.5, 1). The biased exponent b (0...255) becomes a float by placing it in
        // the mantissa of 2^23 and subtracting 2^23: exact, and no int-to-float conversion.
        var e = Float(bitPattern: ((bits >> 23) & 0xFF) | 0x4B00_0000) - (8_388_608 + 126)
        var m = Float(bitPattern: (bits & 0x007F_FFFF) | 0x3F00_0000)
        // Centre m around 1: below √½ use 2m − 1 and one less in the exponent, else m − 1.
        let low = m < 0.707106781186547524
        e = low ? e - 1 : e
        m = low ? m + m - 1 : m - 1
        let z = m * m
        var y: Float = 7.0376836292e-2
        y = y * m - 1.1514610310e-1
        y = y * m + 1.1676998740e-1
        y = y * m - 1.2420140846e-1
        y = y * m + 1.4249322787e-1
        y = y * m - 1.6668057665e-1
        y = y * m + 2.0000714765e-1
        y = y * m - 2.4999993993e-1
        y = y * m + 3.3333331174e-1
        y = y * m * z
        // ln 2 in two parts (0.693359375 has few bits, so 0.693359375 · e is exact).
        y += -2.12194440e-4 * e
        y += -0.5 * z
        return m + y + 0.693359375 * e
    }
}
