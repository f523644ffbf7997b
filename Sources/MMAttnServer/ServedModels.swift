import Foundation
import MMAttn

/// One loaded model: the pipelines its family runs, each with the queue its requests wait in.
final class ServedModel: Sendable {
    let spec: ModelSpec
    let family: ModelFamily
    let text: TextService?
    let image: ImageService?
    let audio: AudioService?
    let speech: SpeechService?
    let protein: ProteinService?

    /// Load `spec` with the pipelines of its family (a Whisper checkpoint serves embeddings and,
    /// when it has its decoder, transcriptions; a ViT or AST one classification when it has a head).
    init(_ spec: ModelSpec, configuration: ServerConfiguration, metrics: ServerMetrics) throws {
        self.spec = spec
        family = try ModelFolder(spec.source).family()
        let dtype = configuration.dtype, limits = configuration.limits
        func settings(budget: Int) -> BatchSettings {
            .init(budget: budget, maxWait: limits.batchWait, capacity: limits.queueSize, timeout: limits.requestTimeout)
        }
        var text: TextService?, image: ImageService?, audio: AudioService?, speech: SpeechService?, protein: ProteinService?
        switch family {
        case _ where ModelFamily.textFamilies.contains(family):
            text = TextService(try TextEncoder(model: spec.source, dtype: dtype), name: spec.name,
                               settings: settings(budget: limits.batchTokens), metrics: metrics)
        case .vit, .deit:
            let encoder = try ImageEncoder(model: spec.source, dtype: dtype)
            image = ImageService(encoder, name: spec.name, settings: settings(budget: ImageEncoder.batchSize), metrics: metrics)
        case .whisper, .ast:
            var encoder = try AudioEncoder(model: spec.source, dtype: dtype)
            var classifier: AudioClassifier?
            if case .ast(let ast, _) = encoder.backbone, ast.hasClassifier {
                classifier = try AudioClassifier(model: spec.source, dtype: dtype)
                encoder = classifier!.encoder
            }
            audio = AudioService(encoder, classifier: classifier, name: spec.name,
                                 settings: settings(budget: AudioEncoder.batchSize), metrics: metrics)
            if family == .whisper, try Self.hasDecoder(ModelFolder(spec.source)) {
                speech = SpeechService(try Transcriber(model: spec.source, dtype: dtype), name: spec.name,
                                       settings: settings(budget: 1), metrics: metrics)
            }
        case .esm:
            protein = ProteinService(try ProteinEncoder(model: spec.source, dtype: dtype), name: spec.name,
                                     settings: settings(budget: 1), metrics: metrics)
        default:
            throw MMAttnError("the server does not serve \(family.modelPhrase)s yet (it serves text, image, audio, speech and protein models)",
                              file: spec.source)
        }
        (self.text, self.image, self.audio, self.speech, self.protein) = (text, image, audio, speech, protein)
    }

    /// Whether a Whisper folder can transcribe: a `WhisperForConditionalGeneration` checkpoint
    /// with a tokenizer (without one it serves embeddings, and says so).
    static func hasDecoder(_ folder: ModelFolder) throws -> Bool {
        let architectures = folder.config.object["architectures"]?.array?.compactMap(\.string) ?? []
        guard architectures.contains("WhisperForConditionalGeneration") else { return false }
        let tokenizer = ["tokenizer.json", "vocab.json", "vocab.txt"].contains { FileManager.default.fileExists(atPath: folder.file($0)) }
        if !tokenizer { Diagnostics.warn("\(folder.path): no tokenizer in the folder, so it serves audio embeddings but no transcriptions") }
        return tokenizer
    }

    /// The kinds of request the model answers, for `/v1/models` and error messages.
    var kinds: [String] {
        [text.map { _ in "text" }, image.map { _ in "image" }, audio.map { _ in "audio" }, speech.map { _ in "transcription" },
         protein.map { _ in "protein" }].compactMap { $0 }
    }

    func stop() {
        text?.queue.stop(); image?.queue.stop(); audio?.queue.stop(); speech?.queue.stop(); protein?.queue.stop()
    }
}

/// Run every job of a batch in one call; when that call fails, run each job alone so that one bad
/// input fails only its own request.
private func isolating<Job, Output>(_ jobs: [Job], _ all: ([Job]) throws -> [Output]) -> [Result<Output, any Error>] {
    do {
        return try all(jobs).map { .success($0) }
    } catch {
        if jobs.count == 1 { return [.failure(error)] }
        return jobs.map { job in Result { try all([job])[0] } }
    }
}

/// Text models: token sequences of concurrent requests run as one packed batch.
final class TextService: Sendable {
    struct Job: Sendable {
        let encodings: [Encoding]
        let normalize: Bool
    }

    let encoder: TextEncoder
    let queue: BatchQueue<Job, [Tensor]>
    /// The pooling the model's folder asks for (sentence-transformers' Pooling module, else mean).
    let pooling: [TextPooling]

    init(_ encoder: TextEncoder, name: String, settings: BatchSettings, metrics: ServerMetrics) {
        self.encoder = encoder
        let pooling = encoder.settings(TextEmbeddingOptions()).pooling
        self.pooling = pooling
        queue = BatchQueue(name: name, settings: settings, metrics: metrics) { jobs in
            let started = ContinuousClock.now
            let results = isolating(jobs) { jobs -> [[Tensor]] in
                let encodings = jobs.flatMap(\.encodings)
                let normalize = jobs.flatMap { job in job.encodings.map { _ in job.normalize } }
                // One packed forward pass per `budget` tokens (one request may hold more).
                var vectors: [Tensor] = [], start = 0
                while start < encodings.count {
                    var end = start + 1, tokens = encodings[start].ids.count
                    while end < encodings.count && tokens + encodings[end].ids.count <= settings.budget {
                        tokens += encodings[end].ids.count
                        end += 1
                    }
                    vectors += try encoder.embed(encodings: Array(encodings[start..<end]), pooling: pooling,
                                                 normalize: Array(normalize[start..<end]), batchSize: end - start)
                    start = end
                }
                var out: [[Tensor]] = [], next = 0
                for job in jobs {
                    out.append(Array(vectors[next..<(next + job.encodings.count)]))
                    next += job.encodings.count
                }
                return out
            }
            metrics.tokens(model: name, count: jobs.reduce(0) { $0 + $1.encodings.reduce(0) { $0 + $1.ids.count } },
                           seconds: (ContinuousClock.now - started).seconds)
            return results
        }
    }

    /// Vector length of one embedding.
    var dimension: Int { encoder.outputShape(TextEmbeddingOptions()).last ?? 0 }
}

/// ViT and DeiT: the images of concurrent requests run as one packed batch.
final class ImageService: Sendable {
    let encoder: ImageEncoder
    /// Pixels [3, H, W] in, last hidden states [T, D] out.
    let queue: BatchQueue<Tensor, Tensor>

    init(_ encoder: ImageEncoder, name: String, settings: BatchSettings, metrics: ServerMetrics) {
        self.encoder = encoder
        queue = BatchQueue(name: name, settings: settings, metrics: metrics) { pixels in
            isolating(pixels) { try encoder.lastHiddenStates(pixels: $0) }
        }
    }
}

/// Whisper and AST: the clips of concurrent requests share packed batches of windows.
final class AudioService: Sendable {
    enum Task: Sendable, Hashable {
        case embed(Pooling)
        case classify
    }

    struct Job: Sendable {
        let samples: [Float]
        let task: Task
        let source: String
    }

    let encoder: AudioEncoder
    let classifier: AudioClassifier?
    /// Embeddings, or logits for `.classify`.
    let queue: BatchQueue<Job, Tensor>

    init(_ encoder: AudioEncoder, classifier: AudioClassifier?, name: String, settings: BatchSettings,
         metrics: ServerMetrics) {
        self.encoder = encoder
        self.classifier = classifier
        queue = BatchQueue(name: name, settings: settings, metrics: metrics) { jobs in
            // One call per task in the batch, each over all of its clips.
            var results = [Result<Tensor, any Error>?](repeating: nil, count: jobs.count)
            for task in Set(jobs.map(\.task)) {
                let members = jobs.indices.filter { jobs[$0].task == task }
                let outputs = isolating(members) { members -> [Tensor] in
                    let clips = members.map { jobs[$0].samples }, sources = members.map { jobs[$0].source }
                    switch task {
                    case .embed(let pooling): return try encoder.embed(clips: clips, pooling: pooling, sources: sources)
                    case .classify: return try classifier!.logits(clips: clips, sources: sources)
                    }
                }
                for (m, r) in zip(members, outputs) { results[m] = r }
            }
            return results.map { $0! }
        }
    }
}

/// Whisper with its decoder: one transcription at a time, in arrival order.
final class SpeechService: Sendable {
    struct Job: Sendable {
        let samples: [Float]
        let options: TranscriptionOptions
        let source: String
    }

    let transcriber: Transcriber
    let queue: BatchQueue<Job, Transcript>

    init(_ transcriber: Transcriber, name: String, settings: BatchSettings, metrics: ServerMetrics) {
        self.transcriber = transcriber
        queue = BatchQueue(name: "\(name)/transcriptions", settings: settings, metrics: metrics) { jobs in
            jobs.map { job in
                Result { try transcriber.transcribe(samples: job.samples, options: job.options) }
                    .mapError { ($0 as? MMAttnError)?.inFile(job.source) ?? $0 }
            }
        }
    }
}

/// ESM-2: one FASTA body at a time, in arrival order (the records of one body share batches).
final class ProteinService: Sendable {
    struct Job: Sendable {
        /// The body, saved where the FASTA reader reads it.
        let path: String
        let options: ProteinEmbeddingOptions
    }

    let encoder: ProteinEncoder
    let queue: BatchQueue<Job, [ProteinEmbedding]>

    init(_ encoder: ProteinEncoder, name: String, settings: BatchSettings, metrics: ServerMetrics) {
        self.encoder = encoder
        queue = BatchQueue(name: name, settings: settings, metrics: metrics) { jobs in
            jobs.map { job in
                Result {
                    var out: [ProteinEmbedding] = []
                    try encoder.embed(fasta: job.path, options: job.options) { out.append($0) }
                    return out
                }
            }
        }
    }
}
