import Foundation

/// Token timestamps from Whisper's cross-attention, as transformers' `_extract_token_timestamps`
/// computes them: the alignment heads' attention over the encoder frames is normalised along the
/// token axis, smoothed along the frame axis with a median filter, averaged over heads, and aligned
/// to the frames by dynamic time warping (DTW); each token's time is the frame where the DTW path
/// first reaches it.
///
/// Float parity: every step runs in the precision transformers uses (float32 tensors, float64 for
/// the standard deviation's accumulation and the DTW input, a float32 DTW cost array), and the two
/// float32 sums (token mean, head mean) add in the order of PyTorch's CPU reduction kernels run on
/// one thread, so the DTW sees bit-identical numbers and breaks ties the same way.
public enum WhisperAlignment {
    /// One time per token of a decoding window, in seconds.
    ///
    /// - Parameters:
    ///   - crossAttention: `[heads, tokens, frames]`, the cross-attention weights of the alignment
    ///     heads (the checkpoint's `generation_config.alignment_heads`, `(layer, head)` pairs, in
    ///     that order; the order only matters for the last bit of the head mean). Rows are the
    ///     decoder positions of the *generated* tokens except the last one: row `r` is the
    ///     attention computed while the decoder read generated token `r` (which predicted token
    ///     `r + 1`). The prompt's rows (start-of-transcript, language, task, previous-text tokens)
    ///     are left out. `frames` is the encoder length (1500 for 30 s).
    ///   - numFrames: the input mel frames of real audio from this window's start
    ///     (transformers: `attention_mask.sum(-1) - seek`, may exceed 3000); the attention is
    ///     cropped to `numFrames / 2` encoder frames first. Nil: no crop (transformers without an
    ///     attention mask).
    ///   - medianFilterWidth: the config's `median_filter_width` (odd, default 7).
    ///   - timePrecision: seconds per encoder frame (0.02).
    ///   - promptLength: how many leading zeros to put first (transformers' `num_input_ids`, the
    ///     decoder input ids before the generated tokens).
    /// - Returns: `promptLength + tokens + 1` times: zeros for the prompt, one per generated token,
    ///   the last generated token (usually end-of-text) repeating the time before it. With no
    ///   attention rows (one generated token) everything is zero.
    public static func tokenTimestamps(crossAttention: Tensor, numFrames: Int?, medianFilterWidth: Int = 7,
                                       timePrecision: Double = 0.02, promptLength: Int = 0) -> [Float] {
        align(crossAttention: crossAttention, numFrames: numFrames, medianFilterWidth: medianFilterWidth,
              timePrecision: timePrecision, promptLength: promptLength).times
    }

    /// `tokenTimestamps` with its workings: the aligned matrix (`alignmentMatrix`) and the DTW path.
    static func align(crossAttention: Tensor, numFrames: Int?, medianFilterWidth: Int, timePrecision: Double,
                      promptLength: Int) -> (times: [Float], matrix: [Float], text: [Int], time: [Int]) {
        precondition(crossAttention.shape.count == 3, "cross-attention must be [heads, tokens, frames]")
        let tokens = crossAttention.shape[1]
        guard tokens > 0 else { return ([Float](repeating: 0, count: promptLength + 1), [], [], []) }
        let matrix = alignmentMatrix(crossAttention: crossAttention, numFrames: numFrames, medianFilterWidth: medianFilterWidth)
        let frames = matrix.count / tokens
        // DTW runs on the negated matrix in float64, as transformers hands it to NumPy.
        let negated = matrix.map { -Double($0) }
        let path = negated.withUnsafeBufferPointer { dynamicTimeWarping($0, rows: tokens, columns: frames) }
        var times = [Float](repeating: 0, count: promptLength)
        times.reserveCapacity(promptLength + tokens + 1)
        for k in path.text.indices where k == 0 || path.text[k] != path.text[k - 1] {
            // NumPy: int64 index × Python float → float64; stored into the float32 result tensor.
            times.append(Float(Double(path.time[k]) * timePrecision))
        }
        times.append(times.last ?? 0)
        return (times, matrix, path.text, path.time)
    }

    /// Python's `[..., :num_frames // 2]` on `full` frames: floor division, and a negative end
    /// counts from the back.
    static func croppedFrames(_ numFrames: Int, from full: Int) -> Int {
        let k = numFrames >= 0 ? numFrames / 2 : -((-numFrames + 1) / 2)
        return k >= 0 ? min(full, k) : max(0, full + k)
    }

    /// The `numFrames` to pass for a window whose `num_frames` comes from an attention mask
    /// (generate with `attention_mask`, the ASR pipeline): transformers then crops twice, once for
    /// the batch and once per item. Both crops agree unless the window starts past the audio
    /// (`audioFrames − seek < 0`, a short clip's later windows over its padding), where each
    /// negative end cuts from the back again.
    public static func maskedNumFrames(audioFrames: Int, seek: Int, encoderFrames full: Int) -> Int {
        let n = audioFrames - seek
        return 2 * croppedFrames(n, from: croppedFrames(n, from: full))
    }

    /// The matrix transformers aligns (before negation): `[tokens, frames']` row-major, the
    /// attention cropped to `numFrames / 2` frames, normalised per frame over tokens (population
    /// standard deviation), median-filtered along frames per head and token, averaged over heads.
    /// Exposed for tests and inspection; `tokenTimestamps` is the usual entry.
    public static func alignmentMatrix(crossAttention: Tensor, numFrames: Int?, medianFilterWidth: Int = 7) -> [Float] {
        precondition(crossAttention.shape.count == 3, "cross-attention must be [heads, tokens, frames]")
        precondition(medianFilterWidth > 0 && medianFilterWidth % 2 == 1, "the median filter width must be odd")
        let heads = crossAttention.shape[0], tokens = crossAttention.shape[1], full = crossAttention.shape[2]
        precondition(heads > 0, "no alignment heads")
        let frames = numFrames.map { croppedFrames($0, from: full) } ?? full
        let plane = tokens * frames
        guard plane > 0 else { return [] }
        let source = crossAttention.pointer
        // [heads, tokens, frames]: each head normalised, then median-filtered, on its own thread.
        let filtered = UnsafeMutablePointer<Float>.allocate(capacity: heads * plane)
        defer { filtered.deallocate() }
        Threads.parallelFor(heads) { h0, h1 in
            let normalized = UnsafeMutablePointer<Float>.allocate(capacity: plane)
            defer { normalized.deallocate() }
            var filter = MedianFilter(rowLength: frames, width: medianFilterWidth)
            for h in h0..<h1 {
                normalizeOverTokens(source + h * tokens * full, rowStride: full, tokens: tokens, frames: frames, into: normalized)
                for t in 0..<tokens { filter.apply(normalized + t * frames, into: filtered + h * plane + t * frames) }
            }
        }
        // The head mean reads the filter's output; torch's kernel order depends on its layout: a
        // strided view of the sorted windows (4-element blocks) when the filter ran, a contiguous
        // tensor (32-element blocks) when it was skipped or had width 1.
        let ranFilter = frames > medianFilterWidth / 2 && medianFilterWidth > 1
        var result = [Float](repeating: 0, count: plane)
        result.withUnsafeMutableBufferPointer { out in
            TorchSum.sums(filtered, count: heads, stride: plane, outputs: plane, block: ranFilter ? 4 : 32, into: out.baseAddress!)
            for e in 0..<plane { out[e] /= Float(heads) }
        }
        return result
    }

    /// One head: `(x − mean) / std` per frame over the tokens, in float32 as torch computes it
    /// (the mean a float32 sum ÷ count, the standard deviation accumulated in float64).
    /// `a` is `[tokens, ≥ frames]` with rows `rowStride` apart; `out` is `[tokens, frames]`.
    private static func normalizeOverTokens(_ a: UnsafePointer<Float>, rowStride: Int, tokens: Int, frames: Int,
                                            into out: UnsafeMutablePointer<Float>) {
        let mean = UnsafeMutablePointer<Float>.allocate(capacity: frames)
        let total = UnsafeMutablePointer<Double>.allocate(capacity: frames)
        let squares = UnsafeMutablePointer<Double>.allocate(capacity: frames)
        defer { mean.deallocate(); total.deallocate(); squares.deallocate() }
        total.initialize(repeating: 0, count: frames)
        squares.initialize(repeating: 0, count: frames)
        TorchSum.sums(a, count: tokens, stride: rowStride, outputs: frames, block: 32, into: mean)
        for f in 0..<frames { mean[f] /= Float(tokens) }
        for t in 0..<tokens {
            let row = a + t * rowStride
            for f in 0..<frames { total[f] += Double(row[f]) }
        }
        for f in 0..<frames { total[f] /= Double(tokens) }
        for t in 0..<tokens {
            let row = a + t * rowStride
            for f in 0..<frames { let d = Double(row[f]) - total[f]; squares[f] += d * d }
        }
        for f in 0..<frames { squares[f] = (squares[f] / Double(tokens)).squareRoot() }
        for t in 0..<tokens {
            let row = a + t * rowStride, o = out + t * frames
            for f in 0..<frames { o[f] = (row[f] - mean[f]) / Float(squares[f]) }
        }
    }

    /// transformers' `_median_filter` along rows of `rowLength`: each value becomes the median of
    /// the `width` values around it, the row reflect-padded at both ends (mirrored without
    /// repeating the edge). Rows no longer than `width / 2` come back unchanged. NaN sorts above
    /// every number, as in `torch.sort`; -0 sorts below +0 (torch's sort holds them equal, so
    /// from a window of both either may come out there).
    public static func medianFilter(_ values: [Float], rowLength: Int, width: Int) -> [Float] {
        precondition(width > 0 && width % 2 == 1, "the median filter width must be odd")
        guard rowLength > 0, !values.isEmpty else { return values }
        precondition(values.count % rowLength == 0, "values are not whole rows")
        var out = values
        var filter = MedianFilter(rowLength: rowLength, width: width)
        values.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<(values.count / rowLength) {
                    filter.apply(v.baseAddress! + r * rowLength, into: o.baseAddress! + r * rowLength)
                }
            }
        }
        return out
    }

    /// transformers' `_dynamic_time_warping`: the cheapest monotone path through `matrix`
    /// (`[rows, columns]` row-major, the cost of pairing token `i` with frame `j`) from the top
    /// left to the bottom right, moving down, right or diagonally.
    ///
    /// Accumulated costs are kept in float32 (each step adds the float64 cell to the float32
    /// predecessor, then rounds); of the three predecessors the diagonal wins only if strictly
    /// below both others, then the one above if strictly below both, else the one to the left
    /// (so ties and NaN go left).
    /// - Returns: the path from the start, as parallel token (`text`) and frame (`time`) indices.
    public static func dynamicTimeWarping(_ matrix: UnsafeBufferPointer<Double>, rows: Int, columns: Int) -> (text: [Int], time: [Int]) {
        precondition(matrix.count == rows * columns, "matrix is not rows × columns")
        let width = columns + 1
        // trace[i][j]: 0 diagonal, 1 up, 2 left. Row 0 goes left, column 0 goes up.
        var trace = [UInt8](repeating: 2, count: (rows + 1) * width)
        var previous = [Float](repeating: .infinity, count: width)
        var current = [Float](repeating: .infinity, count: width)
        previous[0] = 0
        trace.withUnsafeMutableBufferPointer { t in
            previous.withUnsafeMutableBufferPointer { prevBuffer in
                current.withUnsafeMutableBufferPointer { curBuffer in
                    var prev = prevBuffer.baseAddress!, cur = curBuffer.baseAddress!
                    for i in stride(from: 1, through: rows, by: 1) {
                        let m = matrix.baseAddress! + (i - 1) * columns
                        let tr = t.baseAddress! + i * width
                        tr[0] = 1
                        cur[0] = .infinity
                        var left = Float.infinity  // cur[j - 1]
                        for j in 1..<width {
                            let c0 = prev[j - 1], c1 = prev[j], c2 = left
                            let c: Float, step: UInt8
                            if c0 < c1 && c0 < c2 { c = c0; step = 0 } else if c1 < c0 && c1 < c2 { c = c1; step = 1 } else { c = c2; step = 2 }
                            left = Float(m[j - 1] + Double(c))
                            cur[j] = left
                            tr[j] = step
                        }
                        swap(&prev, &cur)
                    }
                }
            }
        }
        var text: [Int] = [], time: [Int] = []
        text.reserveCapacity(rows + columns)
        time.reserveCapacity(rows + columns)
        var i = rows, j = columns
        while i > 0 || j > 0 {
            text.append(i - 1)
            time.append(j - 1)
            let step: UInt8 = i == 0 ? 2 : (j == 0 ? 1 : trace[i * width + j])
            switch step {
            case 0: i -= 1; j -= 1
            case 1: i -= 1
            default: j -= 1
            }
        }
        return (text.reversed(), time.reversed())
    }
}

/// PyTorch's CPU float32 sum order (`SumKernel.cpp`, one thread): the reduced values of one output
/// are added in blocks of 16 into cascading accumulators (`multi_row_sum`); outputs past the last
/// whole block of `block` outputs (32 for a contiguous output row, 4 for a strided one) instead
/// sum in four interleaved lanes (`row_sum`).
enum TorchSum {
    /// `outputs` sums of `count` values each: output `j` adds `p[j + i·stride]` for i in
    /// 0..<count. The outputs in whole blocks are summed row by row with per-output accumulators
    /// (the additions of `cascade`, in a cache-friendly order); the rest with `lanes`.
    static func sums(_ p: UnsafePointer<Float>, count n: Int, stride: Int, outputs: Int, block: Int,
                     into out: UnsafeMutablePointer<Float>) {
        let whole = outputs / block * block
        if whole > 0 {
            let levelPower = max(4, ceilLog2(n) / 4)
            let step = 1 << levelPower, mask = step - 1
            let acc = UnsafeMutablePointer<Float>.allocate(capacity: 3 * whole)
            defer { acc.deallocate() }
            acc.initialize(repeating: 0, count: 3 * whole)
            let a0 = out, a1 = acc, a2 = acc + whole, a3 = acc + 2 * whole
            a0.update(repeating: 0, count: whole)
            var i = 0
            while i + step <= n {
                for _ in 0..<step {
                    let row = p + i * stride
                    for j in 0..<whole { a0[j] += row[j] }
                    i += 1
                }
                for j in 0..<whole { a1[j] += a0[j]; a0[j] = 0 }
                if i & (mask << levelPower) == 0 {
                    for j in 0..<whole { a2[j] += a1[j]; a1[j] = 0 }
                    if i & (mask << (2 * levelPower)) == 0 { for j in 0..<whole { a3[j] += a2[j]; a2[j] = 0 } }
                }
            }
            while i < n {
                let row = p + i * stride
                for j in 0..<whole { a0[j] += row[j] }
                i += 1
            }
            for j in 0..<whole { a0[j] += a1[j]; a0[j] += a2[j]; a0[j] += a3[j] }
        }
        for j in whole..<outputs { out[j] = lanes(p + j, count: n, stride: stride) }
    }

    /// One lane of `multi_row_sum`: blocks of 2^k values (k = max(4, ⌈log2 n⌉ / 4)) go into a
    /// first accumulator, which empties into a second after each block, the second into a third
    /// every 2^k blocks, and so on; the rest and the accumulators are added at the end.
    static func cascade(_ p: UnsafePointer<Float>, count n: Int, stride: Int) -> Float {
        let levelPower = max(4, ceilLog2(n) / 4)
        let step = 1 << levelPower, mask = step - 1
        var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
        var i = 0
        while i + step <= n {
            for _ in 0..<step { a0 += p[i * stride]; i += 1 }
            a1 += a0; a0 = 0
            if i & (mask << levelPower) == 0 {
                a2 += a1; a1 = 0
                if i & (mask << (2 * levelPower)) == 0 { a3 += a2; a2 = 0 }
            }
        }
        while i < n { a0 += p[i * stride]; i += 1 }
        a0 += a1; a0 += a2; a0 += a3
        return a0
    }

    /// `row_sum`: four lanes over values i ≡ 0, 1, 2, 3 (mod 4), each a cascade; the values past
    /// the last group of four go into lane 0; then lane 0 + 1 + 2 + 3.
    static func lanes(_ p: UnsafePointer<Float>, count n: Int, stride: Int) -> Float {
        let groups = n / 4
        guard groups > 0 else { return cascade(p, count: n, stride: stride) }
        var l0 = cascade(p, count: groups, stride: 4 * stride)
        let l1 = cascade(p + stride, count: groups, stride: 4 * stride)
        let l2 = cascade(p + 2 * stride, count: groups, stride: 4 * stride)
        let l3 = cascade(p + 3 * stride, count: groups, stride: 4 * stride)
        for i in (groups * 4)..<n { l0 += p[i * stride] }
        l0 += l1; l0 += l2; l0 += l3
        return l0
    }

    /// c10's `CeilLog2`: 1 for n ≤ 2.
    static func ceilLog2(_ n: Int) -> Int {
        n <= 2 ? 1 : Int.bitWidth - (n - 1).leadingZeroBitCount
    }
}

/// A median filter over rows of one length: each row is reflect-padded into a buffer of order
/// keys (NaN above everything), and eight windows at a time go through an odd–even transposition
/// sorting network of `width` stages on SIMD lanes.
struct MedianFilter {
    let rowLength: Int, width: Int
    private var keys: [UInt32]
    private var lanes: [SIMD8<UInt32>]

    init(rowLength: Int, width: Int) {
        self.rowLength = rowLength
        self.width = width
        keys = [UInt32](repeating: 0, count: rowLength + width + 8)
        lanes = [SIMD8<UInt32>](repeating: .zero, count: width)
    }

    /// Filter one row of `rowLength` values from `row` into `out` (another buffer).
    mutating func apply(_ row: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let pad = width / 2, n = rowLength, w = width
        guard n > pad, pad > 0 else { out.update(from: row, count: n); return }
        keys.withUnsafeMutableBufferPointer { k in
            lanes.withUnsafeMutableBufferPointer { v in
                for i in 0..<n { k[pad + i] = Self.key(row[i]) }
                for i in 1...pad {
                    k[pad - i] = k[pad + i]  // reflect: row[i] before row[0]
                    k[pad + n - 1 + i] = k[pad + n - 1 - i]  // row[n - 1 - i] after row[n - 1]
                }
                let kp = UnsafeRawPointer(k.baseAddress!)
                // Width 7 (every Whisper config) with a constant width, so the network unrolls.
                if w == 7 { Self.run7(kp, n, out) } else { Self.run(kp, n, w, v.baseAddress!, out) }
            }
        }
    }

    @inline(__always)
    private static func run(_ keys: UnsafeRawPointer, _ n: Int, _ w: Int, _ v: UnsafeMutablePointer<SIMD8<UInt32>>,
                            _ out: UnsafeMutablePointer<Float>) {
        var start = 0
        while start < n {
            for m in 0..<w { v[m] = keys.loadUnaligned(fromByteOffset: (start + m) * 4, as: SIMD8<UInt32>.self) }
            for stage in 0..<w {
                var m = stage & 1
                while m + 1 < w {
                    let lo = pointwiseMin(v[m], v[m + 1]), hi = pointwiseMax(v[m], v[m + 1])
                    v[m] = lo; v[m + 1] = hi
                    m += 2
                }
            }
            let median = v[w / 2]
            for l in 0..<min(8, n - start) { out[start + l] = value(median[l]) }
            start += 8
        }
    }

    /// `run` for width 7, the lanes in registers.
    private static func run7(_ keys: UnsafeRawPointer, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        @inline(__always) func cx(_ a: inout SIMD8<UInt32>, _ b: inout SIMD8<UInt32>) {
            let lo = pointwiseMin(a, b)
            b = pointwiseMax(a, b)
            a = lo
        }
        var start = 0
        while start < n {
            @inline(__always) func load(_ m: Int) -> SIMD8<UInt32> {
                keys.loadUnaligned(fromByteOffset: (start + m) * 4, as: SIMD8<UInt32>.self)
            }
            var v0 = load(0), v1 = load(1), v2 = load(2), v3 = load(3), v4 = load(4), v5 = load(5), v6 = load(6)
            for _ in 0..<3 {
                cx(&v0, &v1); cx(&v2, &v3); cx(&v4, &v5)
                cx(&v1, &v2); cx(&v3, &v4); cx(&v5, &v6)
            }
            cx(&v0, &v1); cx(&v2, &v3); cx(&v4, &v5)
            for l in 0..<min(8, n - start) { out[start + l] = value(v3[l]) }
            start += 8
        }
    }

    /// Order-preserving unsigned keys of floats; every NaN is the largest key.
    /// (Negative floats flip all bits, others set the sign bit.)
    @inline(__always) static func key(_ x: Float) -> UInt32 {
        let b = x.bitPattern
        let k = b ^ (UInt32(bitPattern: Int32(bitPattern: b) >> 31) | 0x8000_0000)
        return x.isNaN ? .max : k
    }

    /// The float of a key; the NaN key gives a NaN (0x7FFFFFFF).
    @inline(__always) static func value(_ k: UInt32) -> Float {
        Float(bitPattern: k ^ (UInt32(bitPattern: Int32(bitPattern: ~k) >> 31) | 0x8000_0000))
    }
}
