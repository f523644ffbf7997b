import Foundation
import Testing
@testable import MMAttn

/// Headless Chromium (Debian's `chromium` package), found on PATH.
enum Chromium {
    static let path: String? = {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return dirs.map { "\($0)/chromium" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// What a run printed on stderr (Chromium's log, console messages included) and whether it had
    /// to be stopped at the deadline.
    struct Run {
        var log: String
        var timedOut: Bool
    }

    /// Run headless Chromium on `url` with a profile of its own, until it exits, `marker` shows in
    /// its log as a whole line, or `timeout` seconds pass; then it is stopped (SIGTERM, then SIGKILL).
    static func run(_ url: String, extra: [String], until marker: String? = nil, timeout: TimeInterval = 60) throws -> Run {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("mmattn-chromium-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(path))
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)",
                             "--allow-file-access-from-files", "--enable-logging=stderr", "--log-level=0",
                             "--window-size=1280,1100"] + extra + [url]
        let stderr = Pipe()
        let log = Locked(Data())
        stderr.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            log.mutate { $0.append(chunk) }
        }
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if let marker {
                let text = String(decoding: log.value, as: UTF8.self)
                if let found = text.range(of: marker), text[found.upperBound...].contains("\n") { break }
            }
            if Date() > deadline {
                timedOut = true
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        if process.isRunning {
            process.terminate()
            let grace = Date().addingTimeInterval(5)
            while process.isRunning && Date() < grace { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        stderr.fileHandleForReading.readabilityHandler = nil
        log.mutate { $0.append(stderr.fileHandleForReading.readDataToEndOfFile()) }
        return Run(log: String(decoding: log.value, as: UTF8.self), timedOut: timedOut)
    }
}

/// The HTML attention viewer in a real browser: it loads without console messages, its selectors,
/// keys, hover and model view change what is drawn, and a screenshot is not blank. Skipped when
/// Chromium is not installed (`apt-get install chromium`).
@Suite(.enabled(if: Chromium.path != nil, "chromium is not on PATH (Debian: apt-get install chromium)"), .serialized)
struct AttentionBrowserTests {
    static let harness = Paths.fixtures.appendingPathComponent("attention_viewer_harness.html")

    /// Peaky rows with a different pattern per layer and head, shape [L, H, T, T].
    static func attention(layers: Int, heads: Int, tokens t: Int) -> Tensor {
        var values = [Float](repeating: 0, count: layers * heads * t * t)
        for l in 0..<layers {
            for h in 0..<heads {
                for i in 0..<t {
                    let row = ((l * heads + h) * t + i) * t
                    var sum: Float = 0
                    for j in 0..<t {
                        let focus = (i * (h + 1) + l * 3 + 1) % t
                        let w = exp(-Float(abs(j - focus)) * Float(l + 1) * 0.7) + 0.01
                        values[row + j] = w
                        sum += w
                    }
                    for j in 0..<t { values[row + j] /= sum }
                }
            }
        }
        return Tensor(shape: [layers, heads, t, t], values: values)
    }

    struct Outcome {
        var checks: [String: Any]
        var errors: [String]
        /// Console messages other than the harness's own (the page logs none).
        var pageConsole: [String]
    }

    /// Run the harness on `page` (in check mode unless `mode` says otherwise).
    static func check(_ page: String, mode: String = "check", colours: [String] = []) throws -> Outcome {
        var components = URLComponents(url: harness, resolvingAgainstBaseURL: false)!
        components.queryItems = [URLQueryItem(name: "doc", value: URL(fileURLWithPath: page).absoluteString),
                                 URLQueryItem(name: "mode", value: mode)]
            + (colours.isEmpty ? [] : [URLQueryItem(name: "colours", value: colours.joined(separator: ","))])
        let run = try Chromium.run(try #require(components.url).absoluteString, extra: [], until: "MMATTN-HARNESS")
        #expect(!run.timedOut, "Chromium did not report within 60 s:\n\(run.log.suffix(2000))")
        let line = try #require(run.log.split(separator: "\n").first { $0.contains("MMATTN-HARNESS ") }, "no harness report in:\n\(run.log.suffix(2000))")
        let json = line[try #require(line.range(of: "MMATTN-HARNESS ")).upperBound...]
        let body = json[..<(json.range(of: "\", source: ", options: .backwards)?.lowerBound ?? json.endIndex)]
        let report = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        // Every console message not from the harness itself is the page's (or the browser's about it).
        let console = run.log.split(separator: "\n").filter { $0.contains(":CONSOLE") && !$0.contains("source: \(harness.absoluteString)") }.map(String.init)
        return Outcome(checks: report["checks"] as? [String: Any] ?? [:], errors: report["errors"] as? [String] ?? [], pageConsole: console)
    }

    /// A screenshot of `page` (virtual time lets its asynchronous decoding finish first): the share of
    /// pixels that are not near-white and the standard deviation of their luminance.
    static func screenshot(_ page: String, dir: String) throws -> (inked: Double, deviation: Double) {
        let shot = dir + "/screenshot.png"
        let run = try Chromium.run(URL(fileURLWithPath: page).absoluteString,
                                   extra: ["--screenshot=\(shot)", "--virtual-time-budget=15000", "--hide-scrollbars"])
        #expect(!run.timedOut, "the screenshot run did not finish:\n\(run.log.suffix(2000))")
        let image = try PNGImage.decode(path: shot)
        var sum = 0.0, squares = 0.0, inked = 0
        for k in 0..<(image.width * image.height) {
            let y = 0.299 * Double(image.pixels[k * 3]) + 0.587 * Double(image.pixels[k * 3 + 1]) + 0.114 * Double(image.pixels[k * 3 + 2])
            sum += y
            squares += y * y
            if y < 240 { inked += 1 }
        }
        let n = Double(image.width * image.height)
        return (Double(inked) / n, (squares / n - (sum / n) * (sum / n)).squareRoot())
    }

    static func expectWorking(_ outcome: Outcome, layers: Int, heads: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.errors.isEmpty, "\(outcome.errors)", sourceLocation: sourceLocation)
        #expect(outcome.pageConsole.isEmpty, "the page logged: \(outcome.pageConsole)", sourceLocation: sourceLocation)
        let c = outcome.checks
        #expect(c["errorShown"] as? Bool == false, sourceLocation: sourceLocation)
        #expect((c["headInked"] as? Int ?? 0) > 2000, "head view nearly empty: \(c)", sourceLocation: sourceLocation)
        for check in ["layerChangesHeadView", "headChangesHeadView", "keyChangesHead", "keyChangesLayer", "hoverChangesHeadView",
                      "heatmapFollowsHead", "heatmapFollowsLayer", "modelOpensHead"] {
            #expect(c[check] as? Bool == true, "\(check) failed: \(c)", sourceLocation: sourceLocation)
        }
        #expect(c["pressedAfterHead"] as? Int == 1, sourceLocation: sourceLocation)
        #expect((c["heatmapInked"] as? Int ?? 0) > 1000, sourceLocation: sourceLocation)
        #expect(c["modelCells"] as? Int == layers * heads && c["modelInkedCells"] as? Int == layers * heads, sourceLocation: sourceLocation)
        // Hovering shows the weights as numbers.
        let hoverInfo = c["hoverInfo"] as? String ?? ""
        #expect(hoverInfo.contains { $0.isNumber }, "\(hoverInfo)", sourceLocation: sourceLocation)
    }

    @Test func textPageWorksInChromium() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let labels = ["[CLS]", "</script><script>alert(1)</script>", "\"quoted\"", "line\nbreak", "<!--", "😀", "façade", "&amp;", "\u{2028}"]
            + (9..<24).map { "w\($0)" }
        let (layers, heads) = (3, 4)
        let title = "text </script> \"attention\" <b>test</b>"
        let input = AttentionViewInput(title: title, probabilities: Self.attention(layers: layers, heads: heads, tokens: labels.count),
                                       layerNames: ["0", "5", "11"], headNames: (0..<heads).map(String.init),
                                       queries: labels.map { AttentionViewToken(label: $0) }, keys: labels.map { AttentionViewToken(label: $0) },
                                       kind: .text)
        let page = dir + "/text view.html"
        try AtomicFile.write(try AttentionHTML.document(input), to: page)
        let outcome = try Self.check(page)
        Self.expectWorking(outcome, layers: layers, heads: heads)
        #expect(outcome.checks["title"] as? String == title)
        // Only the page's own script elements (metadata, thumbnails, layers, viewer): no label broke out.
        #expect(outcome.checks["scripts"] as? Int == 3 + layers)
        let shot = try Self.screenshot(page, dir: dir)
        #expect(shot.inked > 0.03 && shot.deviation > 15, "screenshot looks blank: \(shot)")
    }

    @Test func crossAttentionPageShowsFramesOfASpectrogram() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 6 text queries over 48 audio frames, each frame a 2-pixel column of a 96 × 40 picture.
        let (layers, heads, tq, tk) = (2, 2, 6, 48)
        var values = [Float](repeating: 0, count: layers * heads * tq * tk)
        for r in 0..<(layers * heads * tq) {
            var sum: Float = 0
            for j in 0..<tk {
                values[r * tk + j] = exp(-abs(Float(j) - Float((r * 7) % tk)) * 0.5) + 0.002
                sum += values[r * tk + j]
            }
            for j in 0..<tk { values[r * tk + j] /= sum }
        }
        var pixels = [UInt8](repeating: 0, count: 96 * 40 * 3)
        for y in 0..<40 { for x in 0..<96 { pixels[(y * 96 + x) * 3 + 1] = UInt8((x * 2 + y * 3) % 256) } }
        let frames = (0..<tk).map { AttentionViewToken(label: "\(Double($0) * 0.02) s", region: PictureRegion(x: $0 * 2, y: 0, width: 2, height: 40)) }
        let input = AttentionViewInput(title: "cross", probabilities: Tensor(shape: [layers, heads, tq, tk], values: values),
                                       layerNames: ["decoder 0", "decoder 1"], headNames: ["0", "1"],
                                       queries: ["<|en|>", "The", " cat", " sat", ".", "<|endoftext|>"].map { AttentionViewToken(label: $0) },
                                       keys: frames, picture: RGBImage(width: 96, height: 40, pixels: pixels), kind: .cross)
        let page = dir + "/cross.html"
        try AtomicFile.write(try AttentionHTML.document(input), to: page)
        let outcome = try Self.check(page)
        Self.expectWorking(outcome, layers: layers, heads: heads)
    }

    @Test func browserWithoutDecompressionStreamGetsAMessage() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let labels = ["a", "b", "c"]
        let input = AttentionViewInput(title: "old browser", probabilities: Self.attention(layers: 1, heads: 2, tokens: 3),
                                       layerNames: ["0"], headNames: ["0", "1"], queries: labels.map { AttentionViewToken(label: $0) },
                                       keys: labels.map { AttentionViewToken(label: $0) }, kind: .text)
        // The page as a browser without DecompressionStream sees it.
        let html = String(decoding: try AttentionHTML.document(input), as: UTF8.self)
            .replacingOccurrences(of: "<script>\"use strict\"", with: "<script>delete window.DecompressionStream;</script><script>\"use strict\"")
        let page = dir + "/old.html"
        try AtomicFile.write(Data(html.utf8), to: page)
        let outcome = try Self.check(page, mode: "load")
        #expect(outcome.errors.isEmpty && outcome.pageConsole.isEmpty, "\(outcome.errors) \(outcome.pageConsole)")
        #expect(outcome.checks["errorShown"] as? Bool == true)
        #expect((outcome.checks["errorText"] as? String ?? "").contains("DecompressionStream"))
    }

    @Test func imagePageShowsPatchThumbnails() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A 4 × 4 grid of 16-pixel patches, each one flat colour no drawing of the page uses.
        let side = 4, patch = 16, width = side * patch
        let colours: [[UInt8]] = (0..<(side * side)).map { (k: Int) -> [UInt8] in
            [UInt8(17 + k * 13), UInt8(201 - k * 7), UInt8(90 + k * 9)]
        }
        var pixels = [UInt8](repeating: 0, count: width * width * 3)
        for y in 0..<width {
            for x in 0..<width {
                let c = colours[(y / patch) * side + x / patch]
                for k in 0..<3 { pixels[(y * width + x) * 3 + k] = c[k] }
            }
        }
        let tokens = [AttentionViewToken(label: "[CLS]")] + (0..<(side * side)).map {
            AttentionViewToken(label: "patch \($0)", region: PictureRegion(x: ($0 % side) * patch, y: ($0 / side) * patch, width: patch, height: patch))
        }
        let (layers, heads) = (2, 3)
        let input = AttentionViewInput(title: "image", probabilities: Self.attention(layers: layers, heads: heads, tokens: tokens.count),
                                       layerNames: ["0", "1"], headNames: ["0", "1", "2"], queries: tokens, keys: tokens,
                                       picture: RGBImage(width: width, height: width, pixels: pixels), kind: .image)
        let page = dir + "/image.html"
        try AtomicFile.write(try AttentionHTML.document(input), to: page)
        let outcome = try Self.check(page, colours: colours.map { $0.map { String(format: "%02x", $0) }.joined() })
        Self.expectWorking(outcome, layers: layers, heads: heads)
        #expect(outcome.checks["scripts"] as? Int == 4 + layers)
        // 16 thumbnails on each side, each about 26 × 26 pixels of its patch's colour.
        #expect((outcome.checks["thumbnailPixels"] as? Int ?? 0) > 32 * 200, "thumbnails missing: \(outcome.checks)")
        let shot = try Self.screenshot(page, dir: dir)
        #expect(shot.inked > 0.03 && shot.deviation > 15, "screenshot looks blank: \(shot)")
    }
}
