import CFFmpeg
import Foundation
import MMAttn

/// A video file (MP4, MOV, WebM, MKV, or anything else FFmpeg's libavformat opens) as a
/// `FrameSource`: its best video stream, counted by reading packets and decoded only where frames
/// are asked for.
///
/// Frames are numbered in presentation order, as PyAV's `container.decode(video=0)` yields them,
/// and converted to RGB as PyAV's `frame.to_ndarray(format="rgb24")` converts them (libswscale,
/// bilinear, the frame's own colour matrix and range).
///
/// Opening a `VideoFile` silences FFmpeg's own log output for the whole process, so stderr carries
/// only mmattn's messages. A `VideoFile` is not safe to use from several threads at once.
public final class VideoFile: FrameSource {
    /// The path the file was opened from; errors name it.
    public let name: String
    /// The video stream's frame width in pixels, as its header states it.
    public let width: Int
    /// The video stream's frame height in pixels, as its header states it.
    public let height: Int

    /// Frames the decoder has produced since the file was opened (frames it was told to skip are
    /// not counted): tests check that sampling decodes only what it needs, benchmarks report it.
    public private(set) var decodedFrames = 0

    private let handles: Handles
    private let streamIndex: Int32
    private var cachedIndex: FrameIndex?
    /// Presentation index of the last frame the decoder produced since the last seek (nil right
    /// after a seek, or before any).
    private var position: Int?
    /// Whether the demuxer reached the end and the decoder was told so (it is draining).
    private var draining = false
    /// Packets read since the last seek, bounded by the file's packet count so no loop can run on.
    private var packetsSinceSeek = 0
    private var scalerKey: ScalerKey?
    /// Whether frames no wanted frame needs may be skipped (H.264 only: its decoder skips
    /// non-reference pictures exactly, see `Plan`).
    private let skipsUnneeded: Bool
    /// Whether the codec may output frames in another order than their packets come in (B-frames:
    /// the stream's stated decoder delay): with every packet's pts equal to its dts, such a stream's
    /// timestamps are decoding times, not presentation times (AVI).
    private let reorders: Bool
    /// Whether `handles.pending` holds the video packet a seek to the start read to check where
    /// it landed: the next packet to send.
    private var hasPending = false
    /// Whether packets are dropped, unsent, until a keyframe's (after a seek to a keyframe: some
    /// demuxers, MPEG-TS's, land on a packet near it).
    private var awaitingKeyframe = false
    /// The wanted frames of the forward pass under way, or nil: decode every packet.
    private var plan: Plan?
    /// Frames whose packets were sent since the last seek, and whether the decoder was told it
    /// may skip them.
    private var sentSinceSeek: [Int: Bool] = [:]
    /// Whether the decoder was told to drain before the end of the file (after the last wanted
    /// frame's packet): frames after it were never sent, so going on needs a seek.
    private var drainedEarly = false

    /// Largest frame accepted, in pixels (2^26: 8192 x 8192), checked before anything is allocated
    /// for a frame.
    static let maxPixels = 1 << 26

    /// Open `path` and choose its best video stream and decoder. Reads the headers only.
    ///
    /// Only local files are opened: a URL (`http://...`, `tcp://...`, `pipe:`) is refused before
    /// FFmpeg sees it, and FFmpeg may use no protocol but `file` (so a local playlist cannot
    /// reach the network either).
    public init(path: String) throws {
        _ = Self.quietLogs
        name = path
        handles = Handles()
        let url = try Self.localURL(path)
        var format: UnsafeMutablePointer<AVFormatContext>?
        var options: OpaquePointer?
        defer { av_dict_free(&options) }
        guard av_dict_set(&options, "protocol_whitelist", "file", 0) >= 0 else {
            throw MMAttnError("out of memory opening the video", file: path)
        }
        let opened = avformat_open_input(&format, url, nil, &options)
        guard opened >= 0, let format else {
            throw MMAttnError("cannot open as a video (\(Self.describe(opened))): give an MP4, MOV, WebM or MKV file that is complete and readable", file: path)
        }
        handles.format = format
        let info = avformat_find_stream_info(format, nil)
        guard info >= 0 else {
            throw MMAttnError("cannot read the streams of this file (\(Self.describe(info))): it is truncated or not a video; re-download or re-encode it", file: path)
        }
        var decoder: UnsafePointer<AVCodec>?
        let best = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0)
        if best == mmattn_averror_stream_not_found() {
            throw MMAttnError("has no video stream (audio only?): give a file with video in it", file: path)
        }
        guard best >= 0, Int(best) < Int(format.pointee.nb_streams), let stream = format.pointee.streams[Int(best)],
              let parameters = stream.pointee.codecpar else {
            if best == mmattn_averror_decoder_not_found() {
                // Name the codec of the first video stream (the one FFmpeg found no decoder for).
                let video = (0..<Int(format.pointee.nb_streams)).lazy
                    .compactMap { format.pointee.streams[$0]?.pointee.codecpar?.pointee }
                    .first { $0.codec_type == AVMEDIA_TYPE_VIDEO }
                let codecName = video.map { String(cString: avcodec_get_name($0.codec_id)) } ?? "unknown"
                throw MMAttnError("its video codec \(codecName) is not supported by this FFmpeg: re-encode the file as H.264 or VP9", file: path)
            }
            throw MMAttnError("cannot choose a video stream (\(Self.describe(best))): re-encode the file as H.264 or VP9", file: path)
        }
        if decoder == nil {
            throw MMAttnError("its video codec \(String(cString: avcodec_get_name(parameters.pointee.codec_id))) is not supported by this FFmpeg: re-encode the file as H.264 or VP9", file: path)
        }
        if stream.pointee.disposition & mmattn_disposition_attached_pic() != 0 {
            throw MMAttnError("has no video stream, only a cover picture (audio only?): give a file with video in it", file: path)
        }
        let w = Int(parameters.pointee.width), h = Int(parameters.pointee.height)
        guard w > 0, h > 0, w <= Self.maxPixels, h <= Self.maxPixels, w * h <= Self.maxPixels else {
            throw MMAttnError("its video stream states a frame size of \(w)x\(h), which is \(w > 0 && h > 0 ? "over the limit of \(Self.maxPixels) pixels" : "empty"): the file is corrupt, or scale the video down", file: path)
        }
        width = w
        height = h
        streamIndex = best
        skipsUnneeded = parameters.pointee.codec_id == AV_CODEC_ID_H264
        reorders = parameters.pointee.video_delay > 0

        guard let codec = avcodec_alloc_context3(decoder) else {
            throw MMAttnError("out of memory opening the video decoder", file: path)
        }
        handles.codec = codec
        let copied = avcodec_parameters_to_context(codec, parameters)
        guard copied >= 0 else {
            throw MMAttnError("cannot set up the \(String(cString: avcodec_get_name(parameters.pointee.codec_id))) decoder (\(Self.describe(copied))): the file is corrupt or the codec unsupported; re-encode it as H.264 or VP9", file: path)
        }
        codec.pointee.pkt_timebase = stream.pointee.time_base
        // The decoder allocates frames from the bitstream's own size, which may differ from the
        // container's: FFmpeg refuses frames past this bound before allocating them.
        codec.pointee.max_pixels = Int64(Self.maxPixels)
        // As many threads as CPUs (0), decoding several frames at once: results are bit-identical
        // to single-threaded decoding.
        codec.pointee.thread_count = 0
        codec.pointee.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE
        let open = avcodec_open2(codec, decoder, nil)
        guard open >= 0 else {
            throw MMAttnError("cannot open the \(String(cString: avcodec_get_name(parameters.pointee.codec_id))) decoder (\(Self.describe(open))): this codec is unsupported; re-encode the file as H.264 or VP9", file: path)
        }
        guard let packet = av_packet_alloc(), let pending = av_packet_alloc(), let frame = av_frame_alloc() else {
            throw MMAttnError("out of memory opening the video decoder", file: path)
        }
        handles.packet = packet
        handles.pending = pending
        handles.frame = frame
    }

    /// What FFmpeg is given to open `path`: the path itself, or `file:` and the path where the
    /// path exists but would read as a URL (`a:b.mp4`: FFmpeg takes anything before a colon for a
    /// protocol). A path that is a URL and no local file is refused.
    static func localURL(_ path: String) throws -> String {
        let schemeCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")
        guard let colon = path.firstIndex(of: ":"), colon != path.startIndex,
              path[..<colon].allSatisfy({ schemeCharacters.contains($0) }) else { return path }
        let scheme = path[..<colon]
        if FileManager.default.fileExists(atPath: path) { return "file:" + path }
        if scheme.lowercased() == "file" { return path }
        throw MMAttnError("is a URL (\(scheme):), not a local file: mmattn opens only video files on this machine; download it first", file: path)
    }

    /// How many frames the video stream has: its packets, counted by reading the whole file
    /// without decoding (WebM and MKV headers do not state a count, and MP4's can disagree with
    /// what plays). Counted once; later calls return the cached count.
    public func frameCount() throws -> Int {
        try frameIndex().count
    }

    /// The frames at `indices` (each in 0..<frameCount(), in any order, repeats allowed), as
    /// 8-bit RGB, handed to `body` in frame order with their positions in `indices`, one frame
    /// alive at a time. Each distinct frame is decoded once: from the keyframe before it, or
    /// onward from the previous wanted frame when no keyframe lies between them. In H.264, frames
    /// between that no wanted frame needs (non-reference pictures) are skipped, and decoding stops
    /// once the last wanted frame's packet is in: the wanted frames come out bit-identical to
    /// decoding everything.
    public func forEachFrame(at indices: [Int], _ body: (Int, RGBImage) throws -> Void) throws {
        let index = try frameIndex()
        try check(indices, count: index.count)
        let wanted = Set(indices).sorted()
        defer { plan = nil }
        let positions = Dictionary(grouping: indices.indices, by: { indices[$0] })
        for rank in wanted.indices {
            let image = try decodeFrame(rank: rank, of: wanted, index: index)
            for position in positions[wanted[rank]] ?? [] { try body(position, image) }
        }
    }

    /// The frames at `indices`, as a reader that decodes the video from its start gets them (PyAV
    /// in transformers' VideoMAE and TimeSformer examples): every frame up to the last one asked
    /// for is decoded, in order, and only those asked for are converted to RGB. The same frames
    /// as `frames(at:)`, more slowly: the baseline `mmattn bench video` measures against.
    public func framesDecodingEveryFrame(at indices: [Int]) throws -> [RGBImage] {
        let index = try frameIndex()
        try check(indices, count: index.count)
        guard let last = indices.max() else { return [] }
        let wanted = Set(indices)
        plan = nil
        try seekToStart(index: index)  // the first frame's packet (PyAV: container.seek(0))
        var images: [Int: RGBImage] = [:]
        while images.count < wanted.count, let frame = try nextFrame(index: index) {
            guard let n = number(of: frame, index: index) else { continue }
            position = n
            if wanted.contains(n) && images[n] == nil { images[n] = try rgb(frame) }
            if n >= last { break }
        }
        if let missing = wanted.sorted().first(where: { images[$0] == nil }) {
            throw MMAttnError("frame \(missing) could not be decoded: decoding from the start \(position.map { "reached frame \($0) without it" } ?? "gave no frame"); re-encode the file", file: name)
        }
        return indices.map { images[$0]! }
    }

    private func check(_ indices: [Int], count: Int) throws {
        if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
            throw MMAttnError("frame \(bad) asked for, but the video has \(count) frames (0...\(count - 1))", file: name)
        }
    }

    // MARK: - Counting

    /// Where each frame is: presentation timestamps in order (frame index -> pts) and what a seek
    /// to the keyframe before a frame needs; or, where the container's timestamps do not say where
    /// a frame is, only how many there are.
    struct FrameIndex {
        /// Frames: the video stream's packets.
        var count: Int
        /// Presentation timestamps, ascending, one per frame, in the stream's time base; empty
        /// when `sequential`.
        var timestamps: [Int64]
        /// Presentation indices of the keyframes, ascending; empty when `sequential`.
        var keyframes: [Int]
        /// The keyframes' decoding timestamps (AV_NOPTS_VALUE where a packet has none), as
        /// `keyframes` orders them.
        var keyframeDecodingTimes: [Int64]
        /// Packets of all streams in the file: a bound on any read loop.
        var packets: Int
        /// The video stream's first packet, as reading from the start of the file finds it.
        var first: PacketMark
        /// Whether frames are numbered as the decoder outputs them from the start of the stream,
        /// not by timestamp: some packet has no pts, two share one, or every pts equals its dts
        /// in a stream whose codec reorders frames (AVI: libavformat derives a pts from the
        /// decoding time, so a frame's pts is not its place). Every read then decodes from the
        /// start.
        var sequential: Bool

        /// The position of `timestamp` in `timestamps`, if a frame has it.
        func frame(at timestamp: Int64) -> Int? {
            var lo = 0, hi = timestamps.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if timestamps[mid] < timestamp { lo = mid + 1 } else { hi = mid }
            }
            return lo < timestamps.count && timestamps[lo] == timestamp ? lo : nil
        }

        /// Position in `keyframes` of the last keyframe at or before frame `i` (frames before the
        /// first keyframe use the first; a stream without keyframe flags, the start).
        func keyframe(before i: Int) -> Int? {
            guard let first = keyframes.first, first <= i else { return keyframes.isEmpty ? nil : 0 }
            var lo = 0, hi = keyframes.count  // invariant: keyframes[lo] <= i
            while hi - lo > 1 {
                let mid = (lo + hi) / 2
                if keyframes[mid] <= i { lo = mid } else { hi = mid }
            }
            return lo
        }
    }

    /// What tells a packet apart: where it is in the file, its timestamps and size.
    struct PacketMark: Equatable {
        var pos: Int64, pts: Int64, dts: Int64, size: Int32

        init(_ p: AVPacket) {
            pos = p.pos
            pts = p.pts
            dts = p.dts
            size = p.size
        }
    }

    /// The frame index, counted on first use (internal: tests compare it with PyAV's timestamps).
    func frameIndex() throws -> FrameIndex {
        if let cachedIndex { return cachedIndex }
        guard let format = handles.format, let packet = handles.packet else { throw closed() }
        let nopts = mmattn_nopts()
        var entries: [(pts: Int64, dts: Int64, key: Bool)] = []
        var first: PacketMark?
        var packets = 0
        while true {
            let read = av_read_frame(format, packet)
            if read == mmattn_averror_eof() { break }
            guard read >= 0 else {
                throw MMAttnError("cannot read past frame \(entries.count) (\(Self.describe(read))): the file is truncated or corrupt; re-download or re-encode it", file: name)
            }
            defer { av_packet_unref(packet) }
            packets += 1
            let p = packet.pointee
            guard p.stream_index == streamIndex, p.flags & AV_PKT_FLAG_DISCARD == 0 else { continue }
            if p.flags & AV_PKT_FLAG_CORRUPT != 0 {
                throw MMAttnError("the video stream's packet \(entries.count) (in decoding order) is incomplete: the file is truncated or corrupt; re-download or re-encode it", file: name)
            }
            if first == nil { first = PacketMark(p) }
            entries.append((p.pts, p.dts, p.flags & AV_PKT_FLAG_KEY != 0))
        }
        guard let first, !entries.isEmpty else {
            throw MMAttnError("its video stream has no frames: give a video with at least one frame", file: name)
        }
        var sequential = entries.contains { $0.pts == nopts } || (reorders && entries.allSatisfy { $0.pts == $0.dts })
        if !sequential {
            entries.sort { $0.pts < $1.pts }
            sequential = entries.indices.dropFirst().contains { entries[$0].pts == entries[$0 - 1].pts }
        }
        let keyframes = sequential ? [] : entries.indices.filter { entries[$0].key }
        let index = FrameIndex(count: entries.count, timestamps: sequential ? [] : entries.map(\.pts),
                               keyframes: keyframes, keyframeDecodingTimes: keyframes.map { entries[$0].dts },
                               packets: packets, first: first, sequential: sequential)
        cachedIndex = index
        position = nil  // the demuxer is at the end now
        return index
    }

    // MARK: - Decoding

    /// The wanted frames one forward pass decodes, from a seek (or the decoder's position) to the
    /// last wanted frame before a keyframe that a seek reaches sooner; which of them the decoder
    /// has not been sent yet. While some are unsent, the packets of other frames are sent with
    /// `skip_frame = AVDISCARD_NONREF`: H.264 then skips their slices when the picture is not a
    /// reference (nal_ref_idc 0: nothing is predicted from it) and decodes them as usual when it
    /// is. Once all are sent the decoder is drained at once: packets after them can only be
    /// needed by frames after them, which are not wanted (the next wanted frame is reached by a
    /// seek, which flushes the decoder).
    struct Plan {
        var members: Set<Int>
        var unsent: Set<Int>
    }

    /// The plan for the pass that starts with `wanted[rank]` (nil where frames are not skipped).
    private func makePlan(from rank: Int, of wanted: [Int], index: FrameIndex) -> Plan? {
        guard skipsUnneeded, !index.sequential else { return nil }
        var members = [wanted[rank]]
        for j in wanted[(rank + 1)...] {
            // The rule `decodeFrame` goes on without a seek by, from the previous wanted frame.
            let key = index.keyframe(before: j).map { index.keyframes[$0] } ?? 0
            guard key <= members[members.count - 1] + 1 else { break }
            members.append(j)
        }
        return Plan(members: Set(members), unsent: Set(members.filter { sentSinceSeek[$0] == nil }))
    }

    /// Whether frame `i` (after `position`) still comes out of the decoder without a seek: its
    /// packet was sent without permission to skip it, or is still to be read.
    private func canContinue(to i: Int) -> Bool {
        if let skippable = sentSinceSeek[i] { return !skippable }
        return !drainedEarly
    }

    private func decodeFrame(rank: Int, of wanted: [Int], index: FrameIndex) throws -> RGBImage {
        let i = wanted[rank]
        let key = index.keyframe(before: i)
        if let position, position < i, (key.map { index.keyframes[$0] } ?? 0) <= position + 1, canContinue(to: i) {
            // Frame i is ahead within the GOP being decoded (or in the GOP that starts with the
            // next frame; numbered in output order, anywhere ahead): keep going without a seek.
            if plan?.members.contains(i) != true { plan = makePlan(from: rank, of: wanted, index: index) }
            if let image = try decodeForward(to: i, index: index, afterSeek: false) { return image }
        }
        // Seek to the keyframe before frame i, by its presentation timestamp (MP4, MOV and
        // Matroska index keyframes by it), else by its decoding timestamp (MPEG-TS's demuxer
        // searches by that, and lands after the keyframe when given its pts). A demuxer that
        // lands after frame i instead gets the keyframe before that one, then the start of the
        // stream. Frames numbered in output order are found from the start only.
        var attempts: [Int64?] = []  // nil: the start
        if !index.sequential, let key, index.keyframes[key] > 0 {
            let pts = index.timestamps[index.keyframes[key]], dts = index.keyframeDecodingTimes[key]
            attempts.append(pts)
            if dts != mmattn_nopts() && dts != pts { attempts.append(dts) }
            if key > 0, index.keyframes[key - 1] > 0 { attempts.append(index.timestamps[index.keyframes[key - 1]]) }
        }
        attempts.append(nil)
        for target in attempts {
            if let target { try seek(to: target) } else { try seekToStart(index: index) }
            plan = makePlan(from: rank, of: wanted, index: index)
            if let image = try decodeForward(to: i, index: index, afterSeek: true) { return image }
        }
        throw MMAttnError("frame \(i) could not be located: decoding from the start of the video stream gives a later frame first (\(position.map { "frame \($0)" } ?? "none")); re-encode the file", file: name)
    }

    /// The number of a frame the decoder just output: its presentation index by timestamp, or,
    /// numbered in output order, the one after `position` (nil after a seek: the start).
    private func number(of frame: UnsafeMutablePointer<AVFrame>, index: FrameIndex) -> Int? {
        if index.sequential { return (position ?? -1) + 1 }
        var ts = frame.pointee.best_effort_timestamp
        if index.frame(at: ts) == nil { ts = frame.pointee.pts }
        return index.frame(at: ts)
    }

    /// Decode until frame `i` comes out and return it in RGB. Returns nil only right after a seek
    /// that landed beyond frame i (the caller seeks earlier); throws when frame i is missing.
    private func decodeForward(to i: Int, index: FrameIndex, afterSeek: Bool) throws -> RGBImage? {
        var first = afterSeek
        while let frame = try nextFrame(index: index) {
            guard let n = number(of: frame, index: index) else { continue }  // a frame the count did not list
            if first && n > i {
                position = n
                return nil
            }
            first = false
            if n > i {
                let from = position.map { "frame \($0)" } ?? "the keyframe"
                throw MMAttnError("frame \(i) could not be decoded: the decoder went from \(from) to frame \(n) without it; re-encode the file", file: name)
            }
            position = n
            if n == i { return try rgb(frame) }
        }
        if first { return nil }
        throw MMAttnError("the file ends before frame \(i) could be decoded\(index.sequential ? " (the decoder gave fewer frames than the video stream has packets)" : ""): it is truncated or damaged; re-download or re-encode it", file: name)
    }

    /// Seek to the keyframe at or before `timestamp` (presentation time); packets before the
    /// first keyframe packet the demuxer then gives are dropped.
    private func seek(to timestamp: Int64) throws {
        guard let format = handles.format else { throw closed() }
        let r = av_seek_frame(format, streamIndex, timestamp, AVSEEK_FLAG_BACKWARD)
        guard r >= 0 else {
            throw MMAttnError("cannot seek in this file (\(Self.describe(r))): it is truncated, damaged or not seekable; remux it (ffmpeg -i in -c copy out.mkv)", file: name)
        }
        try resetDecoder()
        awaitingKeyframe = true
    }

    /// Go back to the video stream's first packet, as reading the file from its start finds it.
    /// Demuxers differ in which request gets there (MP4 and MOV take a seek to Int64.min as done
    /// but stay where they were; MPEG-TS lands a seek to the first frame's pts after its packet,
    /// which starts earlier; AVI's first packet has no pts), so each is tried until the packet
    /// read next is that first packet, which is then kept to be sent first.
    private func seekToStart(index: FrameIndex) throws {
        guard let format = handles.format, let packet = handles.packet, let pending = handles.pending else { throw closed() }
        let nopts = mmattn_nopts()
        let earliest = index.timestamps.first ?? (index.first.dts != nopts ? index.first.dts : index.first.pts)
        let byteSeeks = format.pointee.iformat.map { $0.pointee.flags & AVFMT_NO_BYTE_SEEK == 0 } ?? false
        let start = format.pointee.start_time
        var requests: [() -> Int32] = []
        if earliest != nopts {
            requests.append { av_seek_frame(format, self.streamIndex, earliest, AVSEEK_FLAG_BACKWARD) }
        }
        requests.append { avformat_seek_file(format, self.streamIndex, Int64.min, Int64.min, Int64.min, 0) }
        requests.append { av_seek_frame(format, -1, start != nopts ? start : 0, AVSEEK_FLAG_BACKWARD) }
        if byteSeeks && index.first.pos >= 0 {
            requests.append { av_seek_frame(format, self.streamIndex, index.first.pos, AVSEEK_FLAG_BYTE) }
        }
        hasPending = false
        av_packet_unref(pending)
        for request in requests where request() >= 0 {
            // The next video packet (reading at most the file's packets), or none.
            var packetsRead = 0
            while packetsRead <= index.packets, av_read_frame(format, packet) >= 0 {
                packetsRead += 1
                guard packet.pointee.stream_index == streamIndex else {
                    av_packet_unref(packet)
                    continue
                }
                if PacketMark(packet.pointee) == index.first {
                    av_packet_move_ref(pending, packet)
                    try resetDecoder()
                    hasPending = true
                    return
                }
                av_packet_unref(packet)
                break
            }
        }
        throw MMAttnError("cannot go back to the start of the video stream: no way of seeking this file's demuxer offers reaches its first packet; remux it (ffmpeg -i in -c copy out.mkv)", file: name)
    }

    /// Flush the decoder after a seek: it starts again from the packets read next.
    private func resetDecoder() throws {
        guard let codec = handles.codec else { throw closed() }
        avcodec_flush_buffers(codec)
        position = nil
        draining = false
        drainedEarly = false
        awaitingKeyframe = false
        sentSinceSeek = [:]
        packetsSinceSeek = 0
    }

    /// The decoder's next frame (in presentation order), reading and sending packets as it needs
    /// them; nil when the stream has ended. The frame is valid until the next call.
    private func nextFrame(index: FrameIndex) throws -> UnsafeMutablePointer<AVFrame>? {
        guard let codec = handles.codec, let frame = handles.frame else { throw closed() }
        while true {
            let received = avcodec_receive_frame(codec, frame)
            if received >= 0 {
                decodedFrames += 1
                return frame
            }
            if received == mmattn_averror_eof() { return nil }
            guard received == mmattn_averror_eagain(), !draining else {
                throw MMAttnError("a frame failed to decode (\(Self.describe(received))): the file is corrupt; re-encode it", file: name)
            }
            try sendNextPacket(index: index)
        }
    }

    /// Read the next packet of the video stream and send it to the decoder, telling it whether it
    /// may skip the frame (see `Plan`); at the end of the file, or once every frame the plan
    /// wants is sent, tell the decoder to drain.
    private func sendNextPacket(index: FrameIndex) throws {
        guard let format = handles.format, let codec = handles.codec, let packet = handles.packet else { throw closed() }
        if let plan, plan.unsent.isEmpty {
            draining = true
            drainedEarly = true
            codec.pointee.skip_frame = AVDISCARD_DEFAULT
            let sent = avcodec_send_packet(codec, nil)
            guard sent >= 0 || sent == mmattn_averror_eof() else {
                throw MMAttnError("the decoder failed at the end of the stream (\(Self.describe(sent))): the file is corrupt; re-encode it", file: name)
            }
            return
        }
        let nopts = mmattn_nopts()
        while true {
            packetsSinceSeek += 1
            guard packetsSinceSeek <= index.packets + 1 else {
                throw MMAttnError("reading did not end after the \(index.packets) packets the file had when counted: the file changed or is corrupt", file: name)
            }
            var read: Int32 = 0
            if hasPending {
                av_packet_move_ref(packet, handles.pending)
                hasPending = false
            } else {
                read = av_read_frame(format, packet)
            }
            if read == mmattn_averror_eof() {
                draining = true
                let sent = avcodec_send_packet(codec, nil)
                guard sent >= 0 || sent == mmattn_averror_eof() else {
                    throw MMAttnError("the decoder failed at the end of the stream (\(Self.describe(sent))): the file is corrupt; re-encode it", file: name)
                }
                return
            }
            guard read >= 0 else {
                throw MMAttnError("cannot read the file (\(Self.describe(read))): it is truncated or corrupt; re-download or re-encode it", file: name)
            }
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == streamIndex else { continue }
            if awaitingKeyframe {
                if packet.pointee.flags & AV_PKT_FLAG_KEY == 0 {
                    // Dropped: its frame does not come out until the next seek.
                    let p = packet.pointee
                    if let f = index.frame(at: p.pts != nopts ? p.pts : p.dts) {
                        plan?.unsent.remove(f)
                        sentSinceSeek[f] = true
                    }
                    continue
                }
                awaitingKeyframe = false
            }
            // The packet is decoded (and skip_frame copied to a frame thread's context) within
            // avcodec_send_packet: the decoder had no frame waiting, or receive would not have
            // asked for input.
            var skippable = false
            if plan != nil {
                let p = packet.pointee
                if let f = index.frame(at: p.pts != nopts ? p.pts : p.dts) {
                    skippable = plan?.unsent.remove(f) == nil
                    sentSinceSeek[f] = skippable
                }
            }
            codec.pointee.skip_frame = skippable ? AVDISCARD_NONREF : AVDISCARD_DEFAULT
            let sent = avcodec_send_packet(codec, packet)
            guard sent >= 0 else {
                throw MMAttnError("a frame failed to decode (\(Self.describe(sent))): the file is corrupt; re-encode it", file: name)
            }
            return
        }
    }

    // MARK: - RGB conversion

    /// What the libswscale context was made for; a frame that differs gets a new one.
    private struct ScalerKey: Equatable {
        var width: Int32, height: Int32, format: Int32, colorspace: UInt32, fullRange: Bool
    }

    /// The frame as packed RGB24, converted as PyAV's `to_ndarray(format="rgb24")` does: libswscale
    /// with SWS_BILINEAR (no resize happens, so it only picks the converter), the frame's colour
    /// matrix (unspecified -> BT.601) and range (limited unless tagged full or a yuvj format), to
    /// full-range RGB, into rows padded to 64 bytes as a freshly allocated AVFrame's are.
    private func rgb(_ frame: UnsafeMutablePointer<AVFrame>) throws -> RGBImage {
        let w = Int(frame.pointee.width), h = Int(frame.pointee.height)
        guard w > 0, h > 0, w <= Self.maxPixels, h <= Self.maxPixels, w * h <= Self.maxPixels else {
            throw MMAttnError("a decoded frame is \(w)x\(h), which is \(w > 0 && h > 0 ? "over the limit of \(Self.maxPixels) pixels" : "empty"): the file is corrupt, or scale the video down", file: name)
        }
        let pixelFormat = AVPixelFormat(rawValue: frame.pointee.format)
        let jpegFormats = [AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUVJ444P, AV_PIX_FMT_YUVJ440P, AV_PIX_FMT_YUVJ411P]
        let key = ScalerKey(width: frame.pointee.width, height: frame.pointee.height, format: frame.pointee.format,
                            colorspace: frame.pointee.colorspace.rawValue,
                            fullRange: frame.pointee.color_range == AVCOL_RANGE_JPEG || jpegFormats.contains(pixelFormat))
        if key != scalerKey || handles.scaler == nil {
            sws_freeContext(handles.scaler)
            handles.scaler = nil
            scalerKey = nil
            guard let scaler = sws_getContext(key.width, key.height, pixelFormat, key.width, key.height, AV_PIX_FMT_RGB24,
                                              SWS_BILINEAR, nil, nil, nil) else {
                let formatName = av_get_pix_fmt_name(pixelFormat).map { String(cString: $0) } ?? "unknown"
                throw MMAttnError("its frames' pixel format \(formatName) cannot be converted to RGB: re-encode the file with -pix_fmt yuv420p", file: name)
            }
            handles.scaler = scaler
            // The matrix table is indexed by AVColorSpace values (unknown ones fall back to BT.601).
            sws_setColorspaceDetails(scaler, sws_getCoefficients(Int32(key.colorspace)), key.fullRange ? 1 : 0,
                                     sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16)
            scalerKey = key
        }
        guard let scaler = handles.scaler else { throw closed() }
        let stride = (w * 3 + 63) & ~63
        let scratch = handles.scratch(bytes: stride * h + 64)
        var destination: [UnsafeMutablePointer<UInt8>?] = [scratch, nil, nil, nil]
        var destinationStrides: [Int32] = [Int32(stride), 0, 0, 0]
        let rows = withUnsafePointer(to: &frame.pointee.data) { data in
            withUnsafePointer(to: &frame.pointee.linesize) { linesize in
                data.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { planes in
                    linesize.withMemoryRebound(to: Int32.self, capacity: 8) { strides in
                        sws_scale(scaler, planes, strides, 0, Int32(h), &destination, &destinationStrides)
                    }
                }
            }
        }
        guard rows == Int32(h) else {
            throw MMAttnError("a frame could not be converted to RGB (\(rows < 0 ? Self.describe(rows) : "\(rows) of \(h) rows")): the file is corrupt; re-encode it", file: name)
        }
        let pixels = [UInt8](unsafeUninitializedCapacity: w * h * 3) { buffer, initialized in
            for y in 0..<h {
                (buffer.baseAddress! + y * w * 3).update(from: scratch + y * stride, count: w * 3)
            }
            initialized = w * h * 3
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    // MARK: - Support

    /// FFmpeg's text for an error code.
    static func describe(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        if av_strerror(code, &buffer, buffer.count) < 0 { return "FFmpeg error \(code)" }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func closed() -> MMAttnError {
        MMAttnError("internal error: the video file's decoder state is missing", file: name)
    }

    /// FFmpeg logs to stderr by default; mmattn reports problems itself.
    private static let quietLogs: Void = av_log_set_level(AV_LOG_QUIET)
}

/// The FFmpeg objects a `VideoFile` owns, freed together (also when `init` fails part way).
private final class Handles {
    var format: UnsafeMutablePointer<AVFormatContext>?
    var codec: UnsafeMutablePointer<AVCodecContext>?
    var packet: UnsafeMutablePointer<AVPacket>?
    var pending: UnsafeMutablePointer<AVPacket>?
    var frame: UnsafeMutablePointer<AVFrame>?
    var scaler: OpaquePointer?
    private var scratchBuffer: UnsafeMutableRawPointer?
    private var scratchBytes = 0

    /// A reusable, 64-byte-aligned buffer of at least `bytes` bytes for converted frames.
    func scratch(bytes: Int) -> UnsafeMutablePointer<UInt8> {
        if bytes > scratchBytes {
            scratchBuffer?.deallocate()
            scratchBuffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            scratchBytes = bytes
        }
        return scratchBuffer!.assumingMemoryBound(to: UInt8.self)
    }

    deinit {
        sws_freeContext(scaler)
        av_frame_free(&frame)
        av_packet_free(&packet)
        av_packet_free(&pending)
        avcodec_free_context(&codec)
        avformat_close_input(&format)
        scratchBuffer?.deallocate()
    }
}
