import Foundation

/// The JSON the commands print with `--json`, shared with the server's routes so that both give
/// the same bytes for the same results.
public enum ResultsJSON {
    /// Classification results (classify-image, classify-audio, classify-video):
    /// `{"model", "results": [{"input", "predictions": [{"index", "label", "score"}]}]}`.
    public static func predictions(model: String, results: [Classification]) -> String {
        let items = results.map { r in
            let preds = r.predictions.map {
                "{\"index\": \($0.index), \"label\": \(JSON.quote($0.label)), \"score\": \(JSONNumber.format($0.score))}"
            }.joined(separator: ", ")
            return "{\"input\": \(JSON.quote(r.input)), \"predictions\": [\(preds)]}"
        }.joined(separator: ", ")
        return "{\"model\": \(JSON.quote(model)), \"results\": [\(items)]}\n"
    }

    /// Embeddings: `{"model", "results": [{"input", "shape", "embedding"}]}`, each embedding as
    /// nested arrays of its shape.
    public static func embeddings(_ embeddings: Embeddings, model: String) -> String {
        let results = embeddings.items.map { item in
            "{\"input\": \(JSON.quote(item.input)), \"shape\": \(item.tensor.shape), \"embedding\": \(nested(item.tensor))}"
        }
        return "{\"model\": \(JSON.quote(model)), \"results\": [\(results.joined(separator: ", "))]}\n"
    }

    /// A tensor as nested JSON arrays of its shape.
    public static func nested(_ t: Tensor) -> String {
        func nested(_ offset: Int, _ axis: Int) -> String {
            if axis == t.shape.count - 1 {
                return "[" + (0..<t.shape[axis]).map { JSONNumber.format(t.pointer[offset + $0]) }.joined(separator: ", ") + "]"
            }
            let stride = t.shape[(axis + 1)...].reduce(1, *)
            return "[" + (0..<t.shape[axis]).map { nested(offset + $0 * stride, axis + 1) }.joined(separator: ", ") + "]"
        }
        return nested(0, 0)
    }

    /// Transcripts: `{"model", "results": [{"input", "text", "language"?, "segments": [{"start",
    /// "end", "text", "words"?}]}]}`, times in seconds to the millisecond, as subtitles.
    public static func transcripts(model: String, _ transcripts: [(String, Transcript)], words: Bool) -> String {
        func seconds(_ s: Double) -> String { String(format: "%.3f", s) }
        let results = transcripts.map { clip, t -> String in
            let segments = t.segments.map { s -> String in
                var item = "{\"start\": \(seconds(s.start)), \"end\": \(seconds(s.end)), \"text\": \(JSON.quote(s.text))"
                if words {
                    let list = s.words.map { "{\"word\": \(JSON.quote($0.text)), \"start\": \(seconds($0.start)), \"end\": \(seconds($0.end))}" }
                    item += ", \"words\": [\(list.joined(separator: ", "))]"
                }
                return item + "}"
            }
            var result = "{\"input\": \(JSON.quote(clip)), \"text\": \(JSON.quote(t.text))"
            if let language = t.language { result += ", \"language\": \(JSON.quote(language))" }
            return result + ", \"segments\": [\(segments.joined(separator: ", "))]}"
        }
        return "{\"model\": \(JSON.quote(model)), \"results\": [\(results.joined(separator: ", "))]}\n"
    }
}
