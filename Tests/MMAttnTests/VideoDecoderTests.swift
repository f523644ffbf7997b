import Foundation
import Testing
@testable import MMAttn
@testable import MMAttnVideo
@testable import mmattn

/// The FFmpeg video decoder against PyAV: frame counts, presentation order and RGB frames.
/// References: Fixtures/reference/video-frames, written by Fixtures/gen_video_frames.py from the
/// clips in Fixtures/video (PyAV with its own FFmpeg; manifest.json says which versions).
@Suite struct VideoDecoderTests {
    static let manifest: Manifest = {
        let url = URL(fileURLWithPath: Paths.reference("video-frames/manifest.json"))
        return try! JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url))
    }()

    struct Manifest: Decodable {
        let clips: [String: Clip]
    }

    struct Clip: Decodable {
        let frames: Int
        let width: Int
        let height: Int
        let pts: [Int64]
        let samples: [String: [Int]]
        let stored: [Int]
        let npy: String
    }

    /// Largest difference allowed between our RGB bytes and PyAV's. Measured: 0 on every frame of
    /// every clip (PyAV 18.1 bundles FFmpeg 8, libswscale 9.5; Debian 12 has FFmpeg 5.1,
    /// libswscale 6.7): the decoders are bit-exact by their specifications, and both libswscale
    /// versions convert BT.601 limited-range 4:2:0 with SWS_BILINEAR the same way. So: exact.
    static let tolerance = 0

    static func clip(_ name: String) -> String { Paths.fixture("video/\(name)") }

    /// PyAV's frame `index` of `clip` (one of its stored frames), as bytes.
    static func reference(_ clip: Clip, frame index: Int) throws -> [UInt8] {
        let all = try NPY.read(Paths.reference("video-frames/\(clip.npy)"))
        let row = try #require(clip.stored.firstIndex(of: index), "frame \(index) is not stored")
        let size = clip.height * clip.width * 3
        #expect(all.shape == [clip.stored.count, clip.height, clip.width, 3])
        return (0..<size).map { UInt8(all.data[row * size + $0]) }
    }

    /// Largest absolute difference between two byte arrays of equal length.
    static func maxDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
        zip(a, b).reduce(0) { max($0, abs(Int($1.0) - Int($1.1))) }
    }

    /// Every clip: MP4, MOV, WebM, Matroska, MPEG-TS (timestamps not starting at 0, a seek to the
    /// first frame's pts lands after its packet) and AVI (MPEG-4 with B-frames: no presentation
    /// timestamps, frames numbered as decoded).
    static let clips = ["pan.mp4", "pan.mov", "zoom.webm", "fade.mkv", "pan.ts", "pan.avi"]
    /// The clips whose every frame PyAV's reference holds.
    static let fullyStored = ["pan.mp4", "pan.ts", "pan.avi"]

    @Test(arguments: clips)
    func countsFramesAndOrdersThemAsPyAV(name: String) throws {
        let clip = try #require(Self.manifest.clips[name])
        let video = try VideoFile(path: Self.clip(name))
        #expect(video.width == clip.width && video.height == clip.height)
        #expect(try video.frameCount() == clip.frames)
        #expect(try video.frameCount() == clip.frames)  // cached
        let index = try video.frameIndex()
        // AVI's packets carry decoding times (PyAV's frame.pts there is the decoder's guess):
        // its frames are numbered in output order, the others by presentation timestamp.
        #expect(index.sequential == (name == "pan.avi"))
        if !index.sequential {
            #expect(index.timestamps == clip.pts, "presentation timestamps differ from PyAV's frame.pts")
        }
        #expect(video.decodedFrames == 0, "counting must not decode")
    }

    @Test(arguments: clips)
    func decodesSampledFramesAsPyAV(name: String) throws {
        let clip = try #require(Self.manifest.clips[name])
        for (k, indices) in clip.samples.sorted(by: { $0.key < $1.key }) {
            let video = try VideoFile(path: Self.clip(name))
            let frames = try video.frames(at: indices)
            #expect(frames.count == indices.count)
            for (frame, i) in zip(frames, indices) {
                #expect(frame.width == clip.width && frame.height == clip.height)
                let difference = Self.maxDifference(frame.pixels, try Self.reference(clip, frame: i))
                #expect(difference <= Self.tolerance, "\(name) k=\(k) frame \(i): largest difference \(difference)")
            }
        }
    }

    /// Every frame of the clips with B-frames and several GOPs, asked for one by one and all at
    /// once.
    @Test(arguments: fullyStored)
    func decodesEveryFrameAsPyAV(name: String) throws {
        let clip = try #require(Self.manifest.clips[name])
        let video = try VideoFile(path: Self.clip(name))
        let all = try video.frames(at: Array(0..<clip.frames))
        #expect(video.decodedFrames == clip.frames, "one pass, no re-seek")
        for i in 0..<clip.frames {
            let reference = try Self.reference(clip, frame: i)
            #expect(Self.maxDifference(all[i].pixels, reference) <= Self.tolerance, "\(name) frame \(i)")
            let single = try VideoFile(path: Self.clip(name)).frames(at: [i])
            #expect(single == [all[i]], "\(name) frame \(i) alone differs from frame \(i) in a full pass")
        }
    }

    @Test func framesOutOfOrderAndRepeated() throws {
        let clip = try #require(Self.manifest.clips["pan.mp4"])
        let video = try VideoFile(path: Self.clip("pan.mp4"))
        let indices = [9, 2, 9, 0, 15, 2, 8]
        let frames = try video.frames(at: indices)
        #expect(frames.count == indices.count)
        for (frame, i) in zip(frames, indices) {
            #expect(Self.maxDifference(frame.pixels, try Self.reference(clip, frame: i)) <= Self.tolerance, "frame \(i)")
        }
        // Asking again (the decoder is now at the end of the file) seeks back.
        #expect(try video.frames(at: [3, 1]) == [try VideoFile(path: Self.clip("pan.mp4")).frames(at: [3])[0],
                                              try VideoFile(path: Self.clip("pan.mp4")).frames(at: [1])[0]])
    }

    @Test func samplingDecodesOnlyWhatItNeeds() throws {
        // zoom.webm: 20 frames, keyframes every 10: the last frame needs at most its own GOP.
        let zoom = try VideoFile(path: Self.clip("zoom.webm"))
        _ = try zoom.frames(at: [19])
        #expect(zoom.decodedFrames <= 10, "decoded \(zoom.decodedFrames) frames for one")
        // pan.mp4: 16 frames, keyframes at 0 and 8: frames 0 and 15 need 1 + at most 8.
        let pan = try VideoFile(path: Self.clip("pan.mp4"))
        _ = try pan.frames(at: [0, 15])
        #expect(pan.decodedFrames <= 9, "decoded \(pan.decodedFrames) frames for two")
        // pan.ts: keyframes at 0 and 8 too, found by their decoding timestamps (a seek to a
        // keyframe's pts lands after it): as few frames as pan.mp4's.
        let ts = try VideoFile(path: Self.clip("pan.ts"))
        _ = try ts.frames(at: [0, 15])
        #expect(ts.decodedFrames <= 9, "decoded \(ts.decodedFrames) frames for two")
        // pan.avi: frames numbered as decoded are found by decoding from the start.
        let avi = try VideoFile(path: Self.clip("pan.avi"))
        _ = try avi.frames(at: [5])
        #expect(avi.decodedFrames == 6, "decoded \(avi.decodedFrames) frames for 0...5")
        // pan.mov: one keyframe: frames 2, 5 and 9 come from one forward pass (0...9), no re-seek,
        // and its non-reference B-frames between them are skipped (decoding all takes 10).
        let mov = try VideoFile(path: Self.clip("pan.mov"))
        _ = try mov.frames(at: [2, 5, 9])
        #expect(mov.decodedFrames < 10, "decoded \(mov.decodedFrames) frames for 0...9")
        let all = try VideoFile(path: Self.clip("pan.mov"))
        _ = try all.framesDecodingEveryFrame(at: [2, 5, 9])
        #expect(all.decodedFrames == 10, "decoding every frame decoded \(all.decodedFrames) for 0...9")
    }

    /// Skipping frames no wanted frame needs changes no byte: every pair and every run of three
    /// frames of the H.264 clips (B-frames, one or more GOPs), asked for at once, equal decoding
    /// every frame up to them (itself equal to PyAV's frames, above).
    @Test(arguments: ["pan.mp4", "pan.mov", "fade.mkv", "pan.ts", "pan.avi"])
    func skippingChangesNoByte(name: String) throws {
        let clip = try #require(Self.manifest.clips[name])
        let every = try VideoFile(path: Self.clip(name)).framesDecodingEveryFrame(at: Array(0..<clip.frames))
        #expect(every.count == clip.frames)
        for i in 0..<clip.frames {
            for j in i..<clip.frames {
                let wanted = [i, j] + (j + 2 < clip.frames ? [j + 2] : [])
                let got = try VideoFile(path: Self.clip(name)).frames(at: wanted)
                #expect(got == wanted.map { every[$0] }, "\(name) frames \(wanted)")
            }
        }
    }

    /// One file asked for frames call after call (the decoder goes on or seeks from where the last
    /// call left it, frames skipped or not), forwards and backwards: the same bytes every time.
    @Test(arguments: clips)
    func callAfterCallGivesTheSameFrames(name: String) throws {
        let clip = try #require(Self.manifest.clips[name])
        let every = try VideoFile(path: Self.clip(name)).framesDecodingEveryFrame(at: Array(0..<clip.frames))
        let video = try VideoFile(path: Self.clip(name))
        let calls = (0..<clip.frames).map { [$0] } + (0..<clip.frames - 1).map { [$0 + 1, $0] }
            + (0..<clip.frames).reversed().map { [$0] } + [[0, clip.frames - 1], Array(0..<clip.frames)]
        for wanted in calls {
            #expect(try video.frames(at: wanted) == wanted.map { every[$0] }, "\(name) frames \(wanted)")
        }
        #expect(try video.framesDecodingEveryFrame(at: [3, 1]) == [every[3], every[1]])
        #expect(try video.frames(at: [2]) == [every[2]], "after decoding every frame")
    }

    /// `mmattn bench video`: one JSON object with the keys Fixtures/bench_video_decode.py prints too.
    @Test func benchVideoPrintsItsKeys() throws {
        let path = Self.clip("pan.mp4")
        let r = try CLI.run(["bench", "video", path, "--frames", "4,16", "--runs", "1", "--json"])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasSuffix("}\n") && r.stdout.filter { $0 == "\n" }.count == 1, "not one JSON line: \(r.stdout)")
        let object = try #require(try JSON.parse(Data(r.stdout.utf8)).object, "not a JSON object: \(r.stdout)")
        #expect(object.keys == ["file", "frames_total", "results"])
        #expect(object["file"]?.string == path && object["frames_total"]?.int == 16)
        let results = try #require(object["results"]?.array)
        #expect(results.compactMap { $0.object?["frames"]?.int } == [4, 16])
        for result in results {
            let o = try #require(result.object)
            #expect(o.keys == ["frames", "sampled_ms", "sequential_ms", "decoded", "ratio"])
            for key in ["sampled_ms", "sequential_ms", "ratio"] {
                #expect(o[key]?.double.map { $0.isFinite && $0 > 0 } == true, "\(key): \(String(describing: o[key]))")
            }
            #expect((1...16).contains(o["decoded"]?.int ?? 0))
        }
        let refused = try CLI.run(["bench", "video", path, "--frames", "17", "--runs", "1"])
        #expect(refused.status != 0 && refused.stderr.contains("16 frames"), "\(refused.stderr)")
        // A K the clip cannot give is refused however it is listed, with nothing printed.
        let late = try CLI.run(["bench", "video", path, "--frames", "8,999", "--runs", "1", "--json"])
        #expect(late.status == 1 && late.stderr.contains("asks for 999") && late.stdout.isEmpty, "\(late.stderr)")
    }

    @Test func benchMedianOfAnEvenNumberOfRunsIsTheMeanOfTheMiddleTwo() {
        #expect(median([4, 1, 3, 2]) == 2.5)
        #expect(median([3, 1, 2]) == 2)
        #expect(median([7]) == 7)
        #expect(median([2, 1]) == 1.5)
    }

    @Test func refusesFramesOutsideTheClip() throws {
        let video = try VideoFile(path: Self.clip("fade.mkv"))
        for bad in [[10], [-1], [0, 3, 11]] {
            #expect(throws: MMAttnError.self) { try video.frames(at: bad) }
        }
        #expect(try video.frames(at: []).isEmpty)
    }

    /// Only local files are opened: a URL is refused before FFmpeg sees it (nothing connects to a
    /// port listening for it); a local HLS playlist naming a network segment does not reach the
    /// network either; and FFmpeg may use no protocol but `file` (its `subfile,` prefix, which
    /// reads as no URL, is refused by that whitelist alone).
    @Test func refusesURLsWithoutNetworkIO() throws {
        let listener = try LocalListener()
        let urls = ["http://127.0.0.1:9/x.mp4", "http://127.0.0.1:\(listener.port)/x.mp4", "tcp://127.0.0.1:\(listener.port)",
                    "pipe:0", "HTTPS://example.invalid/clip.webm"]
        for url in urls {
            do {
                _ = try VideoFile(path: url)
                Issue.record("\(url) was opened")
            } catch let error as MMAttnError {
                #expect(error.file == url)
                #expect(error.message.contains("not a local file"), "\(url): \(error.message)")
            }
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mmattn-video-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let playlist = folder.appendingPathComponent("clip.m3u8").path
        try """
        #EXTM3U
        #EXT-X-TARGETDURATION:2
        #EXTINF:2.0,
        http://127.0.0.1:\(listener.port)/segment.ts
        #EXT-X-ENDLIST

        """.write(toFile: playlist, atomically: true, encoding: .utf8)
        do {
            let video = try VideoFile(path: playlist)
            _ = try video.frameCount()
            Issue.record("the playlist was read")
        } catch let error as MMAttnError {
            #expect(error.file == playlist)
        }
        #expect(!listener.wasConnected(), "something connected to 127.0.0.1:\(listener.port)")
        let subfile = "subfile,,start,0,end,0,,:" + URL(fileURLWithPath: Self.clip("zoom.webm")).path
        #expect(throws: MMAttnError.self, "the subfile protocol was used") { try VideoFile(path: subfile) }
        // A path with a colon after a slash is no URL; one naming an existing file is opened.
        let colon = folder.appendingPathComponent("a:b.webm").path
        try FileManager.default.copyItem(atPath: Self.clip("zoom.webm"), toPath: colon)
        #expect(try VideoFile.localURL(colon) == colon)
        #expect(try VideoFile(path: colon).frameCount() == 20)
        #expect(try VideoFile.localURL("dir/a:b.mp4") == "dir/a:b.mp4")
        #expect(try VideoFile.localURL("file:clip.mp4") == "file:clip.mp4")
    }

    /// Each broken file gives an MMAttnError naming it and saying what is wrong; none crashes.
    @Test(arguments: [
        ("bad/text.mp4", "cannot open as a video"),
        ("bad/truncated.mp4", "cannot open as a video"),
        ("bad/truncated-faststart.mp4", "truncated"),
        ("bad/corrupt.mp4", "corrupt"),
        ("bad/audio-only.mp4", "no video stream"),
        ("bad/no-frames.mkv", "no frames"),
        ("does-not-exist.mp4", "No such file"),
    ])
    func brokenFilesGiveErrorsNamingThem(name: String, says: String) throws {
        let path = Self.clip(name)
        do {
            let video = try VideoFile(path: path)
            let n = try video.frameCount()
            _ = try video.frames(at: Array(0..<n))
            Issue.record("\(name) was decoded")
        } catch let error as MMAttnError {
            #expect(error.file == path)
            #expect(error.message.contains(says), "\(name): \(error.message)")
        }
    }
}

/// A TCP socket listening on 127.0.0.1 (a free port), to tell whether anything connected to it.
private final class LocalListener {
    let socket: Int32
    let port: Int

    init() throws {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw MMAttnError("cannot create a socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(socket, pointer, length) == 0 && listen(socket, 4) == 0 && getsockname(socket, pointer, &length) == 0
            }
        }
        guard bound else {
            close(socket)
            throw MMAttnError("cannot listen on 127.0.0.1")
        }
        self.socket = socket
        port = Int(UInt16(bigEndian: address.sin_port))
        _ = fcntl(socket, F_SETFL, fcntl(socket, F_GETFL) | O_NONBLOCK)
    }

    /// Whether a connection is waiting to be accepted (the listener never accepts one).
    func wasConnected() -> Bool {
        let client = accept(socket, nil, nil)
        if client >= 0 { close(client) }
        return client >= 0
    }

    deinit { close(socket) }
}
