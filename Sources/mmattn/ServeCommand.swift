import ArgumentParser
import Foundation
import MMAttn
import MMAttnServer

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve models over HTTP: TEI's and OpenAI's embedding APIs, images, audio, proteins.",
        usage: "mmattn serve --model <model>... [--host <host>] [--port <port>] [options]",
        discussion: """
        Text models answer Hugging Face text-embeddings-inference's routes (POST
        /embed, POST /tokenize, GET /info, GET /health) and OpenAI's (POST
        /v1/embeddings, GET /v1/models); image, audio, speech and protein models
        answer POST /v1/images/classify, /v1/images/embeddings,
        /v1/audio/embeddings, /v1/audio/classify, /v1/audio/transcriptions and
        /v1/proteins/embeddings with the commands' JSON. GET /metrics gives
        Prometheus metrics. Concurrent requests for a model are merged into
        batches. The server binds to 127.0.0.1 unless --host says otherwise,
        answers 503 until the models are loaded, and on SIGTERM or SIGINT stops
        accepting, finishes the requests in flight and exits 0.
        NAME=SOURCE serves SOURCE under NAME (the "model" of OpenAI's requests).

        Examples (the routes, bodies and statuses: docs/cli.md):
          mmattn serve --model sentence-transformers/all-MiniLM-L6-v2
          mmattn serve --model text=Fixtures/models/st-bert-mean \\
              --model Fixtures/models/vit --port 0
          curl -s localhost:8080/embed -H 'Content-Type: application/json' \\
              -d '{"inputs": ["A cat sat on the mat."]}'
        """)

    @Option(name: .customLong("model"), help: ArgumentHelp("A model to serve: a folder or Hub id, or NAME=SOURCE (repeatable).",
                                                          valueName: "model"))
    var models: [String] = []

    @Option(help: "Address to bind (127.0.0.1: this machine only; 0.0.0.0: every interface).") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port, printed on stderr).") var port = 8080
    @Option(name: .customLong("api-key"), help: ArgumentHelp("Require \"Authorization: Bearer KEY\" (default: $MMATTN_API_KEY).",
                                                             valueName: "key"))
    var apiKey: String?

    @OptionGroup var compute: ComputeOptions

    @Option(help: "Largest JSON body in bytes (413 beyond).") var payloadLimit = 2_000_000
    @Option(help: "Largest PNG, audio, FASTA or form body in bytes (413 beyond).") var uploadLimit = 64 << 20
    @Option(help: "Largest image in pixels, width times height (422 beyond).") var maxImagePixels = 40_000_000
    @Option(help: "Longest audio upload in seconds (422 beyond).") var maxAudioSeconds = 600.0
    @Option(help: "Most inputs in one request (422 beyond).") var maxClientBatchSize = 32
    @Option(help: "Most tokens in one merged text batch.") var maxBatchTokens = 16_384
    @Option(help: "Requests that may wait for one model (429 beyond).") var maxConcurrentRequests = 512
    @Option(help: "Milliseconds a request waits for others to join its batch.") var batchWaitMs = 0.0
    @Option(help: "Seconds a request may wait for its model (503 beyond).") var requestTimeout = 60.0
    @Option(help: "Seconds requests in flight get to finish after SIGTERM.") var gracePeriod = 30.0
    @Flag(inversion: .prefixedNo, help: "Truncate texts longer than the model takes when a request does not say (else 422).")
    var autoTruncate = true

    func validate() throws {
        guard !models.isEmpty else { throw ValidationError("give at least one --model to serve") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        if apiKey?.isEmpty == true { throw ValidationError("--api-key must not be empty") }
        for (value, name) in [(payloadLimit, "--payload-limit"), (uploadLimit, "--upload-limit"), (maxImagePixels, "--max-image-pixels"),
                              (maxClientBatchSize, "--max-client-batch-size"), (maxBatchTokens, "--max-batch-tokens"),
                              (maxConcurrentRequests, "--max-concurrent-requests")] where value < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
        // Times are bounded so that they convert to nanoseconds (a day at most).
        for (value, name, range) in [(batchWaitMs, "--batch-wait-ms", 0.0...10_000), (requestTimeout, "--request-timeout", 0.001...86_400),
                                     (gracePeriod, "--grace-period", 0.0...86_400), (maxAudioSeconds, "--max-audio-seconds", 0.001...86_400)]
        where !range.contains(value) {
            throw ValidationError("\(name) must be from \(String(format: "%g", range.lowerBound)) to \(String(format: "%g", range.upperBound))")
        }
    }

    func run() throws {
        var limits = ServerLimits()
        limits.payloadBytes = payloadLimit
        limits.uploadBytes = uploadLimit
        limits.imagePixels = maxImagePixels
        limits.audioSeconds = maxAudioSeconds
        limits.clientBatchSize = maxClientBatchSize
        limits.batchTokens = maxBatchTokens
        limits.queueSize = maxConcurrentRequests
        limits.batchWait = .nanoseconds(Int64(batchWaitMs * 1e6))
        limits.requestTimeout = .nanoseconds(Int64(requestTimeout * 1e9))
        limits.gracePeriod = .nanoseconds(Int64(gracePeriod * 1e9))
        limits.autoTruncate = autoTruncate
        let specs = models.map(ModelSpec.init(parsing:))
        for spec in specs { try fetchModel(spec.source) }
        let key = apiKey ?? ProcessInfo.processInfo.environment["MMATTN_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        let server = try MMAttnServer(configuration: ServerConfiguration(
            models: specs, host: host, port: port, apiKey: key, dtype: compute.dtype, limits: limits))
        let host = self.host
        let outcome = LockedResult()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await server.run(
                    onListening: { port in
                        let address = host.contains(":") ? "[\(host)]" : host, models = specs.count == 1 ? "1 model" : "\(specs.count) models"
                        Stderr.write("mmattn serve: listening on http://\(address):\(port); loading \(models)\n")
                    },
                    onReady: { Stderr.write("mmattn serve: ready (\(specs.map(\.name).joined(separator: ", ")))\n") })
                Stderr.write("mmattn serve: stopped\n")
            } catch {
                outcome.error = error
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error {
            if let error = error as? MMAttnError { throw error }
            throw MMAttnError("the server stopped: \(error)")
        }
    }
}

/// The server task's error, handed to the waiting main thread.
private final class LockedResult: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?
    var error: (any Error)? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
