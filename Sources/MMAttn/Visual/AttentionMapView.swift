import Foundation

extension AttentionMaps {
    /// The maps as the HTML view shows them: the kept layers and heads, each token with its
    /// thumbnail where the input has a picture (image patches, spectrogram frames, video patches).
    public func viewInput(title: String) throws -> AttentionViewInput {
        var p = probabilities
        var headNames = heads.map(String.init)
        let layerNames = layers.map(String.init)
        var queries = self.queries.map { AttentionViewToken(label: $0) }
        var keys = self.keys.map { AttentionViewToken(label: $0) }
        var picture: RGBImage?
        let kind: AttentionViewKind
        switch source {
        case .text:
            kind = .text
        case .protein:
            kind = .protein
        case .image(let image, let rows, let cols, let prefix):
            kind = .image
            picture = image
            let ph = image.height / rows, pw = image.width / cols
            for k in 0..<(rows * cols) {
                queries[prefix + k].region = PictureRegion(x: k % cols * pw, y: k / cols * ph, width: pw, height: ph)
            }
            keys = queries
        case .audio(let audio):
            kind = .audio
            let frames = audio.logMel.shape[1], mels = audio.logMel.shape[0]
            picture = try Self.spectrogram(audio.logMel)
            let stepFrames = max(1, Int((audio.secondsPerStep / 0.01).rounded()))
            // A token covers its step's frames (Whisper: 2) or its patch (AST: `patch` frames × bins).
            let bandHeight = audio.bands == 1 ? mels : max(1, mels / audio.bands)
            for k in 0..<(audio.bands * audio.steps) {
                let band = k / audio.steps, step = k % audio.steps
                let x = min(step * stepFrames, frames - 1)
                let width = min(audio.bands == 1 ? stepFrames : max(stepFrames, 16), frames - x)
                let y = audio.bands == 1 ? 0 : max(0, mels - (band + 1) * bandHeight)
                queries[audio.prefix + k].region = PictureRegion(x: x, y: y, width: max(width, 1), height: bandHeight)
            }
            keys = queries
        case .transcript(let t):
            kind = .cross
            picture = try Self.spectrogram(t.logMel)
            let frames = t.logMel.shape[1], mels = t.logMel.shape[0]
            for j in 0..<keys.count where 2 * j < frames {
                keys[j].region = PictureRegion(x: 2 * j, y: 0, width: min(2, frames - 2 * j), height: mels)
            }
        case .video(let v):
            kind = .video
            let N = v.rows * v.cols
            if v.divided {
                // [L', F, H', S, S] → [L', F·H', S, S]: each frame's heads side by side; the tokens
                // are one frame's patches, labelled without pictures.
                let F = p.shape[1]
                headNames = (0..<F).flatMap { f in heads.map { "f\(f)·h\($0)" } }
                p = p.reshaped([p.shape[0], F * p.shape[2], p.shape[3], p.shape[4]])
            } else {
                let tile = v.frames[0]
                picture = Self.strip(v.frames)
                let ph = tile.height / v.rows, pw = tile.width / v.cols, F = v.frames.count
                for t in 0..<(queries.count - v.prefix) {
                    let (patch, frame) = v.patchMajor ? (t / F, t % F) : (t % N, t / N * v.tubelet)
                    queries[v.prefix + t].region = PictureRegion(x: frame * tile.width + patch % v.cols * pw,
                                                                 y: patch / v.cols * ph, width: pw, height: ph)
                }
                keys = queries
            }
        }
        return AttentionViewInput(title: title, probabilities: p, layerNames: layerNames, headNames: headNames,
                                  queries: queries, keys: keys, picture: picture, kind: kind)
    }

    /// Log-mel features `[mels, frames]` as an image one pixel per value, low bins at the bottom.
    static func spectrogram(_ logMel: Tensor) throws -> RGBImage {
        let (mels, frames) = (logMel.shape[0], logMel.shape[1])
        let flipped = AttentionPictures.flippedRows(logMel)  // [mels, frames], top row the highest bin
        var canvas = try Canvas(width: frames, height: mels)
        canvas.heatmap(flipped, rows: mels, cols: frames, x: 0, y: 0, width: frames, height: mels,
                           range: ColorScale.dataRange.range(of: flipped))
        return canvas.image
    }

    /// Frames of one size side by side.
    static func strip(_ frames: [RGBImage]) -> RGBImage {
        let (w, h) = (frames[0].width, frames[0].height), W = w * frames.count
        var pixels = [UInt8](repeating: 0, count: W * h * 3)
        for (f, frame) in frames.enumerated() {
            for y in 0..<h {
                let src = y * w * 3, dst = (y * W + f * w) * 3
                pixels.replaceSubrange(dst..<(dst + w * 3), with: frame.pixels[src..<(src + w * 3)])
            }
        }
        return RGBImage(width: W, height: h, pixels: pixels)
    }
}
