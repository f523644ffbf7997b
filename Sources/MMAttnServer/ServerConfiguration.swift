import Foundation
import MMAttn

/// What `mmattn serve` serves, where, and the limits that protect it.
public struct ServerConfiguration: Sendable {
    /// The models, in order; the first model of a kind answers requests that name none.
    public var models: [ModelSpec]
    /// The address to bind: loopback unless told otherwise.
    public var host: String
    /// The port; 0 picks a free one (`MMAttnServer.run(onListening:)` reports it).
    public var port: Int
    /// When set, every route but the health checks (`/health`, `/ping`, `GET /`) and `/metrics`
    /// needs `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// The type the models compute in.
    public var dtype: DType
    /// Sizes, counts and times that bound each request and queue.
    public var limits: ServerLimits

    public init(models: [ModelSpec], host: String = "127.0.0.1", port: Int = 8080, apiKey: String? = nil,
                dtype: DType = .f32, limits: ServerLimits = ServerLimits()) {
        self.models = models
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.dtype = dtype
        self.limits = limits
    }
}

/// A model to serve: `SOURCE` (a folder or Hub id, served under that name) or `NAME=SOURCE`.
public struct ModelSpec: Sendable, Equatable {
    /// The name requests use (`"model"` in OpenAI's bodies).
    public var name: String
    /// The folder or Hub id to load.
    public var source: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }

    /// Parse `SOURCE` or `NAME=SOURCE`.
    public init(parsing text: String) {
        if let eq = text.firstIndex(of: "="), eq != text.startIndex {
            self.init(name: String(text[..<eq]), source: String(text[text.index(after: eq)...]))
        } else {
            self.init(name: text, source: text)
        }
    }
}

/// Limits on requests and batches. The defaults follow text-embeddings-inference's.
public struct ServerLimits: Sendable {
    /// Largest JSON body, in bytes (TEI's `--payload-limit`, 2 MB); larger is 413.
    public var payloadBytes = 2_000_000
    /// Largest upload (PNG, audio or FASTA body, or multipart form), in bytes; larger is 413.
    public var uploadBytes = 64 << 20
    /// Largest decoded image, in pixels; larger is 422 (before decoding).
    public var imagePixels = 40_000_000
    /// Longest audio upload, in seconds; longer is 422 (while decoding).
    public var audioSeconds: Double = 600
    /// Inputs one request may hold (TEI's `--max-client-batch-size`); more is 422.
    public var clientBatchSize = 32
    /// Tokens one merged text batch may hold (TEI's `--max-batch-tokens`).
    public var batchTokens = 16_384
    /// Requests that may wait for one model (TEI's `--max-concurrent-requests`); more is 429.
    public var queueSize = 512
    /// How long the first waiting request waits for others to join its batch.
    public var batchWait: Duration = .zero
    /// Requests waiting longer than this for their model are answered 503.
    public var requestTimeout: Duration = .seconds(60)
    /// On SIGTERM, how long requests in flight may take to finish.
    public var gracePeriod: Duration = .seconds(30)
    /// Truncate texts longer than the model's limit when a request does not say (TEI's
    /// `--auto-truncate`, on by default since TEI 1.9); when off, they are a 422.
    public var autoTruncate = true

    public init() {}
}

extension ServerLimits {
    /// 422 for more inputs than one request may hold (TEI's message).
    func checkBatchSize(_ count: Int) throws {
        guard count <= clientBatchSize else {
            throw ServeError.validation("batch size \(count) > maximum allowed batch size \(clientBatchSize)")
        }
    }
}
