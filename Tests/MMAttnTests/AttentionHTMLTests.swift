import CZlib
import Foundation
import Testing
@testable import MMAttn

/// The HTML attention viewer's document: its data encoding read back as the page reads it,
/// escaping, validation and size. (The page itself runs in AttentionBrowserTests.)
@Suite struct AttentionHTMLTests {
    // MARK: - Reading a document back

    /// The parts of a document the page reads.
    struct Parsed {
        var meta: [String: Any]
        /// Text of each `<script ... id="ID">` element, by id.
        var blocks: [String: String]
        var html: String
    }

    static func parse(_ document: Data) throws -> Parsed {
        let html = try #require(String(data: document, encoding: .utf8))
        var blocks: [String: String] = [:]
        var rest = html[...]
        while let open = rest.range(of: "<script") {
            let tagEnd = try #require(rest[open.upperBound...].range(of: ">"))
            let tag = rest[open.upperBound..<tagEnd.lowerBound]
            let close = try #require(rest[tagEnd.upperBound...].range(of: "</script>"))
            let id = tag.range(of: "id=\"").map { idStart in String(tag[idStart.upperBound...].prefix { $0 != "\"" }) } ?? "code"
            blocks[id] = String(rest[tagEnd.upperBound..<close.lowerBound])
            rest = rest[close.upperBound...]
        }
        let metaText = try #require(blocks["mmattn-meta"])
        let meta = try #require(try JSONSerialization.jsonObject(with: Data(metaText.utf8)) as? [String: Any])
        return Parsed(meta: meta, blocks: blocks, html: html)
    }

    /// A base64 zlib block, inflated.
    static func inflate(_ base64: String, expected: Int) throws -> [UInt8] {
        let compressed = try #require(Data(base64Encoded: base64))
        var out = [UInt8](repeating: 0, count: expected)
        var size = uLong(expected)
        let status = compressed.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                uncompress(dst.baseAddress!.assumingMemoryBound(to: Bytef.self), &size,
                           src.baseAddress!.assumingMemoryBound(to: Bytef.self), uLong(compressed.count))
            }
        }
        #expect(status == Z_OK && Int(size) == expected, "inflated \(size) bytes, status \(status)")
        return out
    }

    /// Layer `l` as the page draws it, [H, Tq, Tk]: code 0 → 0, code 1 → the row's fill, code c ≥ 2 →
    /// the centre of its bin (the documented encoding).
    static func decodeLayer(_ parsed: Parsed, _ l: Int) throws -> [Float] {
        let shape = try #require(parsed.meta["shape"] as? [Int])
        let (h, tq, tk) = (shape[1], shape[2], shape[3])
        let exponent = try #require(parsed.meta["levelExponent"] as? Int)
        let block = try #require(parsed.blocks["mmattn-layer-\(l)"])
        let raw = try inflate(block, expected: h * tq * 4 + h * tq * tk)
        var out = [Float](repeating: 0, count: h * tq * tk)
        for r in 0..<(h * tq) {
            let fill = Float(bitPattern: UInt32(raw[r * 4]) | UInt32(raw[r * 4 + 1]) << 8 | UInt32(raw[r * 4 + 2]) << 16 | UInt32(raw[r * 4 + 3]) << 24)
            for j in 0..<tk {
                let code = Int(raw[h * tq * 4 + r * tk + j])
                switch code {
                case 0: out[r * tk + j] = 0
                case 1: out[r * tk + j] = fill
                default:
                    let i = code - 2
                    out[r * tk + j] = min(1, Float(sign: .plus, exponent: exponent + (i >> 3), significand: 1 + (Float(i & 7) + 0.5) / 8))
                }
            }
        }
        return out
    }

    static func tokens(_ labels: [String]) -> [AttentionViewToken] { labels.map { AttentionViewToken(label: $0) } }

    static func input(_ probabilities: Tensor, labels: [String]? = nil, title: String = "test") -> AttentionViewInput {
        let s = probabilities.shape
        let tokenLabels = labels ?? (0..<s[2]).map { "t\($0)" }
        return AttentionViewInput(title: title, probabilities: probabilities,
                                  layerNames: (0..<s[0]).map(String.init), headNames: (0..<s[1]).map(String.init),
                                  queries: tokens(tokenLabels), keys: tokens(Array(tokenLabels.prefix(s[3]))), kind: .text)
    }

    /// Rows of the softmax of N(0, sigma²) logits from a fixed generator, shape [L, H, T, T].
    static func softmaxRows(layers: Int, heads: Int, tokens: Int, sigma: Float, seed: UInt64 = 7) -> Tensor {
        var state = seed
        func unit() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float((state >> 40) + 1) / Float(1 << 24)
        }
        var values = [Float](repeating: 0, count: layers * heads * tokens * tokens)
        for r in 0..<(layers * heads * tokens) {
            var sum: Float = 0
            for j in 0..<tokens {
                let g = (-2 * log(unit())).squareRoot() * cos(2 * Float.pi * unit())
                values[r * tokens + j] = exp(sigma * g)
                sum += values[r * tokens + j]
            }
            for j in 0..<tokens { values[r * tokens + j] /= sum }
        }
        return Tensor(shape: [layers, heads, tokens, tokens], values: values)
    }

    // MARK: - Encoding

    @Test func quantisationRoundTripsWithinItsStatedError() throws {
        // Rows mixing exact zeros, tiny values below the floor and values across many octaves.
        let t = 40
        var values = [Float](repeating: 0, count: 2 * 2 * t * t)
        for r in 0..<(2 * 2 * t) {
            var row = [Float](repeating: 0, count: t)
            for j in 0..<t where (j + r) % 7 != 0 {
                row[j] = pow(2, -Float((j * 5 + r) % 23) * 0.61)
            }
            let sum = row.reduce(0, +)
            for j in 0..<t { values[r * t + j] = row[j] / sum }
        }
        values[0] = 1
        for j in 1..<t { values[j] = 0 }
        let probabilities = Tensor(shape: [2, 2, t, t], values: values)
        let parsed = try Self.parse(try AttentionHTML.document(Self.input(probabilities)))
        let floor = try #require(parsed.meta["floor"] as? Double)
        #expect(Float(floor) == AttentionHTML.floorValue(keys: t))
        for l in 0..<2 {
            let decoded = try Self.decodeLayer(parsed, l)
            for r in 0..<(2 * t) {
                var below: [Float] = []
                for j in 0..<t {
                    let p = values[(l * 2 * t + r) * t + j], d = decoded[r * t + j]
                    if p == 0 {
                        #expect(d == 0)
                    } else if p >= Float(floor) {
                        #expect(abs(d - p) <= p / 16, "p \(p) decoded \(d)")
                    } else {
                        below.append(p)
                    }
                }
                // Every below-floor entry of a row reads as the row's mean of them, so the row keeps its mass.
                if !below.isEmpty {
                    let mean = below.reduce(0, +) / Float(below.count)
                    for j in 0..<t where values[(l * 2 * t + r) * t + j] > 0 && values[(l * 2 * t + r) * t + j] < Float(floor) {
                        #expect(abs(decoded[r * t + j] - mean) <= mean * 1e-5)
                    }
                }
            }
        }
        // A weight of exactly 1 reads as 1.
        #expect(try Self.decodeLayer(parsed, 0)[0] == 1)
    }

    @Test func floorFollowsTheNumberOfKeys() {
        #expect(AttentionHTML.floorValue(keys: 10) == 0x1p-8)
        #expect(AttentionHTML.floorValue(keys: 1024) == 0x1p-8)
        #expect(AttentionHTML.floorValue(keys: 2048) == 0x1p-9)
        #expect(AttentionHTML.floorValue(keys: 1500) == Float(4) / 1500)
        #expect(AttentionHTML.floorValue(keys: 1 << 40) == 0x1p-30)
    }

    @Test func layersThumbnailsAndMetadataHaveTheDocumentedShape() throws {
        // Identity attention: each token attends only to itself.
        let (l, h, t) = (3, 2, 5)
        var values = [Float](repeating: 0, count: l * h * t * t)
        for r in 0..<(l * h * t) { values[r * t + r % t] = 1 }
        let parsed = try Self.parse(try AttentionHTML.document(Self.input(Tensor(shape: [l, h, t, t], values: values))))
        #expect(parsed.meta["shape"] as? [Int] == [l, h, t, t])
        #expect(parsed.meta["keys"] is NSNull, "self-attention stores its tokens once")
        #expect(parsed.meta["queries"] as? [String] == (0..<t).map { "t\($0)" })
        for layer in 0..<l { #expect(try Self.decodeLayer(parsed, layer) == Array(values[(layer * h * t * t)..<((layer + 1) * h * t * t)])) }
        #expect(parsed.blocks["mmattn-layer-\(l)"] == nil)
        let thumbnail = try #require(parsed.meta["thumbnail"] as? [String: Any])
        #expect(thumbnail["rows"] as? Int == t && thumbnail["cols"] as? Int == t)
        #expect(thumbnail["max"] as? [Double] == Array(repeating: 1, count: l * h))
        let thumbBlock = try #require(parsed.blocks["mmattn-thumbnails"])
        let thumbs = try Self.inflate(thumbBlock, expected: l * h * t * t)
        for k in 0..<(l * h * t * t) { #expect(thumbs[k] == (k % (t * t) % (t + 1) == 0 ? 255 : 0)) }
        // Layer 0 precedes the viewer's script, the other layers follow it.
        let script = try #require(parsed.html.range(of: "<script>\"use strict\""))
        let layer0 = try #require(parsed.html.range(of: "id=\"mmattn-layer-0\""))
        let layer1 = try #require(parsed.html.range(of: "id=\"mmattn-layer-1\""))
        #expect(layer0.lowerBound < script.lowerBound && layer1.lowerBound > script.lowerBound)
        #expect(parsed.html.contains("Content-Security-Policy"), "the page forbids every network load")
        #expect(!parsed.html.contains("http://") && !parsed.html.contains("https://"), "the page references nothing outside itself")
    }

    @Test func thumbnailsAverageBinsOfLongSequences() throws {
        // 130 uniform rows: every 64 × 64 bin has the same mean, so every thumbnail byte is 255.
        let t = 130
        let probabilities = Tensor(shape: [1, 1, t, t], values: Array(repeating: 1 / Float(t), count: t * t))
        let parsed = try Self.parse(try AttentionHTML.document(Self.input(probabilities)))
        let thumbnail = try #require(parsed.meta["thumbnail"] as? [String: Any])
        #expect(thumbnail["rows"] as? Int == 64 && thumbnail["cols"] as? Int == 64)
        let maxima = try #require(thumbnail["max"] as? [Double])
        #expect(abs(maxima[0] - 1.0 / Double(t)) < 1e-6)
        let thumbBlock = try #require(parsed.blocks["mmattn-thumbnails"])
        #expect(try Self.inflate(thumbBlock, expected: 64 * 64).allSatisfy { $0 == 255 })
    }

    @Test func crossAttentionKeepsBothTokenListsAndThePicture() throws {
        // 3 text queries over 4 audio frames, each frame a column of a 4 × 2 spectrogram picture.
        var pixels = [UInt8](repeating: 0, count: 4 * 2 * 3)
        for k in 0..<8 { pixels[k * 3] = UInt8(k * 30) }
        let picture = RGBImage(width: 4, height: 2, pixels: pixels)
        let frames = (0..<4).map { AttentionViewToken(label: "frame \($0)", region: PictureRegion(x: $0, y: 0, width: 1, height: 2)) }
        let input = AttentionViewInput(title: "cross", probabilities: Tensor(shape: [1, 1, 3, 4], values: Array(repeating: 0.25, count: 12)),
                                       layerNames: ["decoder 0"], headNames: ["0"], queries: Self.tokens(["a", "b", "c"]),
                                       keys: frames, picture: picture, kind: .cross)
        let parsed = try Self.parse(try AttentionHTML.document(input))
        #expect(parsed.meta["kind"] as? String == "cross")
        #expect(parsed.meta["keys"] as? [String] == (0..<4).map { "frame \($0)" })
        #expect(parsed.meta["queryRegions"] is NSNull)
        #expect(parsed.meta["keyRegions"] as? [Int] == [0, 0, 1, 2, 1, 0, 1, 2, 2, 0, 1, 2, 3, 0, 1, 2])
        let pictureBlock = try #require(parsed.blocks["mmattn-picture"])
        let png = try #require(Data(base64Encoded: pictureBlock))
        #expect(try PNGImage.decode(data: png, file: "picture") == picture)
    }

    // MARK: - Escaping

    @Test func labelsAndTitleCannotBreakOutOfThePage() throws {
        let nasty = ["</script><script>alert(1)</script>", "<!--", "\"quoted\" & 'single'", "line\nbreak\r\n",
                     "tab\there", "\u{0}nul\u{1F}\u{7F}", "\u{2028}\u{2029}", "\\u003c", "😀 façade 漢字", "", " ", "]]>", "<![CDATA["]
        let t = nasty.count
        let title = "</title><script>alert(\"t\")</script> & <!-- \n"
        let probabilities = Tensor(shape: [1, 1, t, t], values: Array(repeating: 1 / Float(t), count: t * t))
        let document = try AttentionHTML.document(Self.input(probabilities, labels: nasty, title: title))
        let parsed = try Self.parse(document)
        // The page's own script elements only: metadata, thumbnails, layer 0 and the viewer.
        #expect(Set(parsed.blocks.keys) == ["mmattn-meta", "mmattn-thumbnails", "mmattn-layer-0", "code"])
        #expect(parsed.html.components(separatedBy: "<script").count - 1 == 4)
        #expect(parsed.meta["queries"] as? [String] == nasty)
        #expect(parsed.meta["title"] as? String == title)
        let metaText = try #require(parsed.blocks["mmattn-meta"])
        for forbidden in ["<", ">", "&", "\u{2028}", "\u{2029}", "\n", "\r", "\u{0}"] {
            #expect(!metaText.contains(forbidden), "the metadata holds a raw \(forbidden.debugDescription)")
        }
        #expect(parsed.html.contains("<title>&lt;/title&gt;&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; &amp; &lt;!-- \n · attention</title>"))
    }

    @Test func escapersHandleEveryClass() {
        #expect(AttentionHTML.jsonString("a\"b\\c\n\t\u{8}</x>&\u{2028}é") == "\"a\\\"b\\\\c\\n\\t\\u0008\\u003c/x\\u003e\\u0026\\u2028é\"")
        #expect(AttentionHTML.htmlText("<a href=\"x\">'&'</a>\u{1}") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\u{FFFD}")
    }

    // MARK: - Validation

    @Test func inconsistentInputsAreRefusedByName() throws {
        let p = Tensor(shape: [1, 2, 3, 3], values: Array(repeating: 1 / 3, count: 18))
        var bad = Self.input(p)
        bad.headNames = ["only one"]
        #expect(throws: MMAttnError.self) { try AttentionHTML.document(bad) }
        bad = Self.input(p)
        bad.keys.removeLast()
        #expect(throws: MMAttnError.self) { try AttentionHTML.document(bad) }
        bad = Self.input(p)
        bad.probabilities = Tensor(shape: [2, 3, 3], values: Array(repeating: 1 / 3, count: 18))
        #expect(throws: MMAttnError.self, "three axes") { try AttentionHTML.document(bad) }
        bad = Self.input(p)
        bad.queries[0].region = PictureRegion(x: 0, y: 0, width: 1, height: 1)
        #expect(throws: MMAttnError.self, "a region without a picture") { try AttentionHTML.document(bad) }
        bad.picture = RGBImage(width: 2, height: 2, pixels: Array(repeating: 0, count: 12))
        bad.queries[0].region = PictureRegion(x: 1, y: 1, width: 2, height: 1)
        #expect(throws: MMAttnError.self, "a region outside the picture") { try AttentionHTML.document(bad) }
        for poison: Float in [.nan, -0.5, 2, .infinity] {
            var values = Array(repeating: Float(1) / 3, count: 18)
            values[10] = poison
            #expect(throws: MMAttnError.self, "\(poison)") { try AttentionHTML.document(Self.input(Tensor(shape: [1, 2, 3, 3], values: values))) }
        }
    }

    // MARK: - Size

    @Test func diffuseAttentionCompressesBelowTheBudget() throws {
        // Near-uniform rows (softmax of N(0, 1) logits, as a randomly initialised model gives) over
        // 1,000 keys: at most 0.12 bytes per weight, i.e. 17 MB for 12 layers × 12 heads × 1,000².
        let probabilities = Self.softmaxRows(layers: 1, heads: 1, tokens: 1000, sigma: 1)
        let document = try AttentionHTML.document(Self.input(probabilities))
        let parsed = try Self.parse(document)
        let layerBlock = try #require(parsed.blocks["mmattn-layer-0"])
        let layerBytes = layerBlock.utf8.count
        #expect(layerBytes < 120_000, "\(layerBytes) bytes of base64 for 1,000,000 weights")
        // Rows keep their mass as the page reads them.
        let decoded = try Self.decodeLayer(parsed, 0)
        for r in stride(from: 0, to: 1000, by: 97) {
            let sum = decoded[(r * 1000)..<((r + 1) * 1000)].reduce(0, +)
            #expect(abs(sum - 1) < 0.02, "row \(r) sums to \(sum)")
        }
    }
}
