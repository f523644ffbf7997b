import Foundation

/// Branch-free float transcendental functions for the element kernels. Written as scalar code on
/// concrete `Float`s so that release builds auto-vectorise the loops that call them (and debug
/// builds stay usable). Accurate to a few ulp, far inside the 1e-4 parity tolerance.
public enum VMath {
    /// e^x: range reduction x = n·ln2 + r (Cody–Waite), a degree-6 polynomial for e^r, 2^n from
    /// the exponent bits. Underflows to exactly 0 below −87.3 (so masked scores of −∞ give 0).
    @inline(__always)
    public static func exp(_ x: Float) -> Float {
        let c = min(max(x, -87.3), 88.7)
        // Round to nearest by the 1.5·2^23 trick (exact for |c·log2e| < 2^22); the integer sits in
        // the low mantissa bits, read without a float→int conversion (which would trap on NaN).
        let shifted = c * 1.442695040888963 + 12582912
        let n = shifted - 12582912
        let ni = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
        var r = c - n * 0.693359375
        r = r - n * -2.12194440e-4
        var p: Float = 1.9875691500e-4
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let er = p * (r * r) + r + 1
        let scale = Float(bitPattern: UInt32(bitPattern: ni &+ 127) &<< 23)
        return x < -87.3 ? 0 : er * scale
    }

    /// erf(x), Abramowitz–Stegun 7.1.26: |error| < 1.5e-7.
    @inline(__always)
    public static func erf(_ x: Float) -> Float {
        let a = Swift.abs(x)
        let t = 1 / (1 + 0.3275911 * a)
        var y: Float = 1.061405429
        y = y * t - 1.453152027
        y = y * t + 1.421413741
        y = y * t - 0.284496736
        y = y * t + 0.254829592
        let e = 1 - y * t * exp(-a * a)
        return x < 0 ? -e : e
    }

    /// tanh(x) = 1 − 2 / (e^{2x} + 1).
    @inline(__always)
    public static func tanh(_ x: Float) -> Float {
        1 - 2 / (exp(x + x) + 1)
    }
}
