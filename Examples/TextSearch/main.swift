// Semantic search over the lines of a text file, using MMAttn as a library: one TextEncoder loaded
// once, the lines embedded in length-sorted batches, ranked by cosine similarity to the query.
//
//   swift run -c release text-search "free software licence" Fixtures/text/corpus.txt \
//       --model Fixtures/models/st-bert-mean
//
// With sentence-transformers/all-MiniLM-L6-v2 (the default model) the ranking is meaningful; the
// tiny fixture model only shows the mechanics.
import Foundation
import MMAttn

var arguments = Array(CommandLine.arguments.dropFirst())
var model = "sentence-transformers/all-MiniLM-L6-v2"
var top = 10
for flag in ["--model", "--top"] {
    if let i = arguments.firstIndex(of: flag), i + 1 < arguments.count {
        if flag == "--model" { model = arguments[i + 1] } else { top = Int(arguments[i + 1]) ?? top }
        arguments.removeSubrange(i...(i + 1))
    }
}
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: text-search QUERY FILE [--model M] [--top K]\n".utf8))
    exit(2)
}
let (query, file) = (arguments[0], arguments[1])

do {
    let encoder = try TextEncoder(model: model)
    // Unit-length vectors, so a dot product is the cosine similarity.
    let options = TextEmbeddingOptions(normalize: true)
    let reader = try TextLineReader(path: file, lossy: true)
    var lines: [String] = []
    var vectors: [Tensor] = []
    while let chunk = try reader.next(4096) {
        let texts = chunk.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        lines += texts
        vectors += try encoder.embed(texts, options: options).vectors
    }
    let q = try encoder.embed([query], options: options).vectors[0].values
    let scores = vectors.map { v in zip(v.values, q).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
    for i in scores.indices.sorted(by: { scores[$0] > scores[$1] }).prefix(top) {
        print(String(format: "%.4f  %@", scores[i], String(lines[i].prefix(100))))
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
