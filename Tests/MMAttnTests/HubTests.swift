import Foundation
import Testing
@testable import MMAttn
@testable import MMAttnHub

/// Hub ids, the cache layout and downloads, against `HubTestServer` on 127.0.0.1 (no internet).
@Suite struct HubTests {
    /// A fresh HF_HOME and the environment a Hub sees: nothing inherited from the machine.
    static func environment(_ server: HubTestServer?, home: String = CLI.tempDir(), _ extra: [String: String] = [:]) -> [String: String] {
        var env = ["HF_HOME": home, "HF_HUB_CACHE": home + "/hub", "HOME": home]
        env["HF_ENDPOINT"] = server?.endpoint ?? "http://127.0.0.1:9"
        return env.merging(extra) { $1 }
    }

    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    static func error(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "" } catch { return "\(error)" }
    }

    // MARK: ids and the cache

    @Test func hubIDsParseAsHuggingFaceHubDoes() throws {
        let a = try HubModelID("google/vit-base-patch16-224")
        #expect(a.repo == "google/vit-base-patch16-224" && a.revision == "main" && a.folderName == "models--google--vit-base-patch16-224")
        let b = try HubModelID("gpt2@v1.0")
        #expect(b.repo == "gpt2" && b.revision == "v1.0" && b.folderName == "models--gpt2" && !b.isCommit)
        let c = try HubModelID("org/m@0123456789abcdef0123456789abcdef01234567")
        #expect(c.isCommit)
        for bad in ["a/b/c", "org--x/y", "org/na..me", "-org/name", "org/name.", "org/name.git", "", "org/", "org/name@", "org/name@../x", "o rg/x"] {
            #expect(throws: MMAttnError.self, "\(bad)") { try HubModelID(bad) }
        }
    }

    @Test func cacheRootFollowsHuggingFaceHubPrecedence() {
        let base = ["HOME": "/home/u"]
        #expect(HubCache(environment: base).root == "/home/u/.cache/huggingface/hub")
        #expect(HubCache(environment: base.merging(["XDG_CACHE_HOME": "/xdg"]) { $1 }).root == "/xdg/huggingface/hub")
        #expect(HubCache(environment: base.merging(["XDG_CACHE_HOME": "/xdg", "HF_HOME": "~/hf"]) { $1 }).root == "/home/u/hf/hub")
        #expect(HubCache(environment: base.merging(["HF_HOME": "/h", "HUGGINGFACE_HUB_CACHE": "/legacy"]) { $1 }).root == "/legacy")
        #expect(HubCache(environment: base.merging(["HF_HOME": "/h", "HUGGINGFACE_HUB_CACHE": "/legacy", "HF_HUB_CACHE": "$HOME/c"]) { $1 }).root == "/home/u/c")
        #expect(HubCache.expand("${HOME}/x/$UNSET/$", base) == "/home/u/x/$UNSET/$")
    }

    @Test func tokenComesFromTheEnvironmentThenTheTokenFile() throws {
        let home = CLI.tempDir()
        #expect(Hub.token(["HF_HOME": home]) == nil)
        try "  hf_file\n".write(toFile: home + "/token", atomically: true, encoding: .utf8)
        #expect(Hub.token(["HF_HOME": home]) == "hf_file")
        #expect(Hub.token(["HF_HOME": home, "HF_TOKEN": "hf_env"]) == "hf_env")
        #expect(Hub(environment: ["HF_HOME": home, "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1"]).token == nil)
    }

    @Test func hashesMatchKnownDigests() {
        func sha256(_ s: String, pieces: Int = 1, portable: Bool = false) -> String {
            var h = SHA256(portable: portable)
            let b = Array(s.utf8)
            let step = max(1, b.count / pieces)
            var i = 0
            while i < b.count { b[i..<min(b.count, i + step)].withUnsafeBytes { h.update($0) }; i += step }
            return h.finish()
        }
        #expect(sha256("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = String(repeating: "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", count: 100)
        #expect(sha256(long) == sha256(long, pieces: 37))
        var g = SHA1.gitBlob(size: 6)
        Array("hello\n".utf8).withUnsafeBytes { g.update($0) }
        #expect(g.finish() == "ce013625030ba8dba906f756967f9e9ca394464a")  // git hash-object
        // FIPS 180-2 known answers: two blocks after padding, and a million 'a' fed in uneven pieces.
        let twoBlocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(sha256(twoBlocks, pieces: 5) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        for portable in [false, true] {  // the CPU's SHA instructions where it has them, and the portable code
            #expect(sha256("abc", portable: portable) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
            #expect(sha256(twoBlocks, portable: portable) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
            #expect(sha256(String(repeating: "a", count: 1_000_000), pieces: 7, portable: portable)
                    == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        }
        func sha1(_ s: String) -> String {
            var h = SHA1()
            Array(s.utf8).withUnsafeBytes { h.update($0) }
            return h.finish()
        }
        #expect(sha1("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(sha1(twoBlocks) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    }

    /// A cache laid out as huggingface_hub writes it (blobs named by etag, relative snapshot links,
    /// refs), built by hand, is read back as is, without the network.
    @Test func readsACacheLaidOutByHuggingFaceHub() throws {
        let home = CLI.tempDir()
        let repo = home + "/hub/models--sentence-transformers--all-MiniLM-L6-v2"
        let commit = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
        let snapshot = "\(repo)/snapshots/\(commit)"
        let source = Paths.model("st-bert-mean")
        for name in FileManager.default.enumerator(atPath: source)!.compactMap({ $0 as? String }) {
            guard let data = Self.bytes("\(source)/\(name)"), !name.hasSuffix("1_Pooling") else { continue }
            var h = SHA256(); data.withUnsafeBytes { h.update($0) }
            let etag = h.finish()
            try FileManager.default.createDirectory(atPath: "\(repo)/blobs", withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: "\(repo)/blobs/\(etag)"))
            let link = "\(snapshot)/\(name)"
            try FileManager.default.createDirectory(atPath: (link as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let up = String(repeating: "../", count: 2 + name.split(separator: "/").count - 1)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "\(up)blobs/\(etag)")
        }
        try FileManager.default.createDirectory(atPath: "\(repo)/refs", withIntermediateDirectories: true)
        try commit.write(toFile: "\(repo)/refs/main", atomically: true, encoding: .utf8)  // no newline, as huggingface_hub writes it

        let server = try HubTestServer()  // serves nothing: any request would fail
        let env = Self.environment(server, home: home)
        let id = try HubModelID("sentence-transformers/all-MiniLM-L6-v2")
        #expect(try HubCache(environment: env).find(id) == snapshot)
        #expect(try Hub(environment: env).resolve(id.description) == snapshot)
        #expect(server.requests.isEmpty, "\(server.requests)")
        let folder = try ModelFolder(snapshot)
        #expect(try folder.family() == .bert)
        #expect(try TextEncoder(model: snapshot).embed(["a test"]).vectors.count == 1)
        let listed = Hub(environment: env).cachedModels()
        #expect(listed.count == 1 && listed[0].id == id.repo && listed[0].revision == "main" && listed[0].family == "bert")
        #expect(listed[0].bytes == FileManager.default.enumerator(atPath: source)!.compactMap { $0 as? String }
            .reduce(0) { $0 + ((Self.bytes("\(source)/\($1)")?.count) ?? 0) })
        // A missing revision says how to get it.
        let message = Self.error { try HubCache(environment: env).find(try HubModelID("sentence-transformers/all-MiniLM-L6-v2@v2")) }
        #expect(message.contains("mmattn download sentence-transformers/all-MiniLM-L6-v2@v2"), "\(message)")
    }

    // MARK: downloads

    @Test func downloadsIntoTheHuggingFaceLayoutThenUsesTheCacheWithoutNetwork() throws {
        let server = try HubTestServer()
        let commit = try server.serve(Paths.model("vit"), as: "google/vit-base-patch16-224")
        let env = Self.environment(server)
        let progressSeen = Locked(0)
        let places = Locked<Set<String>>([])
        let path = try Hub(environment: env).download("google/vit-base-patch16-224") { p in
            progressSeen.mutate { $0 += 1 }
            places.mutate { $0.insert("\(p.fileIndex)/\(p.fileCount)") }
        }
        let repo = env["HF_HOME"]! + "/hub/models--google--vit-base-patch16-224"
        #expect(path == "\(repo)/snapshots/\(commit)")
        #expect(try String(contentsOfFile: "\(repo)/refs/main", encoding: .utf8) == commit)
        for name in ["config.json", "model.safetensors", "preprocessor_config.json"] {
            #expect(Self.bytes("\(path)/\(name)") == Self.bytes(Paths.model("vit") + "/" + name), "\(name)")
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: "\(path)/\(name)")
            #expect(target.hasPrefix("../../blobs/") && !target.hasSuffix(".incomplete"), "\(target)")
        }
        let weights = try FileManager.default.destinationOfSymbolicLink(atPath: "\(path)/model.safetensors")
        #expect(weights.count == "../../blobs/".count + 64, "LFS blobs are named by their sha256")
        #expect(FileManager.default.fileExists(atPath: env["HF_HOME"]! + "/hub/.locks/models--google--vit-base-patch16-224"))
        #expect(progressSeen.value > 0)
        // config.json (fetched before the count is known, so not reported), model.safetensors, preprocessor_config.json.
        #expect(places.value == ["2/3", "3/3"], "\(places.value)")
        #expect(try ModelFolder(path).family() == .vit)

        // A second download fetches nothing; resolve answers from the cache without any request.
        let before = server.requests.filter { $0.hasPrefix("GET /lfs") || $0.contains("/resolve/") }.count
        _ = try Hub(environment: env).download("google/vit-base-patch16-224")
        #expect(server.requests.filter { $0.hasPrefix("GET /lfs") || $0.contains("/resolve/") }.count == before)
        let requests = server.requests.count
        #expect(try Hub(environment: env).resolve("google/vit-base-patch16-224") == path)
        #expect(try Hub(environment: env).resolve(Paths.model("vit")) == Paths.model("vit"))
        #expect(server.requests.count == requests, "\(server.requests.dropFirst(requests))")
    }

    @Test func resumesACutTransferWithARangeRequest() throws {
        let server = try HubTestServer()
        try server.serve(Paths.model("whisper"), as: "openai/whisper-base")
        server.cutOnce("model.safetensors", after: 20_000)
        let env = Self.environment(server)
        let path = try Hub(environment: env).download("openai/whisper-base")
        #expect(Self.bytes("\(path)/model.safetensors") == Self.bytes(Paths.model("whisper") + "/model.safetensors"))
        #expect(server.requests.contains { $0.hasPrefix("GET /lfs/") && $0.hasSuffix("Range=bytes=20000-") }, "\(server.requests)")
        #expect(Self.bytes("\(path)/generation_config.json") != nil)
    }

    @Test func continuesAPartialFileLeftByAnEarlierRun() throws {
        let server = try HubTestServer()
        try server.serve(Paths.model("vit"), as: "google/vit-base-patch16-224")
        let env = Self.environment(server)
        let weights = try #require(Self.bytes(Paths.model("vit") + "/model.safetensors"))
        var h = SHA256(); weights.withUnsafeBytes { h.update($0) }
        let blobs = env["HF_HOME"]! + "/hub/models--google--vit-base-patch16-224/blobs"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        try weights.prefix(12_345).write(to: URL(fileURLWithPath: "\(blobs)/\(h.finish()).incomplete"))
        let path = try Hub(environment: env).download("google/vit-base-patch16-224")
        #expect(Self.bytes("\(path)/model.safetensors") == weights)
        #expect(server.requests.contains { $0.hasPrefix("GET /lfs/") && $0.hasSuffix("Range=bytes=12345-") }, "\(server.requests)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: blobs).allSatisfy { !$0.hasSuffix(".incomplete") })
    }

    /// A write that fails mid-file (here a file size limit, as a full disk does with ENOSPC) is one
    /// error line; the bytes written stay in the `.incomplete` file and the next run resumes them.
    @Test func aFailedWriteKeepsThePartialFileForTheNextRun() throws {
        let server = try HubTestServer()
        try server.serve(Paths.model("vit"), as: "google/vit-base-patch16-224")
        let env = Self.environment(server)
        let stopped = try CLI.run(["download", "google/vit-base-patch16-224"], environment: env, fileSizeLimitBlocks: 100)
        #expect(stopped.status == 1 && stopped.stderr.hasPrefix("error: ") && stopped.stderr.split(separator: "\n").count == 1,
                "\(stopped.stderr)")
        #expect(stopped.stderr.contains("51200 bytes written are kept"), "\(stopped.stderr)")
        let again = try CLI.run(["download", "google/vit-base-patch16-224"], environment: env)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(server.requests.contains { $0.hasPrefix("GET /lfs/") && $0.hasSuffix("Range=bytes=51200-") }, "\(server.requests)")
        let path = again.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Self.bytes("\(path)/model.safetensors") == Self.bytes(Paths.model("vit") + "/model.safetensors"))
    }

    @Test(arguments: ["model.safetensors", "config.json", "preprocessor_config.json"])
    func rejectsBytesThatDoNotMatchTheEtag(file: String) throws {
        let server = try HubTestServer()
        try server.serve(Paths.model("vit"), as: "google/vit-base-patch16-224")
        server.corrupt(file)
        let env = Self.environment(server)
        let message = Self.error { try Hub(environment: env).download("google/vit-base-patch16-224") }
        #expect(message.contains("checksum mismatch") && message.contains(file), "\(message)")
        let blobs = env["HF_HOME"]! + "/hub/models--google--vit-base-patch16-224/blobs"
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: blobs)) ?? []).allSatisfy { !$0.hasSuffix(".incomplete") })
    }

    @Test func privateModelsNeedTheToken() throws {
        let server = try HubTestServer()
        try server.serve(Paths.model("vit"), as: "acme/private-vit", token: "hf_secret")
        let home = CLI.tempDir()
        let message = Self.error { try Hub(environment: Self.environment(server, home: home)).download("acme/private-vit") }
        #expect(message.hasPrefix("acme/private-vit: HTTP 401") && message.contains("HF_TOKEN") && message.contains("licence"), "\(message)")
        let wrong = Self.error { try Hub(environment: Self.environment(server, home: home, ["HF_TOKEN": "hf_other"])).download("acme/private-vit") }
        #expect(wrong.contains("token in use"), "\(wrong)")
        #expect(throws: Never.self) { try Hub(environment: Self.environment(server, home: home, ["HF_TOKEN": "hf_secret"])).download("acme/private-vit") }
        let home2 = CLI.tempDir()
        try "hf_secret\n".write(toFile: home2 + "/token", atomically: true, encoding: .utf8)
        #expect(throws: Never.self) { try Hub(environment: Self.environment(server, home: home2)).download("acme/private-vit") }
        // The token goes to the Hub's own host, never to the storage host weights redirect to.
        #expect(server.requests.contains { $0.contains("/resolve/") && $0.contains(" Authorization") }, "\(server.requests)")
        #expect(server.requests.contains { $0.hasPrefix("GET /lfs/") })
        #expect(!server.requests.contains { $0.contains(" /lfs/") && $0.contains(" Authorization") }, "\(server.requests)")
    }

    @Test func unknownModelsAndRevisionsAre404WithTheId() throws {
        let server = try HubTestServer()
        try server.serve(Paths.model("vit"), as: "google/vit-base-patch16-224")
        let env = Self.environment(server)
        let repo = Self.error { try Hub(environment: env).download("google/no-such-model") }
        #expect(repo.hasPrefix("google/no-such-model: HTTP 404") && repo.contains("check the id"), "\(repo)")
        let revision = Self.error { try Hub(environment: env).download("google/vit-base-patch16-224@v9") }
        #expect(revision.hasPrefix("google/vit-base-patch16-224@v9: HTTP 404") && revision.contains("no revision \"v9\""), "\(revision)")
    }

    @Test func offlineModeNeverTouchesTheNetwork() throws {
        let server = try HubTestServer()
        try server.serve(Paths.model("vit"), as: "google/vit-base-patch16-224")
        let env = Self.environment(server, ["HF_HUB_OFFLINE": "1"])
        let message = Self.error { try Hub(environment: env).resolve("google/vit-base-patch16-224") }
        #expect(message.contains("HF_HUB_OFFLINE") && message.contains("--model"), "\(message)")
        #expect(server.requests.isEmpty)
        var online = env
        online["HF_HUB_OFFLINE"] = nil
        let path = try Hub(environment: online).download("google/vit-base-patch16-224")
        let count = server.requests.count
        #expect(try Hub(environment: env).download("google/vit-base-patch16-224") == path)
        #expect(server.requests.count == count)
    }

    @Test func noNetworkAndNoCacheSaysHowToPassAFolder() throws {
        let server = try HubTestServer()
        server.stop()
        let message = Self.error { try Hub(environment: Self.environment(server)).resolve("google/vit-base-patch16-224") }
        #expect(message.hasPrefix("google/vit-base-patch16-224: cannot download") && message.contains("--model path/to/folder")
                && message.contains("HF_HUB_OFFLINE") && message.contains("connection refused"), "\(message)")
    }

    @Test func sentenceTransformersModulesAreFetchedWithDeeperLinks() throws {
        let server = try HubTestServer()
        try server.serve(Paths.model("st-bert-mean"), as: "sentence-transformers/all-MiniLM-L6-v2")
        let path = try Hub(environment: Self.environment(server)).download("sentence-transformers/all-MiniLM-L6-v2")
        for name in ["modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "tokenizer.json", "1_Pooling/config.json"] {
            #expect(Self.bytes("\(path)/\(name)") == Self.bytes(Paths.model("st-bert-mean") + "/" + name), "\(name)")
        }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(path)/1_Pooling/config.json").hasPrefix("../../../blobs/"))
    }

    // MARK: commands

    @Test func downloadAndModelsCommands() throws {
        let server = try HubTestServer()
        let commit = try server.serve(Paths.model("esm2"), as: "facebook/esm2_t33_650M_UR50D")
        let env = Self.environment(server)
        let d = try CLI.run(["download", "facebook/esm2_t33_650M_UR50D"], environment: env)
        #expect(d.status == 0, "\(d.stderr)")
        let snapshot = env["HF_HOME"]! + "/hub/models--facebook--esm2_t33_650M_UR50D/snapshots/\(commit)"
        #expect(d.stdout == snapshot + "\n")
        let m = try CLI.run(["models", "--json"], environment: env)
        #expect(m.status == 0, "\(m.stderr)")
        let json = try JSON.parse(Data(m.stdout.utf8))
        let models = try #require(json.object?["models"]?.array)
        #expect(models.count == 1)
        let entry = try #require(models.first?.object)
        #expect(entry.keys == ["id", "revision", "family", "bytes", "path"])
        #expect(entry["id"]?.string == "facebook/esm2_t33_650M_UR50D" && entry["revision"]?.string == "main")
        #expect(entry["family"]?.string == "esm" && entry["path"]?.string == snapshot && (entry["bytes"]?.int ?? 0) > 100_000)
        let bad = try CLI.run(["download", "not/a/hub/id"], environment: env)
        #expect(bad.status == 64, "\(bad.stderr)")
        let table = try CLI.run(["models"], environment: env)
        #expect(table.stdout.contains("facebook/esm2_t33_650M_UR50D") && table.stdout.contains("esm"))
    }

    /// `tokenize` with a Hub id fetches the config and tokenizer, never the weights, and works
    /// offline from a cache that holds the tokenizer alone (as transformers' AutoTokenizer leaves it).
    @Test func tokenizeFetchesNoWeights() throws {
        let server = try HubTestServer()
        try server.serve(Paths.model("bert"), as: "bert-base-uncased")
        let env = Self.environment(server)
        let local = try CLI.run(["tokenize", "Hello world!", "--model", Paths.model("bert"), "--json"], environment: env)
        #expect(local.status == 0, "\(local.stderr)")
        let r = try CLI.run(["tokenize", "Hello world!", "--model", "bert-base-uncased", "--json"], environment: env)
        #expect(r.status == 0 && r.stdout == local.stdout, "\(r.stderr)")
        #expect(server.requests.contains { $0.contains("/resolve/") && $0.contains("/tokenizer.json") }, "\(server.requests)")
        #expect(!server.requests.contains { $0.contains("/lfs/") || $0.contains("model.safetensors") }, "\(server.requests)")

        let snapshot = try #require(HubCache(environment: env).snapshot(try HubModelID("bert-base-uncased"), needsWeights: false))
        try FileManager.default.removeItem(atPath: snapshot + "/config.json")
        #expect(try FileManager.default.contentsOfDirectory(atPath: snapshot).sorted() == ["tokenizer.json", "tokenizer_config.json"])
        let requests = server.requests.count
        let offline = try CLI.run(["tokenize", "Hello world!", "--model", "bert-base-uncased", "--json"],
                                  environment: env.merging(["HF_HUB_OFFLINE": "1"]) { $1 })
        #expect(offline.status == 0 && offline.stdout == local.stdout, "\(offline.stderr)")
        #expect(server.requests.count == requests)
        // A command that needs the weights does not take the tokenizer's snapshot for a model.
        let path = try Hub(environment: env).resolve("bert-base-uncased")
        #expect(Self.bytes("\(path)/model.safetensors") == Self.bytes(Paths.model("bert") + "/model.safetensors"))
    }

    /// The design card's three commands, as written, with their default models from the Hub.
    @Test(arguments: [
        (["classify-image", "Fixtures/images/cat.png"], "google/vit-base-patch16-224", "vit"),
        (["embed-audio", "Fixtures/audio/arctic_a0007.wav"], "openai/whisper-base", "whisper"),
        (["embed-protein", "Fixtures/protein/LuxC.faa"], "facebook/esm2_t33_650M_UR50D", "esm2"),
    ])
    func cardCommandsRunThroughHFEndpoint(arguments: [String], id: String, fixture: String) throws {
        let server = try HubTestServer()
        try server.serve(Paths.model(fixture), as: id)
        let env = Self.environment(server)
        let dir = try DocumentationTests.exampleFolder()
        let r = try CLI.run(arguments, timeout: 120, environment: env, directory: dir)
        #expect(r.status == 0, "\(arguments.joined(separator: " ")): \(r.stderr)")
        #expect(!r.stdout.isEmpty)
        #expect(server.requests.contains { $0.hasPrefix("GET /lfs/") })
        // Again: the cached model is used, nothing is requested.
        let requests = server.requests.count
        let again = try CLI.run(arguments, timeout: 120, environment: env, directory: dir)
        #expect(again.status == 0 && again.stdout == r.stdout, "\(again.stderr)")
        #expect(server.requests.count == requests, "\(server.requests.dropFirst(requests))")
        #expect(!again.stderr.contains("cannot reach") && !again.stderr.contains("warning"), "\(again.stderr)")
    }
}

/// A value shared with a @Sendable callback.
final class Locked<T>: @unchecked Sendable {
    // @unchecked: every access goes through `lock`.
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func mutate(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
}
