import Foundation
import CBLAS
import CKernels

/// How the rows of an activation buffer ([rows, width]) group into sequences: a right-padded batch
/// (item b starts at row b·T and has `lengths[b]` real tokens) or a packed one (sequences
/// concatenated without padding, each starting where the previous ends). Attention never crosses
/// sequences, so a packed batch costs what its tokens cost.
public struct SequenceLayout: Sendable, Equatable {
    /// First row of each sequence.
    public let starts: [Int]
    /// Real tokens of each sequence.
    public let lengths: [Int]
    /// Rows of the buffer (padding rows included).
    public let rows: Int
    /// For a padded batch, the rows each item occupies (T); nil when packed.
    public let paddedTokens: Int?

    /// B sequences of T tokens each, no padding.
    public static func uniform(batch: Int, tokens: Int) -> SequenceLayout {
        padded(tokens: tokens, lengths: Array(repeating: tokens, count: batch))
    }

    /// A right-padded batch [B, T]: item b has `lengths[b]` (clamped to 0...T) real tokens; the
    /// attention output of its padding rows is zero.
    public static func padded(tokens: Int, lengths: [Int]) -> SequenceLayout {
        SequenceLayout(starts: lengths.indices.map { $0 * tokens }, lengths: lengths.map { min(max($0, 0), tokens) },
                       rows: lengths.count * tokens, paddedTokens: tokens)
    }

    /// Sequences of `lengths` tokens concatenated (cumulative offsets), no padding rows.
    public static func packed(lengths: [Int]) -> SequenceLayout {
        var starts: [Int] = [], row = 0
        for n in lengths { starts.append(row); row += max(n, 0) }
        return SequenceLayout(starts: starts, lengths: lengths.map { max($0, 0) }, rows: row, paddedTokens: nil)
    }

    /// Number of sequences.
    public var count: Int { lengths.count }
    /// The longest sequence.
    public var maxLength: Int { lengths.max() ?? 0 }

    /// Each row's position inside its sequence (padding rows continue counting), [rows].
    public var positions: [Int32] {
        var p = [Int32](repeating: 0, count: rows)
        for (s, start) in starts.enumerated() {
            let end = paddedTokens.map { start + $0 } ?? start + lengths[s]
            for r in start..<end { p[r] = Int32(r - start) }
        }
        return p
    }
}

/// Axes of a position grid of frames × height × width tokens.
public struct GridAxes: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// The frame (time step).
    public static let time = GridAxes(rawValue: 1)
    /// The row inside a frame.
    public static let row = GridAxes(rawValue: 2)
    /// The column inside a frame.
    public static let column = GridAxes(rawValue: 4)
}

/// Attention restricted to tokens that share coordinates on a position grid: `[.time]` keeps each
/// frame to itself (spatial attention), `[.row, .column]` keeps each place to itself across frames
/// (temporal attention). Tokens lie in frame-major, then row-major order after `prefix` tokens
/// (CLS and the like) that attend to, and are attended by, every token.
public struct GridMask: Sendable, Equatable {
    public var prefix: Int
    public var frames: Int
    public var height: Int
    public var width: Int
    /// The coordinates a key must share with its query.
    public var sharing: GridAxes

    public init(prefix: Int = 0, frames: Int, height: Int, width: Int, sharing: GridAxes) {
        precondition(prefix >= 0 && frames > 0 && height > 0 && width > 0, "an empty attention grid")
        self.prefix = prefix
        self.frames = frames
        self.height = height
        self.width = width
        self.sharing = sharing
    }

    /// Tokens a sequence on this grid has.
    public var tokens: Int { prefix + frames * height * width }

    /// Whether no query of i0..<i1 may see any key of j0..<j1: only decidable cheaply for grids
    /// that keep attention within frames (frames are contiguous token runs).
    func excludes(queries i0: Int, _ i1: Int, keys j0: Int, _ j1: Int) -> Bool {
        guard sharing.contains(.time), i0 >= prefix, j0 >= prefix else { return false }
        let plane = height * width
        return (i1 - 1 - prefix) / plane < (j0 - prefix) / plane || (j1 - 1 - prefix) / plane < (i0 - prefix) / plane
    }

    @inline(__always)
    func allows(_ i: Int, _ j: Int) -> Bool {
        if i < prefix || j < prefix { return true }
        let a = i - prefix, b = j - prefix, plane = height * width
        if sharing.contains(.time) && a / plane != b / plane { return false }
        if sharing.contains(.row) && (a / width) % height != (b / width) % height { return false }
        if sharing.contains(.column) && a % width != b % width { return false }
        return true
    }
}

/// Which keys each query may attend to inside its sequence. Masks are rules, computed where they
/// apply; no mask matrix is ever stored. Keys past a sequence's length are never attended.
public struct AttentionMask: Sendable, Equatable {
    /// Token i attends to tokens 0...i only.
    public var causal: Bool
    /// A sliding window of W tokens: with `causal`, keys i−W+1...i (Mistral's `sliding_window`);
    /// without, keys with |i − j| ≤ W/2 (ModernBERT's `local_attention`).
    public var window: Int?
    /// Attention only among tokens that share grid coordinates.
    public var grid: GridMask?

    public init(causal: Bool = false, window: Int? = nil, grid: GridMask? = nil) {
        self.causal = causal
        self.window = window
        self.grid = grid
    }

    /// Every token attends to every token of its sequence.
    public static let none = AttentionMask()
    /// Token i attends to tokens 0...i.
    public static let causal = AttentionMask(causal: true)

    /// The same mask with causal attention added.
    public var addingCausal: AttentionMask {
        var m = self
        m.causal = true
        return m
    }

    /// The keys query i of a sequence of n tokens may see lie in lo...hi (an empty range when hi < lo);
    /// the grid further thins them.
    @inline(__always)
    func band(_ i: Int, _ n: Int) -> (lo: Int, hi: Int) {
        var lo = 0, hi = n - 1
        if causal { hi = min(hi, i) }
        if let w = window {
            if causal { lo = max(lo, i - w + 1) } else { lo = max(lo, i - w / 2); hi = min(hi, i + w / 2) }
        }
        return (lo, hi)
    }

    /// Whether query i may attend to key j in a sequence of n tokens (the reference's rule).
    @inline(__always)
    func allows(_ i: Int, _ j: Int, _ n: Int) -> Bool {
        let (lo, hi) = band(i, n)
        return j >= lo && j <= hi && (grid?.allows(i, j) ?? true)
    }
}

/// Head counts and row strides of the projections attention reads: q is [rows, ≥ H·dh] with row
/// stride `queryStride`, k and v [rows, ≥ G·dh] with row stride `keyValueStride`, heads side by
/// side in the columns. G < H is grouped-query attention (G = 1: multi-query): query head h reads
/// key/value head h / (H/G), in place, without copies.
public struct AttentionHeads: Sendable, Equatable {
    public let heads: Int
    public let keyValueHeads: Int
    public let headDim: Int
    public let queryStride: Int
    public let keyValueStride: Int
    /// Row stride of the output [rows, ≥ H·dh].
    public let outputStride: Int

    public init(heads: Int, keyValueHeads: Int? = nil, headDim: Int, queryStride: Int? = nil, keyValueStride: Int? = nil,
                outputStride: Int? = nil) {
        let g = keyValueHeads ?? heads
        precondition(g > 0 && heads % g == 0, "\(heads) query heads cannot share \(g) key/value heads")
        self.heads = heads
        self.keyValueHeads = g
        self.headDim = headDim
        self.queryStride = queryStride ?? heads * headDim
        self.keyValueStride = keyValueStride ?? g * headDim
        self.outputStride = outputStride ?? heads * headDim
    }
}

/// Per-thread tiles of the fused kernel and its job list, allocated once and reused across calls
/// (an encoder keeps one for its whole forward pass, so its layers allocate nothing).
public final class AttentionWorkspace: @unchecked Sendable {
    // Safe to share between the workers of one call: worker w only touches its own slice `w` of
    // every buffer, and the job list is written before the workers start. One workspace serves
    // one call at a time.
    /// Threads the workspace has tiles for.
    public let workers: Int
    let scores: UnsafeMutablePointer<Float>   // [workers, Bq, Bk]
    let rowMax: UnsafeMutablePointer<Float>   // [workers, Bq]
    let rowSum: UnsafeMutablePointer<Float>   // [workers, Bq]
    let alpha: UnsafeMutablePointer<Float>    // [workers, Bq]
    /// (sequence, query block) pairs of the last call, and what they were made for.
    var jobs: [(seq: Int, block: Int)] = []
    var jobsMadeFor: (lengths: [Int], block: Int)?

    /// The (sequence, query block) pairs of `layout` at `bq` rows per block, reused when the last
    /// call had the same lengths.
    func jobs(_ layout: SequenceLayout, block bq: Int) -> [(seq: Int, block: Int)] {
        if let made = jobsMadeFor, made.block == bq, made.lengths == layout.lengths { return jobs }
        jobs.removeAll(keepingCapacity: true)
        for (s, n) in layout.lengths.enumerated() {
            for b in 0..<((n + bq - 1) / bq) { jobs.append((s, b)) }
        }
        jobsMadeFor = (layout.lengths, bq)
        return jobs
    }

    public init(workers: Int = Threads.count) {
        self.workers = max(1, workers)
        scores = .allocate(capacity: self.workers * Attention.queryBlock * Attention.keyBlock)
        rowMax = .allocate(capacity: self.workers * Attention.queryBlock)
        rowSum = .allocate(capacity: self.workers * Attention.queryBlock)
        alpha = .allocate(capacity: self.workers * Attention.queryBlock)
    }

    /// Per worker, the bf16 blocks of `Attention.Tile.run` for heads of `bf16HeadDim`
    /// (allocated by the first bf16 call, grown for wider heads): Q rows, packed K, P rows, packed V.
    private(set) var bf16Tiles: UnsafeMutablePointer<UInt16>?
    private(set) var bf16HeadDim = 0

    /// Elements of one worker's bf16 tiles for heads of width dh.
    static func bf16TileCount(headDim dh: Int) -> Int {
        let bq = Attention.queryBlock, bk = Attention.keyBlock
        return bq * BF16.rowStride(dh) + mmattn_bf16_packed_count(bk, dh) + bq * bk + mmattn_bf16_packed_count(dh, bk)
    }

    /// Make room for bf16 tiles of heads of width dh (before the workers start).
    func reserveBF16(headDim dh: Int) {
        guard dh > bf16HeadDim else { return }
        bf16Tiles?.deallocate()
        bf16Tiles = .allocate(capacity: workers * Self.bf16TileCount(headDim: dh))
        bf16HeadDim = dh
    }

    /// Bytes the workspace holds.
    public var bytes: Int { Self.bytes(workers: workers) + workers * Self.bf16TileCount(headDim: bf16HeadDim) * 2 }

    static func bytes(workers: Int) -> Int { workers * (Attention.queryBlock * Attention.keyBlock + 3 * Attention.queryBlock) * 4 }

    deinit {
        scores.deallocate()
        rowMax.deallocate()
        rowSum.deallocate()
        alpha.deallocate()
        bf16Tiles?.deallocate()
    }
}

public enum Attention {
    /// Query rows per tile at most (the workspace holds this many). Measured on 2 cores at 12 × 64
    /// heads: 256 × 256 tiles ran at 81–86 % of the sgemm rate for T ≥ 1024, 64 × 256 at 70–73 %
    /// (each tile's GEMMs re-pack their K and V panels, so taller tiles pack less per FLOP).
    public static let queryBlock = 256
    /// Key rows per tile.
    public static let keyBlock = 256
    /// Queries a tile needs to run on bf16 blocks (see `compute`).
    static let bf16MinimumQueries = 16

    /// Query rows per tile for `mask` over sequences of at most `length` tokens. A sliding window
    /// of W keys needs only about Bq + W keys per tile, so short tiles waste less on keys outside
    /// every query's window. A causal tile on the diagonal computes its masked half too: up to
    /// 2,048 tokens, 64-row tiles measured 15–40 % faster than 256-row ones (T = 256…1024, 12 × 64
    /// heads, 2 threads), from 4,096 on 256-row ones 8 % faster.
    static func queryBlock(for mask: AttentionMask, length: Int) -> Int {
        if let w = mask.window { return min(queryBlock, max(32, (w / 2 + 15) / 16 * 16)) }
        return mask.causal && length <= 2048 ? 64 : queryBlock
    }

    /// Fused multi-head scaled dot-product attention with an online softmax: per (sequence, head,
    /// block of queries: 256, or fewer for short causal sequences and windows, see
    /// `queryBlock(for:length:)`) the scores of one block of 256 keys at a time (S = α·Q·Kᵀ, a
    /// GEMM on the tile), masked where the tile straddles the mask's edge, exponentiated against
    /// the running row maximum, and accumulated into the output (O += P·V, a GEMM) after
    /// rescaling it by how much the maximum moved. Tiles the mask excludes are skipped, so a
    /// window or a causal mask costs what it keeps. Memory: one 256 × 256 tile per thread and the
    /// job list, whatever the length (in `workspace` when given, reused across calls).
    ///
    /// `out` receives [rows, H·dh] at `outputStride`; padding rows of a padded layout get zeros.
    /// `probs`, when given ([S, H, Tq, Tk], S sequences of at most Tq = `layout.maxLength` queries
    /// and Tk keys; it need not be initialised), receives the probabilities, zeros where masked or
    /// past a sequence's end: that path computes each block's full score rows with the same tile
    /// GEMM and mask, then one softmax per row. Its outputs may differ from the online path's in
    /// the last bits (sums are taken in another order; about 1e-7 on the fixtures).
    ///
    /// `keys`, when given, lays out the rows of k and v apart from the queries' (same number of
    /// sequences): cross-attention (queries from the decoder, keys from the encoder) and a decoder's
    /// key/value cache (the new queries are the last `layout.lengths[s]` of `keys.lengths[s]`
    /// positions, so a causal mask lets query i see keys 0...past+i). Without it keys are the
    /// queries' own rows.
    ///
    /// `dtype` bf16 (where `BF16.isAvailable`) runs the tiles' two products on bf16 copies of
    /// their Q, K, P and V blocks with fp32 accumulation; the online softmax stays fp32. Tiles of
    /// fewer than `bf16MinimumQueries` queries (decoder steps) and the `probs` path stay fp32:
    /// packing a key block costs what one query row's products cost.
    public static func compute(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                               out: UnsafeMutablePointer<Float>, layout: SequenceLayout, keys: SequenceLayout? = nil,
                               heads g: AttentionHeads, scale: Float, mask: AttentionMask,
                               probs: UnsafeMutablePointer<Float>? = nil, workspace: AttentionWorkspace? = nil,
                               dtype: DType = .f32) {
        let keys = keys ?? layout
        precondition(keys.count == layout.count, "\(layout.count) query sequences but \(keys.count) key sequences")
        // (sequence, query block) pairs; a job is one pair and one head, heads innermost.
        let bq = queryBlock(for: mask, length: keys.maxLength)
        let space = workspace ?? AttentionWorkspace()
        let pairs = space.jobs(layout, block: bq)
        let jobs = pairs.count * g.heads
        let workers = max(1, min(space.workers, jobs))
        let bf16 = dtype == .bf16 && probs == nil && BF16.isAvailable
        if bf16 { space.reserveBF16(headDim: g.headDim) }
        let tileCount = AttentionWorkspace.bf16TileCount(headDim: space.bf16HeadDim)
        BLAS.prepare()
        pairs.withUnsafeBufferPointer { pairs in
            Threads.forEachWorker(workers) { w in
                var job = w
                while job < jobs {
                    let (s, block) = pairs[job / g.heads], h = job % g.heads
                    let tile = Tile(layout: layout, keys: keys, heads: g, sequence: s, block: block, rows: bq, head: h)
                    if let probs {
                        tile.runWithProbabilities(q: q, k: k, v: v, out: out, scale: scale, mask: mask, probs: probs,
                                                  queries: layout.maxLength, keys: keys.maxLength)
                    } else {
                        let bf16Tiles = bf16 && tile.m >= bf16MinimumQueries ? space.bf16Tiles.map { $0 + w * tileCount } : nil
                        tile.run(q: q, k: k, v: v, out: out, scale: scale, mask: mask,
                                 scores: space.scores + w * queryBlock * keyBlock,
                                 rowMax: space.rowMax + w * queryBlock, rowSum: space.rowSum + w * queryBlock,
                                 alpha: space.alpha + w * queryBlock, tiles: bf16Tiles)
                    }
                    job += workers
                }
            }
        }
        if let T = layout.paddedTokens {
            for (s, n) in layout.lengths.enumerated() where n < T {
                for r in (layout.starts[s] + n)..<(layout.starts[s] + T) {
                    (out + r * g.outputStride).update(repeating: 0, count: g.heads * g.headDim)
                }
            }
        }
        if let probs { zeroEmptySequences(probs, layout: layout, keys: keys, heads: g.heads) }
        withExtendedLifetime(space) {}
    }

    /// Bytes `compute` allocates besides its inputs and outputs when given no workspace: one tile
    /// per worker and the job list. Nothing in it grows with the square of the length.
    public static func scratchBytes(layout: SequenceLayout, mask: AttentionMask, workers: Int = Threads.count) -> Int {
        let bq = queryBlock(for: mask, length: layout.maxLength)  // keys = queries here
        let pairs = layout.lengths.reduce(0) { $0 + ($1 + bq - 1) / bq }
        return AttentionWorkspace.bytes(workers: workers) + pairs * MemoryLayout<(seq: Int, block: Int)>.stride
    }

    /// Sequences without queries have no query block: their probability rows are zeroed here.
    private static func zeroEmptySequences(_ probs: UnsafeMutablePointer<Float>, layout: SequenceLayout,
                                           keys: SequenceLayout, heads: Int) {
        let plane = layout.maxLength * keys.maxLength
        for (s, n) in layout.lengths.enumerated() where n == 0 {
            (probs + s * heads * plane).update(repeating: 0, count: heads * plane)
        }
    }

    /// One job: a block of up to `queryBlock` queries of one sequence and one head.
    private struct Tile {
        let dh: Int, ldq: Int, ldkv: Int, ldo: Int
        let n: Int        // keys of the sequence
        let queries: Int  // queries of the sequence
        let past: Int     // keys before the first query: query i sits at position past + i
        let i0: Int, m: Int  // first query (position past + i0) and number of queries
        let qOffset: Int, kvOffset: Int, oOffset: Int
        let seq: Int, head: Int, heads: Int

        init(layout: SequenceLayout, keys: SequenceLayout, heads g: AttentionHeads, sequence s: Int, block: Int,
             rows bq: Int, head h: Int) {
            dh = g.headDim; ldq = g.queryStride; ldkv = g.keyValueStride; ldo = g.outputStride
            n = keys.lengths[s]
            queries = layout.lengths[s]
            past = max(0, n - queries)
            i0 = block * bq
            m = min(bq, queries - i0)
            let kvHead = h / (g.heads / g.keyValueHeads)
            qOffset = (layout.starts[s] + i0) * ldq + h * dh
            kvOffset = keys.starts[s] * ldkv + kvHead * dh
            oOffset = (layout.starts[s] + i0) * ldo + h * dh
            seq = s; head = h; heads = g.heads
        }

        /// The keys any query of the block may see, lo..<hi.
        func keyRange(_ mask: AttentionMask) -> (lo: Int, hi: Int) {
            (mask.band(past + i0, n).lo, mask.band(past + i0 + m - 1, n).hi + 1)
        }

        /// Set the scores the mask forbids to −∞ in rows 0..<m, columns j0..<j0+nk of `s` (row stride ld).
        /// Returns false when the tile keeps no score at all.
        @inline(__always)
        func applyMask(_ s: UnsafeMutablePointer<Float>, ld: Int, j0: Int, nk: Int, _ mask: AttentionMask) -> Bool {
            var kept = false
            for r in 0..<m {
                let i = past + i0 + r, row = s + r * ld
                let (lo, hi) = mask.band(i, n)
                let a = min(max(lo - j0, 0), nk), b = min(max(hi + 1 - j0, a), nk)  // allowed columns a..<b
                if a > 0 { row.update(repeating: -.infinity, count: a) }
                if b < nk { (row + b).update(repeating: -.infinity, count: nk - b) }
                if let grid = mask.grid {
                    for c in a..<b where !grid.allows(i, j0 + c) { row[c] = -.infinity }
                    if !kept { for c in a..<b where row[c] != -.infinity { kept = true; break } }
                } else if a < b {
                    kept = true
                }
            }
            return kept
        }

        /// Whether every query of the block may see every key j0..<j0+nk.
        @inline(__always)
        func isFull(j0: Int, nk: Int, _ mask: AttentionMask) -> Bool {
            guard mask.grid == nil else { return false }
            // Bands are monotone: the first row has the smallest hi, the last the largest lo.
            return mask.band(past + i0 + m - 1, n).lo <= j0 && mask.band(past + i0, n).hi >= j0 + nk - 1
        }

        /// The online-softmax loop over the block's key blocks. With `tiles` (this worker's bf16
        /// space, `AttentionWorkspace.bf16TileCount` elements) both products run on bf16 blocks with
        /// fp32 sums: the query block rounded once, each key block's K and V packed for the kernel,
        /// its probabilities rounded after the fp32 softmax step. Without, both are `sgemm`s.
        func run(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                 scale: Float, mask: AttentionMask, scores: UnsafeMutablePointer<Float>,
                 rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>, alpha: UnsafeMutablePointer<Float>,
                 tiles: UnsafeMutablePointer<UInt16>?) {
            let bq = Attention.queryBlock, bk = Attention.keyBlock, ldqa = BF16.rowStride(dh)
            let o = out + oOffset  // [m, dh] at stride ldo
            // The bf16 blocks, when the tile runs in bf16.
            let qa = tiles                                                 // [bq, ldqa] queries
            let kPacked = qa.map { $0 + bq * ldqa }                        // keys [bk, dh] packed as rows
            let pa = kPacked.map { $0 + mmattn_bf16_packed_count(bk, dh) } // [bq, bk] probabilities
            let vPacked = pa.map { $0 + bq * bk }                          // values [bk, dh] packed as columns
            if let qa { mmattn_bf16_convert_rows(q + qOffset, ldq, m, dh, qa, ldqa) }
            rowMax.update(repeating: -.infinity, count: m)
            rowSum.update(repeating: 0, count: m)
            var first = true
            let (lo, hi) = keyRange(mask)
            var j0 = lo
            while j0 < hi {
                let nk = min(bk, hi - j0)
                if let grid = mask.grid, grid.excludes(queries: past + i0, past + i0 + m, keys: j0, j0 + nk) {
                    j0 += nk
                    continue
                }
                let kj = k + kvOffset + j0 * ldkv, vj = v + kvOffset + j0 * ldkv  // [nk, dh] at stride ldkv
                // S = α·Q·Kᵀ: [m, nk], row stride bk.
                if let qa, let kPacked {
                    mmattn_bf16_pack_rows(kj, ldkv, nk, dh, kPacked)
                    mmattn_bf16_gemm(m, nk, dh, scale, qa, ldqa, kPacked, nil, scores, bk, 0)
                } else {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(nk), Int32(dh),
                                scale, q + qOffset, Int32(ldq), kj, Int32(ldkv), 0, scores, Int32(bk))
                }
                if isFull(j0: j0, nk: nk, mask) || applyMask(scores, ld: bk, j0: j0, nk: nk, mask) {
                    // P = exp(S − running max) in place; alpha: how much each row's max moved.
                    mmattn_online_softmax(scores, m, nk, bk, rowMax, rowSum, alpha)
                    if !first {
                        for r in 0..<m where alpha[r] != 1 {
                            let orow = o + r * ldo, a = alpha[r]
                            for d in 0..<dh { orow[d] *= a }
                        }
                    }
                    // O = O + P·V: [m, dh].
                    if let pa, let vPacked {
                        mmattn_bf16_convert_rows(scores, bk, m, nk, pa, bk)
                        mmattn_bf16_pack_columns(vj, ldkv, nk, dh, vPacked)
                        mmattn_bf16_gemm(m, dh, nk, 1, pa, bk, vPacked, nil, o, ldo, first ? 0 : 1)
                    } else {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(dh), Int32(nk),
                                    1, scores, Int32(bk), vj, Int32(ldkv), first ? 0 : 1, o, Int32(ldo))
                    }
                    first = false
                }
                j0 += nk
            }
            normalize(o, first: first, rowSum: rowSum)
        }

        /// Divide each output row by its softmax sum; rows that saw no key become zeros.
        func normalize(_ o: UnsafeMutablePointer<Float>, first: Bool, rowSum: UnsafePointer<Float>) {
            for r in 0..<m {
                let orow = o + r * ldo
                if first || rowSum[r] == 0 {
                    orow.update(repeating: 0, count: dh)  // a query that sees no key
                } else {
                    let inv = 1 / rowSum[r]
                    for d in 0..<dh { orow[d] *= inv }
                }
            }
        }

        func runWithProbabilities(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                  out: UnsafeMutablePointer<Float>, scale: Float, mask: AttentionMask,
                                  probs: UnsafeMutablePointer<Float>, queries Tq: Int, keys T: Int) {
            let p = probs + ((seq * heads + head) * Tq + i0) * T  // [m, T] rows of this block
            let o = out + oOffset
            let (lo, hi) = keyRange(mask)
            for r in 0..<m { (p + r * T).update(repeating: 0, count: T) }
            if i0 + m == queries && queries < Tq {  // the sequence's last block also clears the padding rows
                (p + m * T).update(repeating: 0, count: (Tq - queries) * T)
            }
            guard lo < hi else {
                for r in 0..<m { (o + r * ldo).update(repeating: 0, count: dh) }
                return
            }
            let s = p + lo  // [m, hi − lo] at stride T
            let nk = hi - lo
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(nk), Int32(dh),
                        scale, q + qOffset, Int32(ldq), k + kvOffset + lo * ldkv, Int32(ldkv), 0, s, Int32(T))
            if !isFull(j0: lo, nk: nk, mask) { _ = applyMask(s, ld: T, j0: lo, nk: nk, mask) }
            for r in 0..<m { Kernels.softmax(s + r * T, nk) }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(dh), Int32(nk),
                        1, s, Int32(T), v + kvOffset + lo * ldkv, Int32(ldkv), 0, o, Int32(ldo))
        }
    }

    /// The textbook definition with scalar loops in Double, kept as the reference the fused kernel is
    /// tested against. Same arguments as `compute`.
    public static func reference(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                 out: UnsafeMutablePointer<Float>, layout: SequenceLayout, keys: SequenceLayout? = nil,
                                 heads g: AttentionHeads, scale: Float, mask: AttentionMask,
                                 probs: UnsafeMutablePointer<Float>? = nil) {
        let keys = keys ?? layout
        let dh = g.headDim, Tq = layout.maxLength, T = keys.maxLength, group = g.heads / g.keyValueHeads
        for r in 0..<layout.rows {
            (out + r * g.outputStride).update(repeating: 0, count: g.heads * dh)
        }
        if let probs { probs.update(repeating: 0, count: layout.count * g.heads * Tq * T) }
        var row = [Double](repeating: 0, count: T)
        for (s, nq) in layout.lengths.enumerated() {
            let r0 = layout.starts[s], k0 = keys.starts[s], n = keys.lengths[s], past = max(0, n - nq)
            for h in 0..<g.heads {
                let kvh = h / group
                for i in 0..<nq {
                    let qi = q + (r0 + i) * g.queryStride + h * dh
                    let o = out + (r0 + i) * g.outputStride + h * dh
                    var best = -Double.infinity
                    for j in 0..<n {
                        guard mask.allows(past + i, j, n) else { row[j] = -.infinity; continue }
                        let kj = k + (k0 + j) * g.keyValueStride + kvh * dh
                        var dot = 0.0
                        for d in 0..<dh { dot += Double(qi[d]) * Double(kj[d]) }
                        row[j] = dot * Double(scale)
                        best = max(best, row[j])
                    }
                    guard best > -.infinity else { continue }
                    var sum = 0.0
                    for j in 0..<n { row[j] = row[j] == -.infinity ? 0 : Foundation.exp(row[j] - best); sum += row[j] }
                    var acc = [Double](repeating: 0, count: dh)
                    for j in 0..<n where row[j] != 0 {
                        let pj = row[j] / sum
                        if let probs { probs[((s * g.heads + h) * Tq + i) * T + j] = Float(pj) }
                        let vj = v + (k0 + j) * g.keyValueStride + kvh * dh
                        for d in 0..<dh { acc[d] += pj * Double(vj[d]) }
                    }
                    for d in 0..<dh { o[d] = Float(acc[d]) }
                }
            }
        }
    }
}

extension SequenceLayout {
    /// The rows of a packed [rows, D] in this (packed) layout as a right-padded [B, T, D], zeros
    /// past each sequence's end.
    public func unpack(_ x: Tensor, tokens T: Int) -> Tensor {
        let D = x.shape[x.shape.count - 1]
        let out = Tensor(zeros: [count, T, D])  // [B, T, D]
        for (s, n) in lengths.enumerated() {
            (out.data + s * T * D).update(from: x.pointer + starts[s] * D, count: min(n, T) * D)
        }
        return out
    }
}
