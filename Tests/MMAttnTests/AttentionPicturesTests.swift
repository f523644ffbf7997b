import Foundation
import Testing
@testable import MMAttn

/// The picture toolkit (canvas, font, colour map) and the attention pictures drawn from small
/// synthetic inputs: each decodes as PNG at the size its layout gives, is not blank, and bad
/// inputs are refused; attention rollout against numbers computed directly.
@Suite struct AttentionPicturesTests {
    /// Rows of a row-stochastic matrix with a deterministic pattern: [rows, cols].
    static func attention(rows: Int, cols: Int, seed: Int) -> [Float] {
        var v = [Float](repeating: 0, count: rows * cols)
        for i in 0..<rows {
            var sum: Float = 0
            for j in 0..<cols {
                let x = Float((i * 31 + j * 17 + seed * 7) % 23) / 23 + (i == j ? 2 : 0)
                v[i * cols + j] = x
                sum += x
            }
            for j in 0..<cols { v[i * cols + j] /= sum }
        }
        return v
    }

    static func picture(width: Int, height: Int) -> RGBImage {
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                p[(y * width + x) * 3] = UInt8(x * 255 / max(width - 1, 1))
                p[(y * width + x) * 3 + 1] = UInt8(y * 255 / max(height - 1, 1))
                p[(y * width + x) * 3 + 2] = 128
            }
        }
        return RGBImage(width: width, height: height, pixels: p)
    }

    /// Decode the canvas's PNG and check it is the canvas, at `width` × `height` when given, and not blank.
    @discardableResult
    static func decoded(_ canvas: Canvas, width: Int? = nil, height: Int? = nil) throws -> RGBImage {
        let image = try PNGImage.decode(data: canvas.png(), file: "picture")
        #expect(image == canvas.image)
        if let width { #expect(image.width == width) }
        if let height { #expect(image.height == height) }
        let n = Double(image.pixels.count)
        let mean = image.pixels.reduce(0.0) { $0 + Double($1) } / n
        let variance = image.pixels.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
        #expect(variance > 100, "the picture is nearly blank (variance \(variance))")
        return image
    }

    // MARK: - Canvas, font, colour map

    @Test func canvasRefusesEmptyAndHugeSizes() {
        #expect(throws: MMAttnError.self) { try Canvas(width: 0, height: 10) }
        #expect(throws: MMAttnError.self) { try Canvas(width: 10, height: -1) }
        #expect(throws: MMAttnError.self) { try Canvas(width: 20_000, height: 20_000) }
        #expect(throws: MMAttnError.self) { try Canvas(width: Int.max / 2, height: 3) }
    }

    @Test func canvasDrawsShapesClipped() throws {
        var c = try Canvas(width: 20, height: 10)
        c.fill(x: -5, y: -5, width: 10, height: 10, color: RGBColor(255, 0, 0))
        #expect(c.color(x: 4, y: 4) == RGBColor(255, 0, 0))
        #expect(c.color(x: 5, y: 5) == .white)
        c.stroke(x: 100, y: 100, width: 5, height: 5, color: .black)  // off the canvas: nothing
        var copy = try Canvas(width: 30, height: 12)
        copy.draw(c.image, x: 5, y: 2, width: c.width, height: c.height, filter: .nearest)
        #expect(copy.color(x: 9, y: 6) == RGBColor(255, 0, 0) && copy.color(x: 4, y: 6) == .white)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("canvas-\(getpid()).png").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try c.write(to: path)
        #expect(try PNGImage.decode(path: path) == c.image)
    }

    @Test func heatmapsAreReducedOrEnlargedToTheirRectangle() throws {
        // [2, 4] reduced to [1, 2]: means and maxima of 2x2 blocks.
        let v: [Float] = [1, 2, 3, 4,
                          5, 6, 7, .nan]
        #expect(Heatmap.reduced(v, rows: 2, cols: 4, toRows: 1, toCols: 2, .mean) == [3.5, 14.0 / 3])
        #expect(Heatmap.reduced(v, rows: 2, cols: 4, toRows: 1, toCols: 2, .max) == [6, 7])
        // Two cells enlarged to 4 pixels each: square cells, the colour map's two ends.
        var c = try Canvas(width: 8, height: 4)
        c.heatmap([0, 1], rows: 1, cols: 2, x: 0, y: 0, width: 8, height: 4, range: 0...1)
        #expect(c.color(x: 3, y: 3) == ColorMap.heat.color(0))
        #expect(c.color(x: 4, y: 0) == ColorMap.heat.color(1))
        // A 1,000 x 1,000 grid into 10 x 10 pixels draws every pixel.
        var big = try Canvas(width: 10, height: 10)
        big.heatmap([Float](repeating: 0.5, count: 1_000_000), rows: 1000, cols: 1000, x: 0, y: 0, width: 10, height: 10, range: 0...1)
        #expect(big.color(x: 9, y: 9) == ColorMap.heat.color(0.5))
    }

    @Test func textChangesPixelsAndFallsBackOutsideASCII() throws {
        #expect(BitmapFont.width(of: "") == 0)
        #expect(BitmapFont.width(of: "0") == 5)
        #expect(BitmapFont.width(of: "10", scale: 2) == 2 * (5 + 1 + 5))  // digits keep their full width
        #expect(BitmapFont.width(of: "é") == BitmapFont.width(of: "e"))
        #expect(BitmapFont.width(of: "Ġthe") == BitmapFont.width(of: "·the"))
        #expect(BitmapFont.width(of: "∑") == 5)  // the hollow box
        var c = try Canvas(width: 200, height: 40)
        for text in ["Ġhello", "▁world", "##ing", "naïve", "日本", "\n\t\u{0}", "😀"] {
            let before = c.pixels
            c.text(text, x: 2, y: 2, scale: 2, color: .black)
            #expect(c.pixels != before, "\(text.debugDescription) drew nothing")
            c.fill(x: 0, y: 0, width: 200, height: 40, color: .white)
        }
        c.text("A", x: 10, y: 30, scale: 1, color: .black, vertical: true)
        #expect(c.pixels.contains(0))
        let short = BitmapFont.truncated("a rather long label", toWidth: 40)
        #expect(short.hasSuffix("…") && BitmapFont.width(of: short) <= 40)
        #expect(BitmapFont.truncated("fits", toWidth: 100) == "fits")
    }

    @Test func colorMapRisesInLuminanceFromDarkToBright() {
        func luminance(_ c: RGBColor) -> Double {
            func linear(_ v: UInt8) -> Double {
                let x = Double(v) / 255
                return x <= 0.04045 ? x / 12.92 : pow((x + 0.055) / 1.055, 2.4)
            }
            return 0.2126 * linear(c.r) + 0.7152 * linear(c.g) + 0.0722 * linear(c.b)
        }
        let levels = (0...255).map { luminance(ColorMap.heat.color(Float($0) / 255)) }
        for i in 1..<levels.count { #expect(levels[i] > levels[i - 1], "luminance falls at \(i)") }
        #expect(levels[0] < 0.02 && levels[255] > 0.8)
        #expect(ColorMap.heat.color(.nan) == ColorMap.missing)
    }

    @Test func colorBarTicksAreRoundNumbers() {
        let unit = ColorBar(range: 0...1)
        #expect(unit.ticks == [0, 0.25, 0.5, 0.75, 1])
        #expect(unit.ticks.map { ColorBar.format($0, step: 0.25) } == ["0", "0.25", "0.5", "0.75", "1"])
        #expect(ColorBar(range: 0...0.137).ticks == [0, 0.05, 0.1])
        #expect(ColorBar(range: -1.2...0.9).ticks == [-1, -0.5, 0, 0.5])
        #expect(ColorBar(range: -1...1).ticks == [-1, -0.5, 0, 0.5, 1])
        #expect(ColorBar.format(0.0803) == "0.0803" && ColorBar.format(12.5) == "12.5" && ColorBar.format(1500) == "1500")
        #expect(ColorScale.zeroToMax.range(of: [0.1, 0.3]) == 0...0.3)
        #expect(ColorScale.dataRange.range(of: [-2, 1, .nan]) == -2...1)
        #expect(ColorScale.zeroToMax.range(of: [0, 0]) == 0...1)
    }

    // MARK: - Rollout

    /// A' = 0.5·A + 0.5·I with rows renormalised, in Double.
    static func residual(_ a: [Double], _ T: Int) -> [Double] {
        var b = a.enumerated().map { 0.5 * $0.element + ($0.offset % (T + 1) == 0 ? 0.5 : 0) }
        for i in 0..<T {
            let s = b[i * T ..< (i + 1) * T].reduce(0, +)
            for j in 0..<T { b[i * T + j] /= s }
        }
        return b
    }

    static func matmul(_ a: [Double], _ b: [Double], _ T: Int) -> [Double] {
        var c = [Double](repeating: 0, count: T * T)
        for i in 0..<T { for j in 0..<T { for k in 0..<T { c[i * T + j] += a[i * T + k] * b[k * T + j] } } }
        return c
    }

    @Test func rolloutOfTwoLayersMatchesNumpy() throws {
        // Layer 1's two heads average to A1; numpy: p(A2) @ p(A1) with p(A) = rows of 0.5·A + 0.5·I normalised.
        let a1: [Float] = [0.5, 0.3, 0.2, 0.1, 0.8, 0.1, 0.3, 0.3, 0.4]
        let d: [Float] = [0.1, -0.1, 0, 0, 0.1, -0.1, -0.2, 0.1, 0.1]
        let a2: [Float] = [1, 0, 0, 0.2, 0.2, 0.6, 0, 0.5, 0.5]
        let layer1 = zip(a1, d).map { $0 + $1 } + zip(a1, d).map { $0 - $1 }
        let probs = Tensor(shape: [2, 2, 3, 3], values: layer1 + a2 + a2)  // [L, H, T, T]
        let expected: [Float] = [0.75, 0.15, 0.1, 0.15, 0.6, 0.25, 0.125, 0.3375, 0.5375]
        let r = try AttentionRollout.rollout(probs)
        #expect(r.shape == [3, 3])
        for (x, e) in zip(r.values, expected) { #expect(abs(x - e) < 1e-6) }
    }

    @Test func rolloutMatchesTheDirectProductAndAddsLayersOneAtATime() throws {
        let L = 4, H = 3, T = 7
        var all = [Float]()
        for l in 0..<L { for h in 0..<H { all += Self.attention(rows: T, cols: T, seed: l * H + h) } }
        let probs = Tensor(shape: [L, H, T, T], values: all)  // [L, H, T, T]
        var expected: [Double]?
        for l in 0..<L {
            var mean = [Double](repeating: 0, count: T * T)
            for h in 0..<H { for k in 0..<(T * T) { mean[k] += Double(all[(l * H + h) * T * T + k]) / Double(H) } }
            let step = Self.residual(mean, T)
            expected = expected.map { Self.matmul(step, $0, T) } ?? step
        }
        let r = try AttentionRollout.rollout(probs)
        for (x, e) in zip(r.values, expected!) { #expect(abs(Double(x) - e) < 1e-5) }
        // Rows of the rollout sum to 1.
        for i in 0..<T { #expect(abs(r.values[i * T ..< (i + 1) * T].reduce(0, +) - 1) < 1e-5) }
        // The same, one layer at a time (head means given for the last layer).
        var incremental = try AttentionRollout(tokens: T)
        #expect(incremental.result.values == (0..<(T * T)).map { $0 % (T + 1) == 0 ? Float(1) : 0 })
        let means = try AttentionRollout.headMean(probs)  // [L, T, T]
        #expect(means.shape == [L, T, T])
        for l in 0..<L - 1 { try incremental.add(Tensor(shape: [H, T, T], values: Array(all[(l * H * T * T)..<((l + 1) * H * T * T)]))) }
        try incremental.add(Tensor(shape: [T, T], values: Array(means.values[((L - 1) * T * T)...])))
        #expect(incremental.layers == L)
        for (x, y) in zip(incremental.result.values, r.values) { #expect(abs(x - y) < 1e-6) }
    }

    @Test func rolloutRefusesBadShapes() throws {
        #expect(throws: MMAttnError.self) { try AttentionRollout.rollout(Tensor(zeros: [2, 3, 4])) }
        #expect(throws: MMAttnError.self) { try AttentionRollout.rollout(Tensor(zeros: [2, 2, 3, 4])) }
        #expect(throws: MMAttnError.self) { try AttentionRollout(tokens: 0) }
        var r = try AttentionRollout(tokens: 3)
        #expect(throws: MMAttnError.self) { try r.add(Tensor(zeros: [2, 4, 4])) }
        #expect(throws: MMAttnError.self) { try AttentionRollout.headMean(Tensor(zeros: [3, 3])) }
    }

    // MARK: - Pictures

    @Test func headGridHasItsLayoutSizeAndLabels() throws {
        let H = 3, T = 5
        var all = [Float]()
        for h in 0..<H { all += Self.attention(rows: T, cols: T, seed: h) }
        let tokens = ["[CLS]", "Ġhé", "##llo", "▁wörld", "[SEP]"]
        let canvas = try AttentionPictures.headGrid(Tensor(shape: [H, T, T], values: all), layerName: "layer 0",
                                                    queryLabels: tokens, keyLabels: tokens, title: "test")
        // Two columns of 5 cells of 48 pixels (at most 400 a side), a row of two panels and one below.
        let panel = AttentionPictures.panelSize(rows: T, cols: T, maxSide: 400)
        #expect(panel.width == 240 && panel.height == 240)
        let left = AttentionPictures.Axis(count: T, pixelsPerItem: 48, labels: tokens, firstIndex: 0, along: .vertical)
        let bottom = AttentionPictures.Axis(count: T, pixelsPerItem: 48, labels: tokens, firstIndex: 0, along: .horizontal)
        #expect(left.labelScale == 2 && bottom.labelScale == 2)
        let bar = ColorBar(range: ColorScale.zeroToMax.range(of: all), caption: ["attention", "max \(ColorBar.format(all.max()!))"])
        let header = AttentionPictures.Header(title: "test", subtitle: ["layer 0: rows are queries, columns are keys; colour is attention probability"])
        let panelTitle = 18 + 6
        let gridX = 24 + left.extent + 4, gridY = 24 + header.height + max(0, bar.captionHeight - panelTitle)
        let width = max(gridX + 2 * 240 + 24 + 24 + bar.width, 24 + header.width) + 24
        let height = gridY + 2 * (panelTitle + 240) + 24 + 4 + bottom.extent + 24
        try Self.decoded(canvas, width: width, height: height)
        #expect(throws: MMAttnError.self) {
            try AttentionPictures.headGrid(Tensor(shape: [H, T, T], values: all), layerName: "l", queryLabels: ["a"], title: "t")
        }
        #expect(throws: MMAttnError.self) { try AttentionPictures.headGrid(Tensor(zeros: [T, T]), layerName: "l", title: "t") }
    }

    @Test func longSequencesAreReducedToBoundedPanels() throws {
        // One head of 1,500 x 1,500 and cross-attention of 4 tokens over 1,500 steps.
        let T = 1500
        var values = [Float](repeating: 1 / Float(T), count: T * T)
        for i in 0..<T { values[i * T + i] = 0.5 }
        let big = try AttentionPictures.headGrid(Tensor(shape: [1, T, T], values: values), layerName: "layer 0", title: "long")
        #expect(AttentionPictures.panelSize(rows: T, cols: T, maxSide: 480) == (width: 480, height: 480))
        #expect(big.width < 1000 && big.height < 800, "\(big.width)x\(big.height)")
        try Self.decoded(big)
        let cross = try AttentionPictures.headGrid(Tensor(shape: [2, 4, T], values: [Float](repeating: 1 / Float(T), count: 2 * 4 * T)),
                                                   layerName: "cross", queryLabels: ["a", "b", "c", "d"], title: "cross")
        let panel = AttentionPictures.panelSize(rows: 4, cols: T, maxSide: 400)
        #expect(panel.width == 400 && panel.height == 4 * 48)
        #expect(cross.width < 1200)
    }

    @Test func imageAttentionShowsThePictureAndEachMap() throws {
        let image = Self.picture(width: 224, height: 224)
        let cls = (0..<196).map { Float($0 % 14) / 100 }, rollout = (0..<196).map { Float($0 / 14) / 500 }
        let canvas = try AttentionPictures.imageAttention(image: image, rows: 14, cols: 14,
                                                          maps: [("CLS attention", cls), ("rollout", rollout)], title: "vit")
        // Three 448-pixel panels, 24 apart, then the bar; the header, panel titles (or the bar's
        // two-line caption) above, a line of text below.
        let bar = ColorBar(range: 0...1, caption: ["share of", "the map's max"])
        let header = AttentionPictures.Header(title: "vit", subtitle: ["14x14 patches, each map scaled to its own maximum and blended over the picture"])
        let width = max(24 + 3 * 448 + 2 * 24 + 24 + bar.width, 24 + header.width) + 24
        let height = 24 + header.height + max(24, bar.captionHeight) + 448 + 26 + 24
        let decoded = try Self.decoded(canvas, width: width, height: height)
        // The plain picture is drawn unblended: its top-left pixel is the input's, enlarged.
        let top = 24 + header.height + max(24, bar.captionHeight)
        #expect(decoded.pixels[(top * decoded.width + 24) * 3 + 2] == 128)
        #expect(throws: MMAttnError.self) {
            try AttentionPictures.imageAttention(image: image, rows: 14, cols: 14, maps: [("short", [0, 1])], title: "t")
        }
    }

    @Test func audioAttentionSharesOneTimeAxis() throws {
        let mels = 8, frames = 300
        let mel = Tensor(shape: [mels, frames], values: (0..<(mels * frames)).map { Float(($0 * 37) % 101) / 50 - 1 })
        let curve = (0..<150).map { Float($0 % 10) }
        let words = [WhisperTranscript.Word(text: " hello", start: 0.2, end: 0.9), WhisperTranscript.Word(text: " world", start: 1.1, end: 2.5)]
        var align = [Float](repeating: 0, count: 2 * 150)
        for s in 10..<45 { align[s] = 1 }
        for s in 55..<125 { align[150 + s] = 1 }
        let plain = try AttentionPictures.audioAttention(logMel: mel, secondsPerFrame: 0.01, attention: curve, secondsPerStep: 0.02, title: "t")
        let full = try AttentionPictures.audioAttention(logMel: mel, secondsPerFrame: 0.01, attention: curve, secondsPerStep: 0.02, title: "t",
                                                        transcript: .init(words: words, alignment: Tensor(shape: [2, 150], values: align)))
        try Self.decoded(plain)
        try Self.decoded(full)
        // The transcript adds a words track (gap and panel title, 24 + 24, and 30) and two
        // alignment rows (24 + 24 + 2 x 22), with their labels on the left and a colour bar.
        #expect(full.width >= plain.width)
        #expect(full.height == plain.height + 24 + 24 + 30 + 24 + 24 + 2 * 22)
        #expect(throws: MMAttnError.self) {
            try AttentionPictures.audioAttention(logMel: mel, secondsPerFrame: 0, attention: curve, secondsPerStep: 0.02, title: "t")
        }
        #expect(throws: MMAttnError.self) {
            try AttentionPictures.audioAttention(logMel: mel, secondsPerFrame: 0.01, attention: curve, secondsPerStep: 0.02, title: "t",
                                                 transcript: .init(words: words, alignment: Tensor(zeros: [3, 150]), labels: ["a", "b"]))
        }
        // Token rows that are not one per word are numbered.
        try Self.decoded(AttentionPictures.audioAttention(logMel: mel, secondsPerFrame: 0.01, attention: curve, secondsPerStep: 0.02, title: "t",
                                                          transcript: .init(words: words, alignment: Tensor(shape: [3, 100], values: Array(align.prefix(300))))))
    }

    @Test func proteinContactsSitBesideMeanAttention() throws {
        let L = 20
        var contacts = [Float](repeating: 0, count: L * L)
        for i in 0..<L { for j in 0..<L where abs(i - j) < 3 { contacts[i * L + j] = 1 } }
        let attention = Self.attention(rows: L, cols: L, seed: 1)
        let canvas = try AttentionPictures.proteinContacts(contacts: Tensor(shape: [L, L], values: contacts),
                                                           meanAttention: Tensor(shape: [L, L], values: attention),
                                                           residues: "MKTAYIAKQRQISFVKSHFS", title: "esm")
        // 20 residues of 24 pixels: two 480-pixel maps.
        #expect(AttentionPictures.panelSize(rows: L, cols: L, maxSide: 540, maxCell: 24) == (width: 480, height: 480))
        let image = try Self.decoded(canvas)
        #expect(image.width > 2 * 480 && image.height > 480)
        #expect(throws: MMAttnError.self) {
            try AttentionPictures.proteinContacts(contacts: Tensor(shape: [L, L], values: contacts),
                                                  meanAttention: Tensor(shape: [L, L], values: attention), residues: "MK", title: "t")
        }
        #expect(throws: MMAttnError.self) {
            try AttentionPictures.proteinContacts(contacts: Tensor(zeros: [L, L]), meanAttention: Tensor(zeros: [L, L + 1]), residues: "", title: "t")
        }
    }

    @Test func videoStripWrapsAfterEightFrames() throws {
        let frame = Self.picture(width: 32, height: 32)
        let map = (0..<16).map { Float($0) }
        let eight = try AttentionPictures.videoStrip(frames: Array(repeating: frame, count: 8), rows: 4, cols: 4,
                                                     maps: Array(repeating: map, count: 8), frameLabels: [], title: "v")
        let ten = try AttentionPictures.videoStrip(frames: Array(repeating: frame, count: 10), rows: 4, cols: 4,
                                                   maps: Array(repeating: map, count: 10), frameLabels: [], title: "v")
        try Self.decoded(eight)
        try Self.decoded(ten)
        // Eight 163-pixel tiles (1400 / 8 - 12) in one row; ten in two rows of five.
        #expect(AttentionPictures.fitted(frame, longestSide: min(300, 1400 / 8 - 12)) == (width: 163, height: 163))
        #expect(ten.height > eight.height + 163)
        #expect(throws: MMAttnError.self) {
            try AttentionPictures.videoStrip(frames: [frame], rows: 4, cols: 4, maps: [map, map], frameLabels: [], title: "v")
        }
        #expect(throws: MMAttnError.self) {
            try AttentionPictures.videoStrip(frames: [frame], rows: 4, cols: 4, maps: [[1]], frameLabels: [], title: "v")
        }
    }
}
