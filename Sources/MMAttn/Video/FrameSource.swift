import Foundation

/// Where a clip's frames come from: PNG files (`PNGFrames`, here) or a video file (`VideoFile`, in
/// the `MMAttnVideo` library, which links FFmpeg). Frames are counted first, then only the ones the
/// sampling rule picks are decoded.
public protocol FrameSource {
    /// What errors name: the folder, the first PNG file, or the video file.
    var name: String { get }
    /// How many frames the clip has.
    func frameCount() throws -> Int
    /// Decode the frames at `indices` (each in 0..<frameCount(), any order, repeats allowed) as
    /// 8-bit RGB and hand each to `body` with its position in `indices`, one call per position,
    /// in whatever order decodes fastest. No frame needs to outlive its call, so a clip costs one
    /// decoded frame of memory at a time, whatever its resolution.
    func forEachFrame(at indices: [Int], _ body: (Int, RGBImage) throws -> Void) throws
}

extension FrameSource {
    /// The frames at `indices`, all at once, in the order asked.
    public func frames(at indices: [Int]) throws -> [RGBImage] {
        var frames = [RGBImage?](repeating: nil, count: indices.count)
        try forEachFrame(at: indices) { position, frame in frames[position] = frame }
        return frames.map { $0! }
    }
}
