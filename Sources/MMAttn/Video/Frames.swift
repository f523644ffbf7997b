import Foundation

/// Which frames of a clip a model sees.
public enum FrameSampling {
    /// The `wanted` frame indices of a clip of `count` frames: `round(linspace(0, count - 1, wanted))`
    /// as NumPy computes it (float64 steps, the last index exactly `count - 1`, halves rounded to
    /// even). A clip of exactly `wanted` frames gives 0, 1, …, wanted − 1. `count` must be at least
    /// `wanted`, and `wanted` at least 1.
    public static func indices(count: Int, wanted: Int) -> [Int] {
        precondition(wanted >= 1 && count >= wanted, "sampling \(wanted) of \(count) frames")
        if wanted == 1 { return [0] }
        let step = Double(count - 1) / Double(wanted - 1)
        return (0..<wanted).map { i in
            i == wanted - 1 ? count - 1 : Int((Double(i) * step).rounded(.toNearestOrEven))
        }
    }

    /// The indices for a model that wants `wanted` frames from `source`; throws, naming the source,
    /// when it has fewer.
    public static func indices(for source: FrameSource, wanted: Int) throws -> [Int] {
        let count = try source.frameCount()
        guard count >= wanted else {
            throw MMAttnError("\(count == 0 ? "no frames" : count == 1 ? "1 frame" : "\(count) frames"), but the model "
                              + "takes \(wanted): give at least \(wanted) frames (more are sampled evenly)", file: source.name)
        }
        return indices(count: count, wanted: wanted)
    }
}

/// A clip given as PNG files, one per frame, in order. Every file's header is read when the list
/// is made, so a file that is not a PNG or has another size than the first is reported before any
/// frame is decoded.
public struct PNGFrames: FrameSource {
    public let paths: [String]
    /// The size every frame has.
    public let height: Int, width: Int
    public private(set) var name: String

    /// The frames `paths`, in this order.
    public init(paths: [String]) throws {
        guard let first = paths.first else { throw MMAttnError("no frames given: name PNG files, a folder of them, or a video file") }
        self.paths = paths
        let size = try PNGImage.size(path: first)
        for path in paths.dropFirst() {
            let other = try PNGImage.size(path: path)
            guard other == size else {
                throw MMAttnError("this frame is \(other.width)×\(other.height) but \(first) is \(size.width)×\(size.height); "
                                  + "all frames of a clip must have one size", file: path)
            }
        }
        (height, width) = size
        name = paths.count == 1 ? first : "\(first) (and \(paths.count - 1) more frames)"
    }

    /// The `.png` files of `folder` (any letter case; hidden files skipped), sorted by name in
    /// byte order, as Python's `sorted(os.listdir(folder))`: number frames with zero padding
    /// (`frame_002.png`, not `frame_2.png`).
    public init(folder: String) throws {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw MMAttnError("cannot list the folder: \((error as NSError).localizedDescription)", file: folder)
        }
        let pngs = names.filter { !$0.hasPrefix(".") && $0.lowercased().hasSuffix(".png") }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        guard !pngs.isEmpty else {
            throw MMAttnError("the folder has no .png files; give a folder of PNG frames, PNG files or a video file", file: folder)
        }
        try self.init(paths: pngs.map { (folder as NSString).appendingPathComponent($0) })
        name = folder
    }

    public func frameCount() throws -> Int { paths.count }

    public func forEachFrame(at indices: [Int], _ body: (Int, RGBImage) throws -> Void) throws {
        for (position, i) in indices.enumerated() {
            let image = try PNGImage.decode(path: paths[i])
            guard image.height == height, image.width == width else {
                throw MMAttnError("decodes to \(image.width)×\(image.height), not the \(width)×\(height) its header gave", file: paths[i])
            }
            try body(position, image)
        }
    }
}
