import Foundation
import MMAttnFuzz

// Built two ways. With `-D FUZZING` and `-sanitize=fuzzer` (scripts/fuzz.sh), this is a libFuzzer
// binary: MMATTN_FUZZ_TARGET names the target, and libFuzzer's driver runs it. Otherwise it
// replays files through a target, the way the fuzzer would: `mmattn-fuzz TARGET FILE|FOLDER...`
// (to reproduce a finding under a debugger, or without the fuzzing build).

#if FUZZING
// libFuzzer's entry points. Its driver calls LLVMFuzzerInitialize once, then LLVMFuzzerTestOneInput
// per input. Release builds link executables with `main` renamed to `<module>_main`, so libFuzzer's
// own main is not the entry point there: `mmattn_fuzz_main` is, and hands over to the driver
// (declared here by its C symbol; its arguments are all pointers). Debug builds use libFuzzer's main.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

nonisolated(unsafe) private var target: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
func initialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["MMATTN_FUZZ_TARGET"] ?? ""
    guard let found = FuzzTarget.named(name) else {
        let names = FuzzTarget.all.map(\.name).joined(separator: ", ")
        FileHandle.standardError.write(Data("error: set MMATTN_FUZZ_TARGET to one of: \(names)\n".utf8))
        exit(2)
    }
    target = found
    atexit { target?.finish() }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    do {
        try target!.run(UnsafeRawBufferPointer(start: data, count: size))
    } catch {
        fatalError("the target could not start: \(error)")  // fixtures missing: not a finding in the input
    }
    return 0
}

@_cdecl("mmattn_fuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc, arguments = argv
    return runDriver(&count, &arguments, testOneInput)
}
#else
@main
struct Replay {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, let target = FuzzTarget.named(name), arguments.count > 1 else {
            let names = FuzzTarget.all.map(\.name).joined(separator: ", ")
            FileHandle.standardError.write(Data("usage: mmattn-fuzz TARGET FILE|FOLDER...\ntargets: \(names)\n".utf8))
            exit(2)
        }
        defer { target.finish() }
        var count = 0
        for argument in arguments.dropFirst() {
            var isFolder: ObjCBool = false
            FileManager.default.fileExists(atPath: argument, isDirectory: &isFolder)
            let files = isFolder.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: argument).sorted().map { argument + "/" + $0 }
                : [argument]
            for file in files {
                try target.run(try Data(contentsOf: URL(fileURLWithPath: file)))
                count += 1
            }
        }
        print("\(name): \(count) inputs ran")
    }
}
#endif
