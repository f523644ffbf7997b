import Foundation

/// Vectorised transcendental functions for the element kernels. Accurate to a few ulp in float,
/// far inside the 1e-4 parity tolerance, and an order of magnitude faster than calling libm per element.
public enum VMath {
    public typealias V = SIMD8<Float>

    /// exp(x) for a vector: range reduction x = n·ln2 + r, a degree-6 polynomial for e^r, 2^n from the exponent bits.
    @inline(__always)
    public static func exp(_ x: V) -> V {
        let clamped = x.clamped(lowerBound: V(repeating: -87.3), upperBound: V(repeating: 88.7))
        let n = (clamped * V(repeating: 1.442695040888963)).rounded(.toNearestOrEven)
        // r = x - n·ln2, with ln2 split in two for accuracy (Cody–Waite).
        var r = clamped - n * V(repeating: 0.693359375)
        r = r - n * V(repeating: -2.12194440e-4)
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + V(repeating: 1.3981999507e-3)
        p = p * r + V(repeating: 8.3334519073e-3)
        p = p * r + V(repeating: 4.1665795894e-2)
        p = p * r + V(repeating: 1.6666665459e-1)
        p = p * r + V(repeating: 5.0000001201e-1)
        let r2 = r * r
        let er = p * r2 + r + V(repeating: 1)
        let bits = (SIMD8<Int32>(n) &+ 127) &<< 23
        let scale = unsafeBitCast(bits, to: V.self)
        // Below the float range e^x underflows to 0 (masked attention scores are -infinity).
        return (er * scale).replacing(with: V(repeating: 0), where: x .< V(repeating: -87.3))
    }

    /// erf(x), Abramowitz–Stegun 7.1.26: |error| < 1.5e-7.
    @inline(__always)
    public static func erf(_ x: V) -> V {
        let sign = V(repeating: 1).replacing(with: V(repeating: -1), where: x .< 0)
        let a = x.replacing(with: -x, where: x .< 0)
        let t = V(repeating: 1) / (V(repeating: 1) + V(repeating: 0.3275911) * a)
        var y = V(repeating: 1.061405429)
        y = y * t + V(repeating: -1.453152027)
        y = y * t + V(repeating: 1.421413741)
        y = y * t + V(repeating: -0.284496736)
        y = y * t + V(repeating: 0.254829592)
        y = y * t
        return sign * (V(repeating: 1) - y * exp(-a * a))
    }

    /// tanh(x) = 1 − 2 / (e^{2x} + 1).
    @inline(__always)
    public static func tanh(_ x: V) -> V {
        V(repeating: 1) - V(repeating: 2) / (exp(x + x) + V(repeating: 1))
    }
}
