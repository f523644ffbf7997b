import Foundation
import Hummingbird
import Logging
import MMAttn
import ServiceLifecycle

/// The HTTP server of `mmattn serve`: TEI's and OpenAI's embedding APIs for text models, and routes
/// for images, audio, transcriptions and proteins, over the same pipelines as the commands.
///
/// It binds first and loads the models after (`/health` answers 503 until they are loaded);
/// concurrent requests for a model are merged into batches (`BatchQueue`). SIGTERM or SIGINT stop
/// it gracefully: no new connections, requests in flight finish (within the grace period), then
/// `run` returns.
public struct MMAttnServer: Sendable {
    /// What it serves and how (checked by `init`).
    public let configuration: ServerConfiguration

    /// Throws when the configuration cannot be served (no model, two models of one name).
    public init(configuration: ServerConfiguration) throws {
        guard !configuration.models.isEmpty else { throw MMAttnError("serve needs at least one --model") }
        var seen = Set<String>()
        for spec in configuration.models where !seen.insert(spec.name).inserted {
            throw MMAttnError("two models are named \"\(spec.name)\"; give one of them another name with NAME=SOURCE")
        }
        self.configuration = configuration
    }

    /// Serve until stopped. `onListening(port)` is called once the socket is bound (before the
    /// models are loaded), `onReady` once every model is loaded. SIGTERM and SIGINT (unless
    /// `handlingSignals` is false) and cancelling the calling task stop it gracefully: no new
    /// connections, the requests in flight are answered (within the grace period), then it
    /// returns. Throws when binding or loading a model fails.
    public func run(handlingSignals: Bool = true, onListening: @escaping @Sendable (Int) -> Void = { _ in },
                    onReady: @escaping @Sendable () -> Void = {}) async throws {
        var logger = Logger(label: "mmattn.serve") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let state = try ServerState(configuration: configuration)
        defer { state.uploads.remove() }

        let router = Router(context: BasicRequestContext.self)
        router.middlewares.add(Gate(state: state))
        TEIRoutes(state: state).add(to: router)
        OpenAIRoutes(state: state).add(to: router)
        ModalityRoutes(state: state).add(to: router)

        // The models load once the socket is bound, so a taken port fails before any model is read.
        let (bound, bind) = AsyncStream<Void>.makeStream()
        let listening = LockedValue(false)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "mmattn/\(MMAttnVersion.string)"),
            onServerRunning: { channel in
                listening.value = true
                onListening(channel.localAddress?.port ?? 0)
                bind.finish()
            },
            logger: logger)
        var group = ServiceGroupConfiguration(
            services: [.init(service: ModelLoader(state: state, bound: bound, onReady: onReady)), .init(service: app)],
            gracefulShutdownSignals: handlingSignals ? [.sigterm, .sigint] : [],
            logger: logger)
        group.maximumGracefulShutdownDuration = configuration.limits.gracePeriod
        // Cancelling the caller stops the server as SIGTERM does (drain, then return), rather than
        // cutting the connections in flight.
        let services = ServiceGroup(configuration: group)
        let running = Task { try await services.run() }
        do {
            try await withTaskCancellationHandler {
                try await running.value
            } onCancel: {
                Task { await services.triggerGracefulShutdown() }
            }
        } catch where !listening.value && !(error is MMAttnError) {
            let address = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
            throw MMAttnError("cannot listen on \(address):\(configuration.port) (\(error)); give another --port (0 picks a free one) or --host")
        }
    }
}

/// What every route shares: the configuration, the models once loaded, the metrics.
final class ServerState: Sendable {
    let configuration: ServerConfiguration
    let metrics = ServerMetrics()
    let uploads: UploadDirectory
    /// Seconds since 1970 when the server started (`created` in `/v1/models`).
    let started = Int(Date().timeIntervalSince1970)
    private let loaded = LockedValue<[ServedModel]?>(nil)

    init(configuration: ServerConfiguration) throws {
        self.configuration = configuration
        uploads = try UploadDirectory()
    }

    var limits: ServerLimits { configuration.limits }

    /// The loaded models; throws 503 while they load.
    func models() throws -> [ServedModel] {
        guard let models = loaded.value else {
            throw ServeError.unavailable("the models are still loading; retry when GET /health answers 200")
        }
        return models
    }

    func setModels(_ models: [ServedModel]) { loaded.value = models }

    var isReady: Bool { loaded.value != nil }

    /// The model named `name` that serves what `serves` picks; `kind` names it in errors ("text",
    /// "image"). Without a name, or with a name no model has, the first model of the kind answers
    /// when it is the only one (clients keep their own model names, as with TEI); otherwise the
    /// name must be a served model's (404).
    func model<S>(named name: String?, kind: String, _ serves: (ServedModel) -> S?) throws -> (ServedModel, S) {
        let models = try models()
        let candidates = models.compactMap { m in serves(m).map { (m, $0) } }
        if let name, let model = models.first(where: { $0.spec.name == name }) {
            guard let service = serves(model) else {
                let serves = model.kinds.joined(separator: " and ")
                throw ServeError.modelNotFound("The model `\(name)` is \(model.family.modelPhrase), which serves \(serves), not \(kind) requests")
            }
            return (model, service)
        }
        if candidates.count == 1 || (name == nil && !candidates.isEmpty) { return candidates[0] }
        let served = models.map { "\($0.spec.name) (\($0.kinds.joined(separator: ", ")))" }.joined(separator: "; ")
        if let name, !candidates.isEmpty {
            throw ServeError.modelNotFound("The model `\(name)` does not exist here; this server serves \(served)")
        }
        throw ServeError.modelNotFound("this server has no model for \(kind) requests; it serves \(served)")
    }
}

/// Loads the models on a thread of its own once the server listens (`bound` ends); at shutdown,
/// after the HTTP server has drained, stops the models' queues.
struct ModelLoader: Service {
    let state: ServerState
    let bound: AsyncStream<Void>
    let onReady: @Sendable () -> Void

    func run() async throws {
        // Stopped before the socket is bound (a failed bind, SIGTERM at once): load nothing.
        await cancelWhenGracefulShutdown { for await _ in bound {} }
        try Task.checkCancellation()
        let configuration = state.configuration, metrics = state.metrics
        let models: [ServedModel] = try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                var loaded: [ServedModel] = []
                do {
                    for spec in configuration.models { loaded.append(try ServedModel(spec, configuration: configuration, metrics: metrics)) }
                    continuation.resume(returning: loaded)
                } catch {
                    for model in loaded { model.stop() }
                    continuation.resume(throwing: error)
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        state.setModels(models)
        onReady()
        try? await gracefulShutdown()
        for model in models { model.stop() }
    }
}

/// A value behind a lock.
final class LockedValue<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T

    init(_ value: T) { stored = value }

    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
