import Foundation

/// A 2-D convolution without padding (patch embeddings: ViT, DeiT, AST), computed as im2col + GEMM.
public struct Conv2d: Sendable {
    public let weight: Tensor  // [O, C, kh, kw]
    public let bias: Tensor?   // [O]
    public let stride: (h: Int, w: Int)

    public init(weight: Tensor, bias: Tensor?, stride: (h: Int, w: Int)) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
    }

    public var kernel: (h: Int, w: Int) { (weight.shape[2], weight.shape[3]) }

    /// Output grid for an input of `height`×`width` (floor, as PyTorch).
    public func outputGrid(height: Int, width: Int) -> (h: Int, w: Int) {
        ((height - kernel.h) / stride.h + 1, (width - kernel.w) / stride.w + 1)
    }

    /// Convolve one image `x` ([C, H, W]) to tokens in row-major grid order: [outH·outW, O].
    public func tokens(_ x: Tensor) -> Tensor {
        let C = x.shape[0], H = x.shape[1], W = x.shape[2]
        let (kh, kw) = kernel
        let (oh, ow) = outputGrid(height: H, width: W)
        let patch = C * kh * kw
        let columns = Tensor(uninitialized: [oh * ow, patch])  // [N, C·kh·kw], same order as the weight's inner axes; every element written
        Threads.parallelFor(oh, grain: 1) { start, end in
            for i in start..<end {
                for j in 0..<ow {
                    var dst = columns.data + (i * ow + j) * patch
                    for c in 0..<C {
                        for y in 0..<kh {
                            let src = x.pointer + (c * H + i * stride.h + y) * W + j * stride.w
                            dst.update(from: src, count: kw)
                            dst += kw
                        }
                    }
                }
            }
        }
        let linear = Linear(weight: weight.reshaped([weight.shape[0], patch]), bias: bias)
        return linear(columns)
    }
}

/// A 1-D convolution with symmetric zero padding (Whisper's front convolutions), as im2col + GEMM.
public struct Conv1d: Sendable {
    public let weight: Tensor  // [O, C, k]
    public let bias: Tensor?   // [O]
    public let stride: Int
    public let padding: Int

    public init(weight: Tensor, bias: Tensor?, stride: Int, padding: Int) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
    }

    /// Output length for an input of `length` samples.
    public func outputLength(_ length: Int) -> Int {
        (length + 2 * padding - weight.shape[2]) / stride + 1
    }

    /// Convolve `x` given time-major, [L, C], to [L', O] (time-major too, so no transposes are needed
    /// between layers).
    public func callAsFunction(timeMajor x: Tensor) -> Tensor {
        let L = x.shape[0], C = x.shape[1], k = weight.shape[2]
        let outL = outputLength(L)
        // Columns ordered (c, tap) to match the weight's [O, C, k] layout.
        let columns = Tensor(zeros: [outL, C * k])  // [L', C·k]
        Threads.parallelFor(outL, grain: 64) { start, end in
            for t in start..<end {
                let dst = columns.data + t * C * k
                for tap in 0..<k {
                    let s = t * stride + tap - padding
                    guard s >= 0, s < L else { continue }
                    let src = x.pointer + s * C
                    for c in 0..<C { dst[c * k + tap] = src[c] }
                }
            }
        }
        return Linear(weight: weight.reshaped([weight.shape[0], C * k]), bias: bias)(columns)
    }
}

/// A 3-D convolution without padding over a clip (VideoMAE's tubelets; TimeSformer's per-frame patches as a
/// one-frame kernel), as im2col + GEMM.
public struct Conv3d: Sendable {
    public let weight: Tensor  // [O, C, kt, kh, kw]
    public let bias: Tensor?   // [O]
    public let stride: (t: Int, h: Int, w: Int)

    public init(weight: Tensor, bias: Tensor?, stride: (t: Int, h: Int, w: Int)) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
    }

    /// Frames, rows and columns the kernel spans.
    public var kernel: (t: Int, h: Int, w: Int) { (weight.shape[2], weight.shape[3], weight.shape[4]) }

    /// Output grid for `frames` frames of `height`×`width` (floor, as PyTorch).
    public func outputGrid(frames: Int, height: Int, width: Int) -> (t: Int, h: Int, w: Int) {
        ((frames - kernel.t) / stride.t + 1, (height - kernel.h) / stride.h + 1, (width - kernel.w) / stride.w + 1)
    }

    /// Convolve a clip `x` given frame-major as transformers' `pixel_values` holds it ([F, C, H, W])
    /// to tokens in (time, row, column) order: [outT·outH·outW, O].
    public func tokens(_ x: Tensor) -> Tensor {
        let F = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
        let (kt, kh, kw) = kernel
        let (ot, oh, ow) = outputGrid(frames: F, height: H, width: W)
        let patch = C * kt * kh * kw
        let columns = Tensor(uninitialized: [ot * oh * ow, patch])  // [N, C·kt·kh·kw] in the weight's inner order; every element written
        Threads.parallelFor(ot * oh, grain: 1) { start, end in
            for cell in start..<end {
                let t = cell / oh, i = cell % oh
                for j in 0..<ow {
                    var dst = columns.data + (cell * ow + j) * patch
                    for c in 0..<C {
                        for dt in 0..<kt {
                            let frame = x.pointer + ((t * stride.t + dt) * C + c) * H * W
                            for y in 0..<kh {
                                dst.update(from: frame + (i * stride.h + y) * W + j * stride.w, count: kw)
                                dst += kw
                            }
                        }
                    }
                }
            }
        }
        return Linear(weight: weight.reshaped([weight.shape[0], patch]), bias: bias)(columns)
    }
}

public enum Interpolate {
    /// Bicubic resampling of a grid of vectors, [h, w, D] → [outH, outW, D], as PyTorch's
    /// `interpolate(mode="bicubic", align_corners=False)` (cubic convolution, A = −0.75, edge
    /// samples clamped). Used to fit learned 2-D position embeddings to another patch grid.
    public static func bicubic(_ x: Tensor, outHeight: Int, outWidth: Int) -> Tensor {
        let h = x.shape[0], w = x.shape[1], D = x.shape[2]
        let out = Tensor(zeros: [outHeight, outWidth, D])
        let ys = taps(input: h, output: outHeight), xs = taps(input: w, output: outWidth)
        for i in 0..<outHeight {
            for j in 0..<outWidth {
                let o = out.data + (i * outWidth + j) * D
                for a in 0..<4 {
                    for b in 0..<4 {
                        let weight = ys[i].weights[a] * xs[j].weights[b]
                        let src = x.pointer + (ys[i].index[a] * w + xs[j].index[b]) * D
                        for d in 0..<D { o[d] += weight * src[d] }
                    }
                }
            }
        }
        return out
    }

    struct Taps { var index: [Int]; var weights: [Float] }

    static func taps(input: Int, output: Int) -> [Taps] {
        let scale = Float(input) / Float(output)
        return (0..<output).map { i in
            let src = (Float(i) + 0.5) * scale - 0.5
            let f = src.rounded(.down)
            let t = src - f
            let base = Int(f)
            let A: Float = -0.75
            func near(_ x: Float) -> Float { ((A + 2) * x - (A + 3)) * x * x + 1 }
            func far(_ x: Float) -> Float { ((A * x - 5 * A) * x + 8 * A) * x - 4 * A }
            let weights = [far(t + 1), near(t), near(1 - t), far(2 - t)]
            let index = (-1...2).map { min(max(base + $0, 0), input - 1) }
            return Taps(index: index, weights: weights)
        }
    }
}
