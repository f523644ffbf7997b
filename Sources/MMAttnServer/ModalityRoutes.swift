import Foundation
import Hummingbird
import MMAttn

/// Images, audio, transcriptions and proteins over HTTP, through the commands' pipelines and in
/// the commands' JSON: each takes a raw body (one file) or a `multipart/form-data` form (its `file`
/// parts, several where it makes sense), and options as form fields or URL query parameters.
struct ModalityRoutes {
    let state: ServerState

    func add(to router: Router<BasicRequestContext>) {
        router.post("/v1/images/classify") { request, _ in try await classifyImages(request) }
        router.post("/v1/images/embeddings") { request, _ in try await embedImages(request) }
        router.post("/v1/audio/embeddings") { request, _ in try await embedAudio(request) }
        router.post("/v1/audio/classify") { request, _ in try await classifyAudio(request) }
        router.post("/v1/audio/transcriptions") { request, _ in try await transcribe(request) }
        router.post("/v1/proteins/embeddings") { request, _ in try await embedProteins(request) }
    }

    // MARK: Images

    /// PNG → `{"model", "results": [{"input", "predictions": [{"index", "label", "score"}]}]}`
    /// (classify-image's JSON); options `model`, `top_k` (5).
    func classifyImages(_ request: Request) async throws -> Response {
        let form = try await Form(request, state: state)
        let (model, service) = try state.model(named: form["model"], kind: "image classification") {
            $0.image.flatMap { $0.encoder.vit.hasClassifier ? $0 : nil }
        }
        let topK = try form.int("top_k", default: 5, in: 1...Int.max)
        let vit = service.encoder.vit
        let hidden = try await lastHiddenStates(form, service)
        let results = try zip(form.files, hidden).map { file, h in
            let logits = try vit.logits(lastHiddenState: h)
            try logits.checkFinite("logits", file: model.spec.source)
            return Classification(input: file.name, predictions: Scores.top(topK, logits: logits, labels: vit.labels, scoring: .softmax),
                                  logits: logits)
        }
        return .json(ResultsJSON.predictions(model: model.spec.name, results: results))
    }

    /// PNG → `{"model", "results": [{"input", "shape", "embedding"}]}` (embed-image's JSON);
    /// options `model`, `pooling` (cls, mean or none; cls by default).
    func embedImages(_ request: Request) async throws -> Response {
        let form = try await Form(request, state: state)
        let (model, service) = try state.model(named: form["model"], kind: "image") { $0.image }
        let pooling = try form.pooling(default: .cls)
        var out = Embeddings(name: "embedding")
        for (file, h) in zip(form.files, try await lastHiddenStates(form, service)) { out.append(pooling.apply(h), input: file.name) }
        return .json(ResultsJSON.embeddings(out, model: model.spec.name))
    }

    /// The images of `form`, decoded and resized here (one at a time), run in the model's
    /// batches, [T, D] each.
    private func lastHiddenStates(_ form: Form, _ service: ImageService) async throws -> [Tensor] {
        let pixels = try form.files.map { file in
            try service.encoder.pixels(image: try PNGImage.decode(data: file.data, file: file.name, maxPixels: state.limits.imagePixels))
        }
        return try await concurrently(pixels) { try await service.queue.submit($0, cost: 1) }
    }

    // MARK: Audio

    /// WAV, FLAC or Ogg → embed-audio's JSON; options `model`, `pooling` (mean or none; mean by default).
    func embedAudio(_ request: Request) async throws -> Response {
        let form = try await Form(request, state: state)
        let (model, service) = try state.model(named: form["model"], kind: "audio") { $0.audio }
        let pooling = try form.pooling(default: .mean)
        let clips = try decodeAudio(form, rate: service.encoder.samplingRate)
        let embeddings = try await concurrently(Array(zip(form.files, clips))) { file, samples in
            try await service.queue.submit(.init(samples: samples, task: .embed(pooling), source: file.name), cost: 1)
        }
        var out = Embeddings(name: "embedding")
        for (file, e) in zip(form.files, embeddings) { out.append(e, input: file.name) }
        return .json(ResultsJSON.embeddings(out, model: model.spec.name))
    }

    /// WAV, FLAC or Ogg → classify-audio's JSON (AST classifiers); options `model`, `top_k` (5).
    func classifyAudio(_ request: Request) async throws -> Response {
        let form = try await Form(request, state: state)
        let (model, service) = try state.model(named: form["model"], kind: "audio classification") {
            $0.audio.flatMap { $0.classifier != nil ? $0 : nil }
        }
        let classifier = service.classifier!
        let topK = try form.int("top_k", default: 5, in: 1...Int.max)
        let clips = try decodeAudio(form, rate: service.encoder.samplingRate)
        let logits = try await concurrently(Array(zip(form.files, clips))) { file, samples in
            try await service.queue.submit(.init(samples: samples, task: .classify, source: file.name), cost: 1)
        }
        let results = zip(form.files, logits).map { file, l in
            Classification(input: file.name, predictions: Scores.top(topK, logits: l, labels: classifier.labels, scoring: classifier.scoring),
                           logits: l)
        }
        return .json(ResultsJSON.predictions(model: model.spec.name, results: results))
    }

    /// Mono samples at `rate` of each file, decoded from memory with the commands' checks.
    private func decodeAudio(_ form: Form, rate: Int) throws -> [[Float]] {
        try form.files.map { file in
            try AudioDecoder.decode(data: file.data, name: file.name, maxSeconds: state.limits.audioSeconds).resampled(to: rate).samples
        }
    }

    /// OpenAI's transcription form (`file`, `model`, `language`, `response_format`: json, text,
    /// srt, vtt or verbose_json; `timestamp_granularities[]`: segment, word; `temperature` 0) →
    /// that format. Greedy decoding, as `mmattn transcribe`.
    func transcribe(_ request: Request) async throws -> Response {
        let form = try await Form(request, state: state)
        let (_, service) = try state.model(named: form["model"], kind: "transcription") { $0.speech }
        guard form.files.count == 1 else { throw ServeError.validation("send one audio file in the `file` field, not \(form.files.count)") }
        let format = form["response_format"] ?? "json"
        guard ["json", "text", "srt", "vtt", "verbose_json"].contains(format) else {
            throw ServeError.validation("`response_format` must be json, text, srt, vtt or verbose_json, not \"\(format)\"")
        }
        if let t = form["temperature"], Double(t) != 0 {
            throw ServeError.validation("`temperature` \(t) is not supported: decoding is greedy (temperature 0)")
        }
        if let prompt = form["prompt"], !prompt.isEmpty {
            throw ServeError.validation("`prompt` is not supported: transcriptions start from no previous text")
        }
        let granularities = Set(form.all("timestamp_granularities[]") + form.all("timestamp_granularities"))
        let words = granularities.contains("word")
        let file = form.files[0]
        let samples = try decodeAudio(form, rate: service.transcriber.samplingRate)[0]
        // OpenAI's clients often send language=en; an English-only checkpoint takes no language.
        var language = form["language"]
        if service.transcriber.generation.isMultilingual == false, let l = language, ["en", "english"].contains(l.lowercased()) {
            language = nil
        }
        let options = TranscriptionOptions(timestamps: format != "json" && format != "text" || words, language: language,
                                           wordTimestamps: words)
        let t = try await service.queue.submit(.init(samples: samples, options: options, source: file.name), cost: 1)
        let text = t.text.trimmingCharacters(in: .whitespacesAndNewlines)
        let cues = t.segments.filter { !$0.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            .map { SubtitleCue(start: $0.start, end: $0.end, text: $0.text) }
        switch format {
        case "text": return .text(text + "\n")
        case "srt": return .text(Subtitles.srt(cues))
        case "vtt": return .text(Subtitles.webVTT(cues), contentType: "text/vtt; charset=utf-8")
        case "verbose_json":
            let duration = Double(samples.count) / Double(service.transcriber.samplingRate)
            func seconds(_ s: Double) -> String { String(format: "%.3f", s) }  // milliseconds, as the commands' JSON
            let segments = t.segments.enumerated().map { i, s in
                "{\"id\":\(i),\"seek\":0,\"start\":\(seconds(s.start)),\"end\":\(seconds(s.end)),\"text\":\(JSON.quote(s.text)),"
                    + "\"tokens\":[\(s.tokens.map(String.init).joined(separator: ","))]}"
            }
            var out = "{\"task\":\"transcribe\",\"language\":\(t.language.map(JSON.quote) ?? "null"),\"duration\":\(seconds(duration)),"
                + "\"text\":\(JSON.quote(text)),\"segments\":[\(segments.joined(separator: ","))]"
            if words {
                let list = t.segments.flatMap(\.words).map {
                    "{\"word\":\(JSON.quote($0.text)),\"start\":\(seconds($0.start)),\"end\":\(seconds($0.end))}"
                }
                out += ",\"words\":[\(list.joined(separator: ","))]"
            }
            return .json(out + "}")
        default: return .json("{\"text\":\(JSON.quote(text))}")
        }
    }

    // MARK: Proteins

    /// FASTA → `{"model", "results": [{"input": record id, "shape", "embedding"}]}` (embed-protein's
    /// JSON: the mean over residues of the last layer); `include` adds `per_token` [L, D], `bos`
    /// [D] and `contacts` [L, L] to each result. Options `model`, `include` (mean, per-token,
    /// bos, contacts).
    func embedProteins(_ request: Request) async throws -> Response {
        let form = try await Form(request, state: state)
        let (model, service) = try state.model(named: form["model"], kind: "protein") { $0.protein }
        guard form.files.count == 1 else { throw ServeError.validation("send one FASTA file, not \(form.files.count)") }
        var include: Set<ProteinOutputKind> = [.mean]
        if let list = form["include"] {
            include = try Set(list.split(separator: ",").map { name in
                guard let kind = ProteinOutputKind(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ServeError.validation("`include` takes mean, per-token, bos and contacts, not \"\(name)\"")
                }
                return kind
            })
            include.insert(.mean)
        }
        let file = form.files[0]
        let layer = try service.encoder.resolveLayers([-1])[0]
        let options = ProteinEmbeddingOptions(include: include, reprLayers: [layer])
        let limit = state.limits.clientBatchSize
        let records = try await state.uploads.withFile(file.data, name: file.name) { path in
            // Read (and check) the records here; the model's thread gets only files within the limit.
            let count = try service.encoder.countRecords(fasta: path, limit: limit + 1)
            guard count <= limit else {
                throw ServeError.validation("the FASTA has more than \(limit) records; send at most \(limit) per request (--max-client-batch-size)")
            }
            return try await service.queue.submit(.init(path: path, options: options), cost: 1)
        }
        let results = records.map { e -> String in
            let mean = e.mean[layer]!
            var item = "{\"input\": \(JSON.quote(e.id)), \"shape\": \(mean.shape), \"embedding\": \(ResultsJSON.nested(mean))"
            if let t = e.perToken[layer] { item += ", \"per_token\": \(ResultsJSON.nested(t))" }
            if let t = e.bos[layer] { item += ", \"bos\": \(ResultsJSON.nested(t))" }
            if let t = e.contacts { item += ", \"contacts\": \(ResultsJSON.nested(t))" }
            return item + "}"
        }
        return .json("{\"model\": \(JSON.quote(model.spec.name)), \"results\": [\(results.joined(separator: ", "))]}\n")
    }
}

/// A file-carrying request: its files (a raw body is one file named "body"; a form's parts named
/// `file`, `image` or `audio`) and its options (form fields, else URL query parameters).
package struct Form: Sendable {
    package struct File: Sendable {
        let name: String
        let data: Data
    }

    let files: [File]
    private let fields: [(String, String)]

    init(_ request: Request, state: ServerState) async throws {
        let body = try await RequestBodies.collect(request, limit: state.limits.uploadBytes, option: "--upload-limit")
        try self.init(body: Data(body.readableBytesView), contentType: request.headers[.contentType] ?? "",
                      query: request.uri.queryParameters.map { (String($0.key), String($0.value)) }, limits: state.limits)
    }

    /// The form a collected `body` of `contentType` carries, with the URL's `query` parameters
    /// after its own fields.
    package init(body: Data, contentType: String, query: [(String, String)], limits: ServerLimits) throws {
        var fields: [(String, String)] = [], files: [File] = []
        if contentType.lowercased().hasPrefix("multipart/form-data") {
            for part in try RequestBodies.multipart(body, contentType: contentType, maxParts: limits.clientBatchSize + 16) {
                if part.filename != nil || ["file", "image", "audio"].contains(part.name) {
                    files.append(File(name: part.filename.map { $0.isEmpty ? part.name : $0 } ?? part.name, data: part.data))
                } else {
                    fields.append((part.name, String(decoding: part.data, as: UTF8.self)))
                }
            }
        } else if !body.isEmpty {
            files.append(File(name: "body", data: body))
        }
        guard !files.isEmpty else {
            throw ServeError.badRequest("the request has no file: send it as the body, or as the `file` field of a multipart/form-data form")
        }
        try limits.checkBatchSize(files.count)
        self.files = files
        self.fields = fields + query
    }

    /// The first value of a field.
    subscript(name: String) -> String? { fields.first { $0.0 == name }?.1 }

    /// Every value of a repeated field.
    func all(_ name: String) -> [String] { fields.filter { $0.0 == name }.map(\.1) }

    func int(_ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = self[name] else { return value }
        guard let n = Int(text), range.contains(n) else {
            throw ServeError.validation("`\(name)` must be an integer of at least \(range.lowerBound), not \"\(text)\"")
        }
        return n
    }

    func pooling(default value: Pooling) throws -> Pooling {
        guard let text = self["pooling"] else { return value }
        guard let p = Pooling(rawValue: text) else {
            throw ServeError.validation("`pooling` must be cls, mean or none, not \"\(text)\"")
        }
        return p
    }
}

/// `body` for every item at once (so that they can share the model's batches), results in order.
func concurrently<T: Sendable, R: Sendable>(_ items: [T], _ body: @escaping @Sendable (T) async throws -> R) async throws -> [R] {
    if items.count == 1 { return [try await body(items[0])] }
    return try await withThrowingTaskGroup(of: (Int, R).self) { group in
        for (i, item) in items.enumerated() { group.addTask { (i, try await body(item)) } }
        var out = [R?](repeating: nil, count: items.count)
        for try await (i, r) in group { out[i] = r }
        return out.map { $0! }
    }
}
