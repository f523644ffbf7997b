import Foundation

/// Where a clip's frames come from: PNG files (`PNGFrames`, here) or a video file (`VideoFile`, in
/// the `MMAttnVideo` library, which links FFmpeg). Frames are counted first, then only the ones the
/// sampling rule picks are decoded.
public protocol FrameSource {
    /// What errors name: the folder, the first PNG file, or the video file.
    var name: String { get }
    /// How many frames the clip has.
    func frameCount() throws -> Int
    /// The frames at `indices` (each in 0..<frameCount(), ascending, repeats allowed), as 8-bit
    /// RGB, in the order asked.
    func frames(at indices: [Int]) throws -> [RGBImage]
}
