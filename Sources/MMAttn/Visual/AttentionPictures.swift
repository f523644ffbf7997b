import Foundation

/// The attention pictures `mmattn attention --png` draws, from numbers already computed: a title
/// (and a gray subtitle) at the top left, panels with their own titles, axes labelled with tokens
/// when they fit (indices otherwise), and a colour bar with round tick values. White background,
/// one colour map (`ColorMap.heat`) and one font (`BitmapFont`) throughout.
public enum AttentionPictures {
    // MARK: - Heads of one layer

    /// One heatmap per head of a layer, about √H per row: `probs` [H, Tq, Tk], query tokens down
    /// the left, key tokens under each column's last panel (their labels when the cells are large
    /// enough, indices otherwise), one colour bar for all heads. A panel is at most 400 pixels a
    /// side (less for many heads); longer sequences are reduced to the mean of the cells each pixel
    /// covers. `headNames` and the labels may be empty (then "head h" and indices).
    public static func headGrid(_ probs: Tensor, headNames: [String] = [], layerName: String, queryLabels: [String] = [],
                                keyLabels: [String] = [], title: String) throws -> Canvas {
        guard probs.shape.count == 3, probs.count > 0 else {
            throw MMAttnError("a head grid needs attention of shape [heads, queries, keys]; got \(probs.shape)")
        }
        let H = probs.shape[0], Tq = probs.shape[1], Tk = probs.shape[2]
        try check(headNames, count: H, of: "head names", for: "heads")
        try check(queryLabels, count: Tq, of: "query labels", for: "queries")
        try check(keyLabels, count: Tk, of: "key labels", for: "keys")
        let columns = Int(Double(H).squareRoot().rounded(.up)), gridRows = (H + columns - 1) / columns
        let maxPanel = H == 1 ? 480 : H <= 4 ? 400 : min(320, max(180, 1280 / columns))
        let panel = panelSize(rows: Tq, cols: Tk, maxSide: maxPanel)
        // Each head reduced to the pixels it is drawn on first, so that the colour scale is that of
        // the values drawn.
        let gridH = min(Tq, panel.height), gridW = min(Tk, panel.width)
        var grids = [[Float]]()  // H × [gridH, gridW]
        withExtendedLifetime(probs) {
            for h in 0..<H {
                let head = Array(UnsafeBufferPointer(start: probs.pointer + h * Tq * Tk, count: Tq * Tk))  // [Tq, Tk]
                grids.append(gridH == Tq && gridW == Tk ? head
                             : Heatmap.reduced(head, rows: Tq, cols: Tk, toRows: gridH, toCols: gridW, .mean))
            }
        }
        let range = ColorScale.zeroToMax.range(of: Array(grids.joined()))
        let left = Axis(count: Tq, pixelsPerItem: Double(panel.height) / Double(Tq), labels: queryLabels, firstIndex: 0, along: .vertical)
        let bottom = Axis(count: Tk, pixelsPerItem: Double(panel.width) / Double(Tk), labels: keyLabels, firstIndex: 0, along: .horizontal)

        var subtitle = ["\(layerName): rows are queries, columns are keys; colour is attention probability"]
        if Tq > panel.height || Tk > panel.width {
            subtitle.append("\(Tq)x\(Tk) tokens: each pixel is the mean of the cells it covers")
        }
        let header = Header(title: title, subtitle: subtitle)
        let bar = ColorBar(range: range, caption: ["attention", "max \(ColorBar.format(range.upperBound))"])

        let panelTitle = BitmapFont.height(scale: Style.textScale) + 6
        let gridX = Style.margin + left.extent + 4
        let gridY = Style.margin + header.height + max(0, bar.captionHeight - panelTitle)
        let stepX = panel.width + Style.gap, stepY = panelTitle + panel.height + Style.gap
        let gridWidth = columns * panel.width + (columns - 1) * Style.gap
        // Key labels go under the last panel of each column, into the empty slot below it if the
        // last row is short.
        var bottomEdge = 0
        for c in 0..<columns {
            let lastRow = (H - 1 - c) / columns
            bottomEdge = max(bottomEdge, gridY + panelTitle + lastRow * stepY + panel.height + 4 + bottom.extent)
        }
        bottomEdge = max(bottomEdge, gridY + (gridRows - 1) * stepY + panelTitle + panel.height)
        let barX = gridX + gridWidth + Style.gap
        let barHeight = min(max(panel.height, 100), 360)
        let width = max(barX + bar.width, Style.margin + header.width) + Style.margin
        let height = max(bottomEdge, gridY + panelTitle + barHeight) + Style.margin

        var canvas = try Canvas(width: width, height: height)
        header.draw(on: &canvas)
        for h in 0..<H {
            let c = h % columns, r = h / columns
            let x = gridX + c * stepX, y = gridY + r * stepY + panelTitle
            let name = headNames.isEmpty ? "head \(h)" : headNames[h]
            canvas.text(BitmapFont.truncated(name, toWidth: panel.width, scale: Style.textScale), x: x, y: y - panelTitle,
                        scale: Style.textScale, color: Style.text)
            canvas.heatmap(grids[h], rows: gridH, cols: gridW, x: x, y: y, width: panel.width, height: panel.height, range: range)
            if c == 0 { left.draw(on: &canvas, x: x, y: y, length: panel.height) }
            if h + columns >= H { bottom.draw(on: &canvas, x: x, y: y + panel.height, length: panel.width) }
        }
        bar.draw(on: &canvas, x: barX, y: gridY + panelTitle - bar.captionHeight, height: barHeight)
        return canvas
    }

    // MARK: - Images

    /// The input picture (as the model saw it, shown at about 448 pixels) and, beside it, each
    /// map over the patch grid (`rows` × `cols` values, row-major) upsampled bilinearly and
    /// blended over the picture, each scaled to its own maximum (written under it); one colour
    /// bar in shares of that maximum.
    public static func imageAttention(image: RGBImage, rows: Int, cols: Int, maps: [(title: String, values: [Float])],
                                      title: String) throws -> Canvas {
        guard image.width > 0, image.height > 0 else { throw MMAttnError("the picture to draw attention over is empty") }
        guard rows > 0, cols > 0 else { throw MMAttnError("a patch grid of \(rows)x\(cols) is empty") }
        for m in maps where m.values.count != rows * cols {
            throw MMAttnError("the map \"\(m.title)\" has \(m.values.count) values for a \(rows)x\(cols) patch grid")
        }
        let side = fitted(image, longestSide: 448)
        let header = Header(title: title, subtitle: ["\(rows)x\(cols) patches, each map scaled to its own maximum and blended over the picture"])
        let bar = ColorBar(range: 0...1, caption: ["share of", "the map's max"])
        let panelTitle = BitmapFont.height(scale: Style.textScale) + 6
        let under = BitmapFont.height(scale: Style.textScale) + 8
        let panels = 1 + maps.count
        let top = Style.margin + header.height + max(panelTitle, bar.captionHeight)
        let barX = Style.margin + panels * side.width + (panels - 1) * Style.gap + Style.gap
        let width = max(barX + bar.width, Style.margin + header.width) + Style.margin
        let height = top + side.height + under + Style.margin

        var canvas = try Canvas(width: width, height: height)
        header.draw(on: &canvas)
        var x = Style.margin
        canvas.text("input", x: x, y: top - panelTitle, scale: Style.textScale, color: Style.text)
        canvas.draw(image, x: x, y: top, width: side.width, height: side.height)
        canvas.text("\(image.width)x\(image.height) pixels", x: x, y: top + side.height + 6, scale: Style.textScale, color: Style.secondaryText)
        for m in maps {
            x += side.width + Style.gap
            let peak = m.values.filter { !$0.isNaN }.max() ?? 0
            canvas.text(BitmapFont.truncated(m.title, toWidth: side.width, scale: Style.textScale), x: x, y: top - panelTitle,
                        scale: Style.textScale, color: Style.text)
            overlay(m.values, rows: rows, cols: cols, range: 0...max(peak, .leastNormalMagnitude), on: &canvas, image: image,
                    x: x, y: top, width: side.width, height: side.height)
            canvas.text("max \(ColorBar.format(peak))", x: x, y: top + side.height + 6, scale: Style.textScale, color: Style.secondaryText)
        }
        bar.draw(on: &canvas, x: barX, y: top - bar.captionHeight, height: side.height)
        return canvas
    }

    // MARK: - Video

    /// Each frame with its map (`rows` × `cols` values, row-major) upsampled and blended over it,
    /// in a strip (two rows when there are more than 8 frames), labelled underneath; one colour
    /// scale for all frames, from 0 to the largest value.
    public static func videoStrip(frames: [RGBImage], rows: Int, cols: Int, maps: [[Float]], frameLabels: [String],
                                  title: String) throws -> Canvas {
        guard !frames.isEmpty else { throw MMAttnError("a video strip needs at least one frame") }
        guard maps.count == frames.count else { throw MMAttnError("\(maps.count) attention maps for \(frames.count) frames") }
        try check(frameLabels, count: frames.count, of: "frame labels", for: "frames")
        guard rows > 0, cols > 0 else { throw MMAttnError("a patch grid of \(rows)x\(cols) is empty") }
        for (i, m) in maps.enumerated() where m.count != rows * cols {
            throw MMAttnError("the map of frame \(i) has \(m.count) values for a \(rows)x\(cols) patch grid")
        }
        for (i, f) in frames.enumerated() where f.width == 0 || f.height == 0 { throw MMAttnError("frame \(i) is empty") }
        let n = frames.count
        let perRow = n <= 8 ? n : (n + 1) / 2
        let stripRows = (n + perRow - 1) / perRow
        let tile = fitted(frames[0], longestSide: min(300, 1400 / perRow - Style.gap / 2))
        let peak = maps.joined().filter { !$0.isNaN }.max() ?? 0
        let range: ClosedRange<Float> = 0...max(peak, .leastNormalMagnitude)
        let header = Header(title: title, subtitle: ["\(n) frames, \(rows)x\(cols) patches each; one colour scale for all frames"])
        let bar = ColorBar(range: range, caption: ["attention", "max \(ColorBar.format(peak))"])
        let under = BitmapFont.height(scale: Style.textScale) + 10
        let top = Style.margin + header.height + bar.captionHeight
        let stepX = tile.width + Style.gap / 2, stepY = tile.height + under + Style.gap / 2
        let barX = Style.margin + perRow * stepX + Style.gap / 2
        let width = max(barX + bar.width, Style.margin + header.width) + Style.margin
        let height = top + stripRows * stepY - Style.gap / 2 + Style.margin

        var canvas = try Canvas(width: width, height: height)
        header.draw(on: &canvas)
        for i in 0..<n {
            let x = Style.margin + (i % perRow) * stepX, y = top + (i / perRow) * stepY
            overlay(maps[i], rows: rows, cols: cols, range: range, on: &canvas, image: frames[i], x: x, y: y,
                    width: tile.width, height: tile.height)
            let label = frameLabels.isEmpty ? "frame \(i + 1)" : frameLabels[i]
            canvas.text(BitmapFont.truncated(label, toWidth: tile.width, scale: Style.textScale), x: x + tile.width / 2,
                        y: y + tile.height + 6, scale: Style.textScale, color: Style.text, align: .center)
        }
        bar.draw(on: &canvas, x: barX, y: top - bar.captionHeight, height: min(tile.height * stripRows, 360))
        return canvas
    }

    // MARK: - Proteins

    /// The predicted contact map (`contacts` [L, L], probabilities) beside a mean attention map
    /// (`meanAttention` [L, L]), each with its own colour bar, residue numbers (1-based) on both
    /// axes and, when L is small enough, the residue letters of `residues` along the top and left.
    /// Maps are at most 540 pixels a side; longer proteins are reduced to the largest value each
    /// pixel covers, so that isolated contacts stay visible.
    public static func proteinContacts(contacts: Tensor, meanAttention: Tensor, residues: String, title: String,
                                       attentionTitle: String = "mean attention") throws -> Canvas {
        guard contacts.shape.count == 2, contacts.shape[0] == contacts.shape[1], contacts.count > 0 else {
            throw MMAttnError("a contact map must be square [L, L]; got \(contacts.shape)")
        }
        let L = contacts.shape[0]
        guard meanAttention.shape == [L, L] else {
            throw MMAttnError("the attention map has shape \(meanAttention.shape); the contact map is [\(L), \(L)]")
        }
        let letters = residues.map { String($0) }
        try check(letters, count: L, of: "residue letters", for: "residues")
        let panel = panelSize(rows: L, cols: L, maxSide: 540, maxCell: 24)
        let side = panel.width, cell = Double(side) / Double(L)
        let indexLeft = Axis(count: L, pixelsPerItem: cell, labels: [], firstIndex: 1, along: .vertical)
        let indexBottom = Axis(count: L, pixelsPerItem: cell, labels: [], firstIndex: 1, along: .horizontal)
        let letterScale = letters.isEmpty ? nil : cell >= 20 ? 2 : cell >= 9 ? 1 : nil
        let letterBand = letterScale.map { BitmapFont.height(scale: $0) + 3 } ?? 0

        var subtitle = ["\(L) residues, numbered from 1"]
        if L > side { subtitle.append("each pixel is the largest value of the residue pairs it covers") }
        let header = Header(title: title, subtitle: subtitle)
        let contactBar = ColorBar(range: 0...1, caption: ["probability"])
        let attentionValues = meanAttention.values  // [L, L]
        let attentionRange = ColorScale.zeroToMax.range(of: attentionValues)
        let attentionBar = ColorBar(range: attentionRange, caption: ["attention", "max \(ColorBar.format(attentionRange.upperBound))"])
        let panelTitle = BitmapFont.height(scale: Style.textScale) + 6
        let top = Style.margin + header.height + max(panelTitle, max(contactBar.captionHeight, attentionBar.captionHeight) - letterBand) + letterBand
        let x1 = Style.margin + indexLeft.extent + 4 + letterBand
        let bar1X = x1 + side + Style.gap / 2
        let x2 = bar1X + contactBar.width + Style.gap * 2 + indexLeft.extent + 4 + letterBand
        let bar2X = x2 + side + Style.gap / 2
        let width = max(bar2X + attentionBar.width, Style.margin + header.width) + Style.margin
        let height = top + side + 4 + indexBottom.extent + Style.margin

        var canvas = try Canvas(width: width, height: height)
        header.draw(on: &canvas)
        let panels: [(x: Int, title: String, values: [Float], range: ClosedRange<Float>, bar: ColorBar, barX: Int)] = [
            (x1, "predicted contacts", contacts.values, 0...1, contactBar, bar1X),
            (x2, attentionTitle, attentionValues, attentionRange, attentionBar, bar2X),
        ]
        for p in panels {
            canvas.text(BitmapFont.truncated(p.title, toWidth: side + Style.gap, scale: Style.textScale), x: p.x,
                        y: top - letterBand - panelTitle, scale: Style.textScale, color: Style.text)
            canvas.heatmap(p.values, rows: L, cols: L, x: p.x, y: top, width: side, height: side, range: p.range, reduction: .max)
            indexLeft.draw(on: &canvas, x: p.x - letterBand, y: top, length: side)
            indexBottom.draw(on: &canvas, x: p.x, y: top + side, length: side)
            if let s = letterScale {
                for (i, letter) in letters.enumerated() {
                    let center = p.x + Int((Double(i) + 0.5) * cell)
                    canvas.text(letter, x: center, y: top - letterBand, scale: s, color: Style.secondaryText, align: .center)
                    let middle = top + Int((Double(i) + 0.5) * cell) - BitmapFont.capHeight * s / 2
                    canvas.text(letter, x: p.x - 3, y: middle, scale: s, color: Style.secondaryText, align: .right)
                }
            }
            p.bar.draw(on: &canvas, x: p.barX, y: top - p.bar.captionHeight, height: min(side, 360))
        }
        return canvas
    }

    // MARK: - Audio

    /// A transcript to draw under the spectrogram: words with their times, and optionally an
    /// alignment matrix of weights over time (one row per word or token, `labels` naming them).
    public struct Transcript: Sendable {
        public var words: [WhisperTranscript.Word]
        /// [rows, steps]: how strongly each row attends to each time step (alignment heads).
        public var alignment: Tensor?
        /// One label per alignment row (empty: the words' texts when there is a row per word, else
        /// row numbers from 0).
        public var labels: [String]
        /// Seconds per alignment time step (Whisper's encoder positions: 0.02).
        public var secondsPerStep: Double

        public init(words: [WhisperTranscript.Word], alignment: Tensor? = nil, labels: [String] = [], secondsPerStep: Double = 0.02) {
            self.words = words
            self.alignment = alignment
            self.labels = labels
            self.secondsPerStep = secondsPerStep
        }
    }

    /// Panels on one time axis (seconds): the attention each time step receives (`attention`, one
    /// value per step of `secondsPerStep`) as a filled curve; the log-mel spectrogram (`logMel`
    /// [mels, frames], `secondsPerFrame` per frame) with low frequencies at the bottom; and, with a
    /// transcript, the words as bars and the alignment matrix with one row per word or token, each
    /// row scaled to its own maximum and each word's span outlined on its row.
    public static func audioAttention(logMel: Tensor, secondsPerFrame: Double, attention: [Float], secondsPerStep: Double,
                                      attentionTitle: String = "attention received, sum over heads", title: String,
                                      transcript: Transcript? = nil) throws -> Canvas {
        guard logMel.shape.count == 2, logMel.count > 0 else {
            throw MMAttnError("a log-mel spectrogram must have shape [mels, frames]; got \(logMel.shape)")
        }
        guard secondsPerFrame > 0, secondsPerStep > 0, secondsPerFrame.isFinite, secondsPerStep.isFinite else {
            throw MMAttnError("seconds per frame and per step must be positive")
        }
        guard !attention.isEmpty else { throw MMAttnError("the attention curve has no values") }
        let mels = logMel.shape[0], frames = logMel.shape[1]
        var alignment: (values: [Float], rows: Int, steps: Int, labels: [String], seconds: Double)?
        if let t = transcript, let a = t.alignment {
            guard a.shape.count == 2, a.count > 0 else { throw MMAttnError("an alignment must have shape [rows, steps]; got \(a.shape)") }
            guard t.secondsPerStep > 0, t.secondsPerStep.isFinite else { throw MMAttnError("seconds per alignment step must be positive") }
            try check(t.labels, count: a.shape[0], of: "alignment labels", for: "alignment rows")
            let labels = !t.labels.isEmpty ? t.labels
                : t.words.count == a.shape[0] ? t.words.map(\.text) : (0..<a.shape[0]).map { "\($0)" }
            alignment = (rowNormalized(a), a.shape[0], a.shape[1], labels, t.secondsPerStep)
        }
        let words = transcript?.words ?? []
        var duration = max(Double(frames) * secondsPerFrame, Double(attention.count) * secondsPerStep)
        if let a = alignment { duration = max(duration, Double(a.steps) * a.seconds) }
        if let last = words.map(\.end).max() { duration = max(duration, last) }

        let plotWidth = min(1200, max(720, frames))
        let pixelsPerSecond = Double(plotWidth) / duration
        let curveHeight = 140, specHeight = min(max(mels * 2, 160), 256), wordHeight = 30
        let rowHeight = alignment.map { a in a.rows <= 24 ? 22 : a.rows <= 60 ? 12 : max(2, 720 / a.rows) } ?? 0
        let rowScale = rowHeight >= 22 ? 2 : rowHeight >= 12 ? 1 : 0
        let alignHeight = alignment.map { $0.rows * rowHeight } ?? 0

        let melValues = flippedRows(logMel)  // [mels, frames], highest mel first
        let melRange = ColorScale.dataRange.range(of: melValues)
        let melBar = ColorBar(range: melRange, caption: ["log-mel"])
        let alignBar = ColorBar(range: 0...1, caption: ["share of row max"])
        let curveMax = max(attention.filter { !$0.isNaN }.max() ?? 0, .leastNormalMagnitude)
        let curveScale = ColorBar(range: 0...curveMax)  // for its round ticks
        let curveStep = curveScale.tickStep, curveTicks = curveScale.ticks
        let melStep = [10, 20, 40, 50, 100].first { Double($0) * Double(specHeight) / Double(mels) >= 36 } ?? 100
        let leftLabels = curveTicks.map { ColorBar.format($0, step: curveStep) } + ["\(mels - 1)"]
            + (rowScale > 0 ? (alignment?.labels ?? []).map { BitmapFont.truncated($0, toWidth: 160, scale: rowScale) } : [])
        let leftExtent = leftLabels.map { BitmapFont.width(of: $0, scale: Style.textScale) }.max() ?? 0

        let header = Header(title: title, subtitle: [String(format: "%.1f s; %d mel bins, %d frames", duration, mels, frames)])
        let panelTitle = BitmapFont.height(scale: Style.textScale) + 6
        let plotX = Style.margin + leftExtent + 10
        var y = Style.margin + header.height + panelTitle
        let curveY = y
        y += curveHeight + Style.gap + panelTitle
        let specY = y
        y += specHeight
        var wordY: Int?
        if !words.isEmpty {
            y += Style.gap + panelTitle
            wordY = y
            y += wordHeight
        }
        var alignY: Int?
        if alignment != nil {
            y += Style.gap + panelTitle
            alignY = y
            y += alignHeight
        }
        let axisY = y
        let barX = plotX + plotWidth + Style.gap
        let width = max(barX + max(melBar.width, alignment == nil ? 0 : alignBar.width), Style.margin + header.width) + Style.margin
        let height = axisY + 8 + 2 * BitmapFont.height(scale: Style.textScale) + 8 + Style.margin

        var canvas = try Canvas(width: width, height: height)
        header.draw(on: &canvas)
        let xOf = { (t: Double) -> Int in plotX + Int((t * pixelsPerSecond).rounded()) }

        // Attention curve: the largest value of the steps each pixel column covers, filled below.
        canvas.text(attentionTitle, x: plotX, y: curveY - panelTitle, scale: Style.textScale, color: Style.text)
        let stepsWide = Int((Double(plotWidth) / pixelsPerSecond / secondsPerStep).rounded(.up))
        var padded = attention
        if padded.count < stepsWide { padded += [Float](repeating: .nan, count: stepsWide - padded.count) }
        let columns = Heatmap.reduced(padded, rows: 1, cols: padded.count, toRows: 1, toCols: min(plotWidth, padded.count), .max)
        let fillColor = ColorMap.heat.color(0.62), lineColor = ColorMap.heat.color(0.3)
        canvas.fill(x: plotX, y: curveY, width: plotWidth, height: curveHeight, color: RGBColor(248, 248, 248))
        for tick in curveTicks.dropFirst() {
            let ty = curveY + curveHeight - Int((Double(tick) / Double(curveMax) * Double(curveHeight - 1)).rounded())
            canvas.fill(x: plotX, y: ty, width: plotWidth, height: 1, color: RGBColor(228, 228, 228))
        }
        var previousTop: Int?
        for px in 0..<plotWidth {
            let v = columns[min(px * columns.count / plotWidth, columns.count - 1)]
            guard !v.isNaN else { previousTop = nil; continue }
            let bar = Int((Double(v) / Double(curveMax) * Double(curveHeight - 1)).rounded())
            let top = curveY + curveHeight - 1 - bar
            canvas.fill(x: plotX + px, y: top, width: 1, height: curveHeight - (top - curveY), color: fillColor)
            let from = previousTop ?? top
            canvas.fill(x: plotX + px, y: min(from, top), width: 1, height: abs(from - top) + 2, color: lineColor)
            previousTop = top
        }
        canvas.stroke(x: plotX, y: curveY, width: plotWidth, height: curveHeight, color: Style.frame)
        for tick in curveTicks {
            let ty = curveY + curveHeight - 1 - Int((Double(tick) / Double(curveMax) * Double(curveHeight - 1)).rounded())
            canvas.fill(x: plotX - 5, y: ty, width: 5, height: 1, color: Style.axis)
            canvas.text(ColorBar.format(tick, step: curveStep), x: plotX - 8, y: ty - BitmapFont.capHeight, scale: Style.textScale,
                        color: Style.text, align: .right)
        }

        // Spectrogram: frames across (mean over the frames each pixel covers), low mels at the bottom.
        canvas.text("log-mel spectrogram (mel bins)", x: plotX, y: specY - panelTitle, scale: Style.textScale, color: Style.text)
        let specWidth = xOf(Double(frames) * secondsPerFrame) - plotX
        canvas.heatmap(melValues, rows: mels, cols: frames, x: plotX, y: specY, width: max(specWidth, 1), height: specHeight,
                       range: melRange)
        for bin in stride(from: 0, to: mels, by: melStep) {
            let ty = specY + specHeight - 1 - Int((Double(bin) + 0.5) * Double(specHeight) / Double(mels))
            canvas.fill(x: plotX - 5, y: ty, width: 5, height: 1, color: Style.axis)
            canvas.text("\(bin)", x: plotX - 8, y: ty - BitmapFont.capHeight, scale: Style.textScale, color: Style.text, align: .right)
        }
        melBar.draw(on: &canvas, x: barX, y: specY - melBar.captionHeight, height: specHeight)

        // Words: a bar per word over its span, its text inside when it fits.
        if let wy = wordY {
            canvas.text("words", x: plotX, y: wy - panelTitle, scale: Style.textScale, color: Style.text)
            canvas.fill(x: plotX, y: wy, width: plotWidth, height: wordHeight, color: RGBColor(248, 248, 248))
            for (i, w) in words.enumerated() {
                let x0 = xOf(max(w.start, 0)), x1 = max(xOf(min(w.end, duration)), x0 + 1)
                let shade = i % 2 == 0 ? ColorMap.heat.color(0.82) : ColorMap.heat.color(0.9)
                canvas.fill(x: x0, y: wy + 2, width: x1 - x0, height: wordHeight - 4, color: shade)
                canvas.fill(x: x0, y: wy + 2, width: 1, height: wordHeight - 4, color: lineColor)
                let text = w.text.trimmingCharacters(in: .whitespaces)
                for s in [Style.textScale, 1] where BitmapFont.width(of: text, scale: s) <= x1 - x0 - 4 {
                    canvas.text(text, x: (x0 + x1) / 2, y: wy + (wordHeight - BitmapFont.capHeight * s) / 2, scale: s,
                                color: Style.text, align: .center)
                    break
                }
            }
            canvas.stroke(x: plotX, y: wy, width: plotWidth, height: wordHeight, color: Style.frame)
        }

        // Alignment: one row per label, each row scaled to its maximum; a word's span outlined on its row.
        if let a = alignment, let ay = alignY {
            canvas.text("alignment to the audio", x: plotX, y: ay - panelTitle, scale: Style.textScale, color: Style.text)
            let alignWidth = xOf(Double(a.steps) * a.seconds) - plotX
            canvas.heatmap(a.values, rows: a.rows, cols: a.steps, x: plotX, y: ay, width: max(alignWidth, 1), height: alignHeight,
                           range: 0...1, reduction: .max)
            for r in 0..<a.rows {
                let ry = ay + r * rowHeight
                if rowScale > 0 {
                    canvas.text(BitmapFont.truncated(a.labels[r], toWidth: 160, scale: rowScale), x: plotX - 8,
                                y: ry + (rowHeight - BitmapFont.capHeight * rowScale) / 2, scale: rowScale, color: Style.text, align: .right)
                }
                if words.count == a.rows {
                    let x0 = xOf(max(words[r].start, 0)), x1 = max(xOf(min(words[r].end, duration)), x0 + 2)
                    canvas.stroke(x: x0, y: ry, width: x1 - x0, height: max(rowHeight, 2), color: RGBColor(90, 220, 255))
                }
            }
            alignBar.draw(on: &canvas, x: barX, y: ay - alignBar.captionHeight, height: max(alignHeight, 60))
        }

        // The shared time axis.
        let tickSeconds = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600].first { $0 * pixelsPerSecond >= 60 } ?? 600
        canvas.fill(x: plotX, y: axisY, width: plotWidth, height: 1, color: Style.axis)
        var t = 0.0
        while t <= duration + 1e-9 {
            let tx = xOf(t)
            canvas.fill(x: tx, y: axisY, width: 1, height: 6, color: Style.axis)
            canvas.text(ColorBar.format(Float(t), step: tickSeconds), x: tx, y: axisY + 9, scale: Style.textScale, color: Style.text,
                        align: .center)
            t += tickSeconds
        }
        canvas.text("time (s)", x: plotX + plotWidth / 2, y: axisY + 9 + BitmapFont.height(scale: Style.textScale) + 4,
                    scale: Style.textScale, color: Style.secondaryText, align: .center)
        return canvas
    }

    // MARK: - Layout helpers

    /// The title (large) and gray subtitle lines at the top left.
    struct Header {
        let title: String
        let subtitle: [String]

        var height: Int {
            BitmapFont.height(scale: Style.titleScale) + 8 + subtitle.count * (BitmapFont.height(scale: Style.textScale) + 4) + 12
        }

        var width: Int {
            max(BitmapFont.width(of: title, scale: Style.titleScale), subtitle.map { BitmapFont.width(of: $0, scale: Style.textScale) }.max() ?? 0)
        }

        func draw(on canvas: inout Canvas) {
            canvas.text(title, x: Style.margin, y: Style.margin, scale: Style.titleScale, color: Style.text)
            var y = Style.margin + BitmapFont.height(scale: Style.titleScale) + 8
            for line in subtitle {
                canvas.text(line, x: Style.margin, y: y, scale: Style.textScale, color: Style.secondaryText)
                y += BitmapFont.height(scale: Style.textScale) + 4
            }
        }
    }

    /// An axis of a heatmap: item labels when the cells are large enough for them, else indices
    /// at a round step. `vertical`: down the left side (horizontal text); `horizontal`: under the
    /// bottom edge (labels level when every one fits its cell's width, else turned to read upwards).
    struct Axis {
        enum Direction { case vertical, horizontal }
        let count: Int
        let pixelsPerItem: Double
        let labels: [String]
        let firstIndex: Int
        let along: Direction
        /// Text scale of the labels, nil when they do not fit (then indices).
        let labelScale: Int?
        /// Index step of the ticks.
        let step: Int
        /// Whether labels under a horizontal axis are turned to read upwards.
        let turned: Bool
        static let maxLabelWidth = 10 * 6

        init(count: Int, pixelsPerItem: Double, labels: [String], firstIndex: Int, along: Direction) {
            self.count = count
            self.pixelsPerItem = pixelsPerItem
            self.labels = labels
            self.firstIndex = firstIndex
            self.along = along
            let scale = labels.isEmpty ? nil : pixelsPerItem >= 20 ? 2 : pixelsPerItem >= 10 ? 1 : nil
            labelScale = scale
            turned = along == .horizontal && labels.contains {
                Double(BitmapFont.width(of: BitmapFont.truncated($0, toWidth: Axis.maxLabelWidth * (scale ?? 1), scale: scale ?? 1),
                                        scale: scale ?? 1)) > pixelsPerItem - 4
            }
            let widest = BitmapFont.width(of: "\(count - 1 + firstIndex)", scale: Style.textScale)
            let spacing = Double(along == .vertical ? 40 : widest + 24)
            step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000].first { Double($0) * pixelsPerItem >= spacing } ?? 10000
        }

        func label(_ i: Int) -> String {
            BitmapFont.truncated(labels[i], toWidth: Axis.maxLabelWidth * (labelScale ?? 1), scale: labelScale ?? 1)
        }

        /// Pixels the axis needs beside (vertical) or below (horizontal) the heatmap.
        var extent: Int {
            if let s = labelScale {
                if along == .horizontal && !turned { return 6 + BitmapFont.height(scale: s) }
                return 6 + ((0..<count).map { BitmapFont.width(of: label($0), scale: s) }.max() ?? 0)
            }
            if along == .vertical { return 8 + BitmapFont.width(of: "\(count - 1 + firstIndex)", scale: Style.textScale) }
            return 8 + BitmapFont.height(scale: Style.textScale)
        }

        /// The indices that get a tick: multiples of the step (and the first index when it is 1).
        var tickIndices: [Int] {
            var values = Array(stride(from: step, through: count - 1 + firstIndex, by: step))
            if firstIndex == 0 || step == 1 { values.insert(firstIndex, at: 0) } else { values.insert(1, at: 0) }
            return values.filter { $0 - firstIndex < count }.reduce(into: [Int]()) { if $0.last != $1 { $0.append($1) } }
        }

        /// Draw beside the heatmap whose left (vertical) or bottom (horizontal) edge starts at (x, y).
        func draw(on canvas: inout Canvas, x: Int, y: Int, length: Int) {
            if let s = labelScale {
                for i in 0..<count {
                    let center = Int((Double(i) + 0.5) * pixelsPerItem)
                    if along == .vertical {
                        canvas.text(label(i), x: x - 6, y: y + center - BitmapFont.capHeight * s / 2, scale: s, color: Style.text, align: .right)
                    } else if !turned {
                        canvas.text(label(i), x: x + center, y: y + 6, scale: s, color: Style.text, align: .center)
                    } else {
                        canvas.text(label(i), x: x + center - BitmapFont.capHeight * s / 2, y: y + 6, scale: s, color: Style.text,
                                    align: .right, vertical: true)
                    }
                }
                return
            }
            for index in tickIndices {
                let center = Int((Double(index - firstIndex) + 0.5) * pixelsPerItem)
                if along == .vertical {
                    canvas.fill(x: x - 4, y: y + center, width: 4, height: 1, color: Style.axis)
                    canvas.text("\(index)", x: x - 7, y: y + center - BitmapFont.capHeight, scale: Style.textScale, color: Style.text,
                                align: .right)
                } else {
                    canvas.fill(x: x + center, y: y, width: 1, height: 4, color: Style.axis)
                    canvas.text("\(index)", x: x + center, y: y + 7, scale: Style.textScale, color: Style.text, align: .center)
                }
            }
        }
    }

    /// The size of a heatmap of [rows, cols] cells: square cells (at most `maxCell` pixels) when
    /// both fit in `maxSide`, else each side on its own, at most `maxSide`.
    static func panelSize(rows: Int, cols: Int, maxSide: Int, maxCell: Int = 48) -> (width: Int, height: Int) {
        if rows <= maxSide && cols <= maxSide {
            let cell = max(1, min(maxCell, maxSide / max(rows, cols)))
            return (cols * cell, rows * cell)
        }
        func side(_ n: Int) -> Int { n <= maxSide ? n * max(1, min(maxCell, maxSide / n)) : maxSide }
        return (side(cols), side(rows))
    }

    /// The display size of `image` with its longest side `longestSide` pixels.
    static func fitted(_ image: RGBImage, longestSide: Int) -> (width: Int, height: Int) {
        let f = Double(longestSide) / Double(max(image.width, image.height))
        return (max(1, Int((Double(image.width) * f).rounded())), max(1, Int((Double(image.height) * f).rounded())))
    }

    /// The picture, desaturated and dimmed a little, with the map upsampled bilinearly and blended over it.
    static func overlay(_ values: [Float], rows: Int, cols: Int, range: ClosedRange<Float>, on canvas: inout Canvas, image: RGBImage,
                        x: Int, y: Int, width: Int, height: Int) {
        canvas.draw(image, x: x, y: y, width: width, height: height)
        canvas.heatmap(values, rows: rows, cols: cols, x: x, y: y, width: width, height: height, range: range, smooth: true,
                       opacity: 0.45...0.8)
    }

    /// The rows of `t` ([rows, cols]) in reverse order.
    static func flippedRows(_ t: Tensor) -> [Float] {
        let rows = t.shape[0], cols = t.shape[1]
        var out = [Float](repeating: 0, count: rows * cols)
        withExtendedLifetime(t) {
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<rows { (o.baseAddress! + (rows - 1 - r) * cols).update(from: t.pointer + r * cols, count: cols) }
            }
        }
        return out
    }

    /// The values of `t` ([rows, cols]) with each row divided by its largest value (rows of zeros stay zero).
    static func rowNormalized(_ t: Tensor) -> [Float] {
        let rows = t.shape[0], cols = t.shape[1]
        var out = t.values
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows {
                let row = o.baseAddress! + r * cols
                var peak: Float = 0
                for j in 0..<cols where row[j] > peak { peak = row[j] }
                if peak > 0 { for j in 0..<cols { row[j] /= peak } }
            }
        }
        return out
    }

    /// Refuse a list of names that is neither empty nor one per item.
    static func check(_ names: [String], count: Int, of what: String, for items: String) throws {
        guard names.isEmpty || names.count == count else {
            throw MMAttnError("\(names.count) \(what) for \(count) \(items)")
        }
    }
}
