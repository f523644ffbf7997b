// Builds an HTML attention view of synthetic attention and reports how long AttentionHTML.document
// took and how large the page is (the Swift half of Fixtures/bench_attention_html.sh, which also
// measures the page in Chromium).
//
//   swift run -c release attention-html-bench OUT.html [--tokens 1000] [--layers 12] [--heads 12]
//       [--sigma 1] [--image] [--seed 1]
//
// Each row is the softmax of logits drawn from N(0, sigma²): sigma 1 gives the near-uniform rows of a
// randomly initialised model (the hard case for compression), sigma 3 peaky rows. --image makes the
// tokens a class token plus a square grid of patches of a synthetic picture (tokens - 1 must be a
// square), so the page also cuts thumbnails.
import Foundation
import MMAttn

var arguments = Array(CommandLine.arguments.dropFirst())
var options: [String: Double] = ["--tokens": 1000, "--layers": 12, "--heads": 12, "--sigma": 1, "--seed": 1]
for flag in options.keys.sorted() {
    if let i = arguments.firstIndex(of: flag), i + 1 < arguments.count, let v = Double(arguments[i + 1]) {
        options[flag] = v
        arguments.removeSubrange(i...(i + 1))
    }
}
let image = arguments.contains("--image")
arguments.removeAll { $0 == "--image" }
guard arguments.count == 1, !arguments[0].hasPrefix("-") else {
    FileHandle.standardError.write(Data("usage: attention-html-bench OUT.html [--tokens N] [--layers L] [--heads H] [--sigma S] [--image] [--seed K]\n".utf8))
    exit(2)
}
let output = arguments[0]
let tokens = Int(options["--tokens"]!), layers = Int(options["--layers"]!), heads = Int(options["--heads"]!)
let sigma = Float(options["--sigma"]!), seed = UInt64(options["--seed"]!)
let side = Int(Double(tokens - 1).squareRoot().rounded())
if image && side * side != tokens - 1 {
    FileHandle.standardError.write(Data("attention-html-bench: --image needs tokens = 1 + a square (e.g. 1025), got \(tokens)\n".utf8))
    exit(2)
}

/// SplitMix64: a small seeded generator, one per row so rows can be filled in parallel.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in (0, 1].
    mutating func unit() -> Float { Float((next() >> 40) + 1) / Float(1 << 24) }
}

// [L, H, T, T]: each row the softmax of N(0, sigma²) logits.
let probabilities = Tensor(uninitialized: [layers, heads, tokens, tokens])
let rows = layers * heads * tokens
let base = probabilities.data
Threads.parallelFor(rows, grain: 64) { start, end in
    for r in start..<end {
        var rng = SplitMix(state: seed &* 0x1000_0000 &+ UInt64(r))
        let row = base + r * tokens
        var largest = -Float.infinity
        for j in 0..<tokens {
            // Box–Muller, one normal per pair of uniforms.
            let g = (-2 * log(rng.unit())).squareRoot() * cos(2 * Float.pi * rng.unit())
            row[j] = sigma * g
            largest = max(largest, row[j])
        }
        var sum: Float = 0
        for j in 0..<tokens {
            row[j] = exp(row[j] - largest)
            sum += row[j]
        }
        for j in 0..<tokens { row[j] /= sum }
    }
}

let patch = 16
var picture: RGBImage?
var tokenList: [AttentionViewToken]
if image {
    let width = side * patch
    var pixels = [UInt8](repeating: 0, count: width * width * 3)
    for y in 0..<width {
        for x in 0..<width {
            let o = (y * width + x) * 3
            pixels[o] = UInt8(x * 255 / width)
            pixels[o + 1] = UInt8(y * 255 / width)
            pixels[o + 2] = UInt8(((x / patch + y / patch) % 2) * 160 + 40)
        }
    }
    picture = RGBImage(width: width, height: width, pixels: pixels)
    tokenList = [AttentionViewToken(label: "[CLS]")] + (0..<(side * side)).map {
        AttentionViewToken(label: "(\($0 / side), \($0 % side))",
                           region: PictureRegion(x: ($0 % side) * patch, y: ($0 / side) * patch, width: patch, height: patch))
    }
} else {
    let words = ["the", "animal", "didn't", "cross", "street", "because", "it", "was", "too", "tired", ",", "."]
    tokenList = (0..<tokens).map { AttentionViewToken(label: words[$0 % words.count]) }
}

let input = AttentionViewInput(
    title: "synthetic attention — \(tokens) tokens, softmax of N(0, \(sigma)²) logits",
    probabilities: probabilities, layerNames: (0..<layers).map(String.init), headNames: (0..<heads).map(String.init),
    queries: tokenList, keys: tokenList, picture: picture, kind: image ? .image : .text)
do {
    let start = DispatchTime.now()
    let document = try AttentionHTML.document(input)
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    try AtomicFile.write(document, to: output)
    print(String(format: "document: %.2f s, %.2f MB (%d bytes), %d layers × %d heads × %d × %d, sigma %.1f%@",
                 seconds, Double(document.count) / 1e6, document.count, layers, heads, tokens, tokens, sigma, image ? ", image" : ""))
} catch {
    FileHandle.standardError.write(Data("attention-html-bench: \(error)\n".utf8))
    exit(1)
}
