// Rank the PNG images of a folder by similarity to a query image, using MMAttn as a library:
// one ImageEncoder loaded once, [CLS] embeddings, cosine similarity.
//
//   swift run -c release image-search Fixtures/images/cat.png Fixtures/images --model Fixtures/models/vit
import Foundation
import MMAttn

func cosine(_ a: Tensor, _ b: Tensor) -> Float {
    let x = a.values, y = b.values
    var dot: Float = 0, nx: Float = 0, ny: Float = 0
    for i in x.indices { dot += x[i] * y[i]; nx += x[i] * x[i]; ny += y[i] * y[i] }
    return dot / max((nx * ny).squareRoot(), 1e-12)
}

var arguments = Array(CommandLine.arguments.dropFirst())
var model = "google/vit-base-patch16-224"
if let i = arguments.firstIndex(of: "--model"), i + 1 < arguments.count {
    model = arguments[i + 1]
    arguments.removeSubrange(i...(i + 1))
}
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: image-search QUERY.png FOLDER [--model M]\n".utf8))
    exit(2)
}
let (query, folder) = (arguments[0], arguments[1])

var isFolder: ObjCBool = false
guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
    FileHandle.standardError.write(Data("error: \(folder): no such folder; give a folder of PNG images to search\n".utf8))
    exit(1)
}

do {
    let encoder = try ImageEncoder(model: model)
    let queryEmbedding = try encoder.embed(path: query, pooling: .cls)
    let files = try FileManager.default.contentsOfDirectory(atPath: folder)
        .filter { $0.lowercased().hasSuffix(".png") }.sorted()
        .map { (folder as NSString).appendingPathComponent($0) }
    var ranked: [(path: String, similarity: Float)] = []
    for path in files {
        do {
            ranked.append((path, cosine(queryEmbedding, try encoder.embed(path: path, pooling: .cls))))
        } catch {
            FileHandle.standardError.write(Data("skipping \(path): \(error)\n".utf8))
        }
    }
    for (path, similarity) in ranked.sorted(by: { $0.similarity > $1.similarity }) {
        print(String(format: "%.4f  %@", similarity, path))
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
