import ArgumentParser
import Foundation
import MMAttn
import MMAttnVideo

/// `bench video`: the frames a video model samples, read by `VideoFile` (seeking, skipping what no
/// sampled frame needs), against reading as transformers' examples do with PyAV, measured in the
/// same run: every frame from the start up to the last sampled one decoded, only the sampled ones
/// converted to RGB.
struct BenchVideo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "video",
        abstract: "Time to read a video model's sampled frames, against decoding every frame up to the last one.",
        usage: """
        mmattn bench video <file> [--frames <K,...>] [--runs <n>] [--json]
        """,
        discussion: """
        For each K, the frames at round(linspace(0, n - 1, K)) of the file's n \
        frames (8 for TimeSformer, 16 for VideoMAE). `sampled_ms`: open the file, \
        count its frames, read the sampled ones with seeks, skipping frames none \
        of them needs. `sequential_ms`: open, count, then decode every frame from \
        the first to the last sampled one and convert the sampled ones to RGB \
        (what PyAV does in transformers' examples). Both give the same bytes; \
        each is the median of --runs runs, alternating, after one warm-up of \
        each. `decoded`: frames the sampled read decoded. `ratio`: \
        sequential_ms / sampled_ms (above 1: sampling is faster).
        Fixtures/bench_video_decode.py prints the same keys for PyAV.

          swift build -c release
          .build/release/mmattn bench video Fixtures/video/pan.mp4 --frames 8
          .build/release/mmattn bench video clip.mp4 --runs 5 --json
        """
    )
    @Argument(help: "A video file (MP4, MOV, WebM, MKV).") var file: String
    @Option(help: ArgumentHelp("Frames sampled per read: repeat the option or separate with commas (8,16 unless given).",
                               valueName: "K,..."))
    var frames: [String] = []
    @Option(help: "Timed runs of each read (the median is printed).") var runs = 5
    @Flag(help: "Print one JSON object.") var json = false

    struct Result {
        let frames: Int
        let sampledMilliseconds: Double
        let sequentialMilliseconds: Double
        let decoded: Int
        var ratio: Double { sequentialMilliseconds / sampledMilliseconds }

        var json: String {
            "{\"frames\": \(frames), \"sampled_ms\": \(String(format: "%.3f", sampledMilliseconds)), "
                + "\"sequential_ms\": \(String(format: "%.3f", sequentialMilliseconds)), \"decoded\": \(decoded), "
                + "\"ratio\": \(String(format: "%.3f", ratio))}"
        }
    }

    /// The frame counts `--frames` gives (8 and 16 without it).
    func sampleCounts() throws -> [Int] {
        guard !frames.isEmpty else { return [8, 16] }
        return try parseList(frames, option: "--frames", expected: "frame counts such as 8,16").map { text in
            guard let k = Int(text), k >= 1 else {
                throw ValidationError("--frames takes frame counts of at least 1 (for example 8,16), not \"\(text)\"")
            }
            return k
        }
    }

    func validate() throws {
        _ = try sampleCounts()
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    func run() throws {
        #if DEBUG
        Diagnostics.warn("this is a debug build: times are many times slower than a release build's (swift build -c release)")
        #endif
        let total = try VideoFile(path: file).frameCount()
        let counts = try sampleCounts()
        // Every K is checked before any is measured: a bad one is not found after minutes of runs.
        if let k = counts.first(where: { $0 > total }) {
            throw MMAttnError("\(total) frames, but --frames asks for \(k): give K up to \(total)", file: file)
        }
        let results = try counts.map { try measure(k: $0, total: total) }
        if json {
            print("{\"file\": \(JSON.quote(file)), \"frames_total\": \(total), \"results\": ["
                  + results.map(\.json).joined(separator: ", ") + "]}")
        } else {
            print("\(file): \(total) frames")
            for r in results {
                print(String(format: "  K=%-3d sampled %8.1f ms (%d frames decoded)   every frame to the last %8.1f ms   → %.2f×",
                             r.frames, r.sampledMilliseconds, r.decoded, r.sequentialMilliseconds, r.ratio))
            }
        }
    }

    /// Both reads of the K sampled frames (K up to `total`), alternating, `runs` times after one
    /// warm-up each.
    func measure(k: Int, total: Int) throws -> Result {
        let indices = FrameSampling.indices(count: total, wanted: k)
        var sampled: [Double] = [], sequential: [Double] = []
        var decoded = 0
        for run in 0...runs {
            let (a, ta) = try timedOnce { () throws -> (VideoFile, [RGBImage]) in
                let video = try VideoFile(path: file)
                _ = try video.frameCount()
                return (video, try video.frames(at: indices))
            }
            let (b, tb) = try timedOnce { () throws -> [RGBImage] in
                let video = try VideoFile(path: file)
                _ = try video.frameCount()
                return try video.framesDecodingEveryFrame(at: indices)
            }
            guard a.1 == b else {
                throw MMAttnError("the sampled frames differ from those of decoding every frame: a bug in mmattn's decoder, please report it with this file", file: file)
            }
            decoded = a.0.decodedFrames
            if run > 0 {
                sampled.append(ta)
                sequential.append(tb)
            }
        }
        return Result(frames: k, sampledMilliseconds: median(sampled) * 1e3,
                      sequentialMilliseconds: median(sequential) * 1e3, decoded: decoded)
    }
}
