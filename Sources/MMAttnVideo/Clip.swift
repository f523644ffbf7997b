import Foundation
import MMAttn

/// The frames of one clip as the video commands take them: one folder of PNG frames (its `.png`
/// files sorted by name), several PNG files in order, or one video file that FFmpeg reads (MP4,
/// WebM, MKV, MOV, ...). A single input is a video file unless it starts with PNG's signature.
public func openClip(_ inputs: [String]) throws -> any FrameSource {
    guard let first = inputs.first else {
        throw MMAttnError("no frames given: name PNG files, a folder of them, or a video file")
    }
    var isFolder: ObjCBool = false
    if inputs.count == 1 {
        guard FileManager.default.fileExists(atPath: first, isDirectory: &isFolder) else {
            throw MMAttnError("no such file or folder", file: first)
        }
        if isFolder.boolValue { return try PNGFrames(folder: first) }
        if !PNGImage.hasSignature(path: first) { return try VideoFile(path: first) }
        return try PNGFrames(paths: inputs)
    }
    for path in inputs {
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw MMAttnError("is a folder; give one folder of frames alone, or PNG files", file: path)
        }
        if FileManager.default.fileExists(atPath: path), !PNGImage.hasSignature(path: path) {
            throw MMAttnError("is not a PNG file; several inputs are the frames of one clip, each a PNG "
                              + "(give a video file alone)", file: path)
        }
    }
    return try PNGFrames(paths: inputs)
}
