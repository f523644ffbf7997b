import Foundation

/// A restricted reader of the pickles `torch.save` writes (protocol 2, and the opcodes of
/// protocols 0–4 that can appear in a state_dict). It never runs anything the pickle names: the
/// only globals it accepts are the ones a weights file needs, each replaced by a fixed Swift
/// meaning — `collections.OrderedDict` (a dict), `torch._utils._rebuild_tensor_v2` and
/// `_rebuild_parameter` (a tensor description), and the typed storage classes (`torch.FloatStorage`
/// …, an element type). Any other global is refused with its name before the next opcode is read.
/// Persistent ids (`BINPERSID`) are handed to the caller, which turns them into storages.
struct PickleReader {
    /// A value of the pickle machine. Lists and dicts are boxes so that memoised references
    /// see later appends, as in Python.
    indirect enum Value {
        case none
        case bool(Bool)
        case int(Int)
        case bigInt([UInt8])  // LONG1 wider than 64 bits, little-endian (the legacy format's magic number)
        case float(Double)
        case string(String)
        case bytes(Int)  // only the length is kept: a weights pickle holds no byte payloads it needs
        case tuple([Value], depth: Int)
        case list(ListBox)
        case dict(DictBox)
        case global(Global)
        case storage(Int)  // an index into the caller's storages
        case tensor(TensorRef)

        var kindName: String {
            switch self {
            case .none: return "None"
            case .bool: return "a bool"
            case .int, .bigInt: return "an int"
            case .float: return "a float"
            case .string: return "a string"
            case .bytes: return "bytes"
            case .tuple: return "a tuple"
            case .list: return "a list"
            case .dict: return "a dict"
            case .global(let g): return "the global \(g.qualifiedName)"
            case .storage: return "a storage"
            case .tensor: return "a tensor"
            }
        }

        /// Levels of containers in the value (0 for a scalar).
        var depth: Int {
            switch self {
            case .tuple(_, let d): return d
            case .list(let box): return box.depth
            case .dict(let box): return box.depth
            default: return 0
            }
        }
    }

    /// A list or dict under construction. Once it is put inside another container it is sealed:
    /// `torch.save` fills each container before nesting it, and a container changed after (through
    /// the memo) could make its parent's recorded depth wrong or contain itself.
    final class ListBox {
        var items: [Value] = []
        var depth = 1
        var sealed = false
    }
    final class DictBox {
        var items: [(key: Value, value: Value)] = []
        var depth = 1
        var sealed = false
    }

    /// Containers may nest this deep (a state_dict nests about 4 levels); deeper values are refused
    /// before their release could recurse through the stack.
    static let maxDepth = 100
    /// Most axes a tensor may have (models use up to 5).
    static let maxRank = 64

    /// The globals a torch weights pickle may name.
    enum Global {
        case orderedDict
        case rebuildTensor
        case rebuildParameter
        case storageType(SafetensorsDType, name: String)

        var qualifiedName: String {
            switch self {
            case .orderedDict: return "collections.OrderedDict"
            case .rebuildTensor: return "torch._utils._rebuild_tensor_v2"
            case .rebuildParameter: return "torch._utils._rebuild_parameter"
            case .storageType(_, let name): return "torch.\(name)"
            }
        }

        /// The accepted globals by module and name; nil for everything else.
        init?(module: String, name: String) {
            switch (module, name) {
            case ("collections", "OrderedDict"): self = .orderedDict
            case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensor
            case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameter
            case ("torch", _):
                guard let dtype = Self.storageTypes[name] else { return nil }
                self = .storageType(dtype, name: name)
            default: return nil
            }
        }

        static let storageTypes: [String: SafetensorsDType] = [
            "FloatStorage": .F32, "HalfStorage": .F16, "BFloat16Storage": .BF16, "DoubleStorage": .F64,
            "LongStorage": .I64, "IntStorage": .I32, "ShortStorage": .I16, "CharStorage": .I8,
            "ByteStorage": .U8, "BoolStorage": .BOOL,
        ]
    }

    /// A tensor as `_rebuild_tensor_v2` describes it: a view of a storage (element offset, sizes, strides).
    struct TensorRef {
        let storage: Int
        let offset: Int
        let shape: [Int]
        let strides: [Int]
    }

    let bytes: UnsafeRawBufferPointer
    let file: String
    /// What the pickle is called in messages ("data.pkl in the archive").
    let what: String

    /// Run the pickle that starts at byte `start` to its STOP; returns the value and the offset
    /// just after STOP. `persistentLoad` turns a persistent id into a value (a storage).
    func read(from start: Int, persistentLoad: (Value) throws -> Value) throws -> (value: Value, end: Int) {
        var stack: [Value] = []
        var marks: [Int] = []
        var memo: [Int: Value] = [:]
        var p = start
        let n = bytes.count

        func fail(_ message: String) -> MMAttnError { MMAttnError("\(what): \(message)", file: file) }
        func need(_ count: Int) throws {
            guard count >= 0, count <= n - p else { throw fail("the pickle ends in the middle of an opcode at byte \(p): the file is truncated or damaged") }
        }
        func take(_ count: Int) throws -> UnsafeRawBufferPointer {
            try need(count)
            defer { p += count }
            return UnsafeRawBufferPointer(rebasing: bytes[p..<(p + count)])
        }
        func u8() throws -> Int { Int(try take(1)[0]) }
        func le(_ count: Int) throws -> UInt64 {
            let b = try take(count)
            var v: UInt64 = 0
            for i in 0..<count { v |= UInt64(b[i]) << (8 * UInt64(i)) }
            return v
        }
        func line() throws -> String {
            guard let nl = bytes[p...].firstIndex(of: 0x0A) else { throw fail("a text field at byte \(p) has no end of line: the pickle is damaged") }
            defer { p = nl + 1 }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[p..<nl]), as: UTF8.self)
        }
        func pop() throws -> Value {
            guard stack.count > (marks.last ?? 0) else { throw fail("the pickle pops an empty stack (or past a mark) at byte \(p - 1): it is damaged") }
            return stack.removeLast()
        }
        func popMark() throws -> [Value] {
            guard let m = marks.popLast() else { throw fail("the pickle has no mark to pop at byte \(p - 1): it is damaged") }
            defer { stack.removeSubrange(m...) }
            return Array(stack[m...])
        }
        func top() throws -> Value {
            guard let v = stack.last, stack.count > (marks.last ?? 0) else { throw fail("the pickle reads an empty stack at byte \(p - 1): it is damaged") }
            return v
        }
        /// The depth of a container of `items` (plus `base`), refused past `maxDepth`; the lists and
        /// dicts among `items` are sealed.
        func nested(_ items: [Value], base: Int = 0) throws -> Int {
            let d = max(base, 1 + (items.map(\.depth).max() ?? 0))
            guard d <= PickleReader.maxDepth else {
                throw fail("containers nest more than \(PickleReader.maxDepth) levels deep at byte \(p - 1), which no weights file does: refusing the file")
            }
            for item in items {
                if case .list(let box) = item { box.sealed = true }
                if case .dict(let box) = item { box.sealed = true }
            }
            return d
        }
        /// Refuse to add to a container that is already inside another one (or inside itself).
        func checkOpen(_ sealed: Bool, _ op: String) throws {
            guard !sealed else {
                throw fail("\(op) at byte \(p - 1) changes a container already placed inside another, which torch never writes: refusing the file")
            }
        }
        func tuple(_ items: [Value]) throws -> Value { .tuple(items, depth: try nested(items)) }
        func global(_ module: String, _ name: String) throws -> Value {
            guard let g = Global(module: module, name: name) else {
                throw fail("refers to \(module).\(name), which a weights file never needs (it allows only tensors, storages and OrderedDict); refusing the file, nothing in it was run. Only load it if you trust it, and convert it to safetensors")
            }
            return .global(g)
        }
        func string(_ count: UInt64) throws -> Value {
            guard count <= UInt64(n - p) else { throw fail("a string at byte \(p) claims \(count) bytes, more than the pickle holds: the file is truncated or damaged") }
            return .string(String(decoding: try take(Int(count)), as: UTF8.self))
        }
        while true {
            try need(1)
            let opAt = p
            let op = try u8()
            switch op {
            case 0x80: _ = try u8()                                  // PROTO
            case 0x95: _ = try le(8)                                 // FRAME
            case 0x2E:                                               // STOP
                guard stack.count == 1, marks.isEmpty else { throw fail("the pickle stops with \(stack.count) values on its stack: it is damaged") }
                return (stack[0], p)
            case 0x28: marks.append(stack.count)                     // MARK
            case 0x30: _ = try pop()                                 // POP
            case 0x31: _ = try popMark()                             // POP_MARK
            case 0x32: stack.append(try top())                       // DUP
            case 0x4E: stack.append(.none)                           // NONE
            case 0x88: stack.append(.bool(true))                     // NEWTRUE
            case 0x89: stack.append(.bool(false))                    // NEWFALSE
            case 0x4B: stack.append(.int(try u8()))                  // BININT1
            case 0x4D: stack.append(.int(Int(try le(2))))            // BININT2
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try le(4)))))  // BININT
            case 0x8A:                                               // LONG1
                let count = try u8()
                guard count <= 8 else {
                    stack.append(.bigInt(Array(try take(count))))
                    continue
                }
                var v = count == 0 ? 0 : try le(count)
                if count > 0 && count < 8 && v & (1 << (8 * UInt64(count) - 1)) != 0 { v |= ~0 << (8 * UInt64(count)) }  // sign-extend
                stack.append(.int(Int(Int64(bitPattern: v))))
            case 0x49:                                               // INT (text)
                let text = try line()
                if text == "00" || text == "01" { stack.append(.bool(text == "01")) } else {
                    guard let v = Int(text) else { throw fail("INT \"\(text.prefix(30))\" at byte \(opAt) is not an integer") }
                    stack.append(.int(v))
                }
            case 0x4C:                                               // LONG (text)
                let text = try line()
                guard let v = Int(text.hasSuffix("L") ? String(text.dropLast()) : text) else {
                    throw fail("LONG \"\(text.prefix(30))\" at byte \(opAt) is not an integer that fits 64 bits")
                }
                stack.append(.int(v))
            case 0x47: stack.append(.float(Double(bitPattern: try le(8).byteSwapped)))  // BINFLOAT (big-endian)
            case 0x58: stack.append(try string(try le(4)))           // BINUNICODE
            case 0x8C: stack.append(try string(UInt64(try u8())))    // SHORT_BINUNICODE
            case 0x8D: stack.append(try string(try le(8)))           // BINUNICODE8
            case 0x54: stack.append(try string(try le(4)))           // BINSTRING
            case 0x55: stack.append(try string(UInt64(try u8())))    // SHORT_BINSTRING
            case 0x42, 0x43, 0x8E:                                   // BINBYTES, SHORT_BINBYTES, BINBYTES8
                let count = op == 0x43 ? UInt64(try u8()) : try le(op == 0x42 ? 4 : 8)
                guard count <= UInt64(n - p) else { throw fail("bytes at byte \(p) claim \(count) bytes, more than the pickle holds: the file is truncated or damaged") }
                p += Int(count)
                stack.append(.bytes(Int(count)))
            case 0x29: stack.append(.tuple([], depth: 1))           // EMPTY_TUPLE
            case 0x74: stack.append(try tuple(try popMark()))        // TUPLE
            case 0x85: stack.append(try tuple([try pop()]))          // TUPLE1
            case 0x86:                                               // TUPLE2
                let b = try pop(), a = try pop()
                stack.append(try tuple([a, b]))
            case 0x87:                                               // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                stack.append(try tuple([a, b, c]))
            case 0x5D: stack.append(.list(ListBox()))                // EMPTY_LIST
            case 0x6C:                                               // LIST
                let box = ListBox()
                box.items = try popMark()
                box.depth = try nested(box.items)
                stack.append(.list(box))
            case 0x61, 0x65:                                         // APPEND, APPENDS
                let items = op == 0x61 ? [try pop()] : try popMark()
                guard case .list(let box) = try top() else { throw fail("APPEND at byte \(opAt) on \(try top().kindName), not a list") }
                try checkOpen(box.sealed, "APPEND")
                box.depth = try nested(items, base: box.depth)
                try checkOpen(box.sealed, "APPEND")  // the list was among its own items
                box.items.append(contentsOf: items)
            case 0x7D: stack.append(.dict(DictBox()))                // EMPTY_DICT
            case 0x64:                                               // DICT
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("DICT at byte \(opAt) has an odd number of items") }
                let box = DictBox()
                for i in stride(from: 0, to: items.count, by: 2) { box.items.append((items[i], items[i + 1])) }
                box.depth = try nested(items)
                stack.append(.dict(box))
            case 0x73, 0x75:                                         // SETITEM, SETITEMS
                let items: [Value]
                if op == 0x73 {
                    let v = try pop(), k = try pop()
                    items = [k, v]
                } else {
                    items = try popMark()
                }
                guard items.count % 2 == 0 else { throw fail("SETITEMS at byte \(opAt) has an odd number of items") }
                guard case .dict(let box) = try top() else { throw fail("SETITEM at byte \(opAt) on \(try top().kindName), not a dict") }
                try checkOpen(box.sealed, "SETITEM")
                box.depth = try nested(items, base: box.depth)
                try checkOpen(box.sealed, "SETITEM")  // the dict was among its own items
                for i in stride(from: 0, to: items.count, by: 2) { box.items.append((items[i], items[i + 1])) }
            case 0x71: memo[try u8()] = try top()                    // BINPUT
            case 0x72: memo[Int(try le(4))] = try top()              // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                  // MEMOIZE
            case 0x70: guard let k = Int(try line()) else { throw fail("PUT at byte \(opAt) has no index") }; memo[k] = try top()  // PUT
            case 0x68, 0x6A, 0x67:                                   // BINGET, LONG_BINGET, GET
                let k = op == 0x68 ? try u8() : op == 0x6A ? Int(try le(4)) : (Int(try line()) ?? -1)
                guard let v = memo[k] else { throw fail("the pickle reads memo entry \(k) at byte \(opAt), which was never stored: it is damaged") }
                stack.append(v)
            case 0x63:                                               // GLOBAL
                let module = try line(), name = try line()
                stack.append(try global(module, name))
            case 0x93:                                               // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL at byte \(opAt) without a module and a name")
                }
                stack.append(try global(module, name))
            case 0x51:                                               // BINPERSID
                stack.append(try persistentLoad(try pop()))
            case 0x52:                                               // REDUCE
                let args = try pop(), callable = try pop()
                stack.append(try reduce(callable, args, at: opAt, fail))
            case 0x62:                                               // BUILD
                let state = try pop()
                // Only an OrderedDict gets state (`_metadata`, per-module versions): it is dropped.
                guard case .dict = try top() else {
                    throw fail("BUILD at byte \(opAt) sets the state of \(try top().kindName) to \(state.kindName); a weights pickle only sets dict attributes")
                }
            default:
                let printable = op >= 0x20 && op < 0x7F ? " ('\(Character(Unicode.Scalar(UInt8(op))))')" : ""
                throw fail(String(format: "opcode 0x%02X", op) + "\(printable) at byte \(opAt) is not one a torch weights pickle uses (it would build or call objects); refusing the file, nothing in it was run")
            }
        }
    }

    /// REDUCE: call one of the accepted globals on `args`, by its fixed meaning.
    private func reduce(_ callable: Value, _ args: Value, at opAt: Int, _ fail: (String) -> MMAttnError) throws -> Value {
        guard case .global(let g) = callable else {
            throw fail("REDUCE at byte \(opAt) calls \(callable.kindName); a weights pickle only calls OrderedDict and the tensor rebuilders")
        }
        guard case .tuple(let a, _) = args else { throw fail("REDUCE at byte \(opAt) passes \(args.kindName) as arguments, not a tuple") }
        switch g {
        case .orderedDict:
            let box = DictBox()
            if let first = a.first {
                // OrderedDict(list of (key, value) pairs)
                guard a.count == 1, case .list(let pairs) = first else { throw fail("OrderedDict at byte \(opAt) is called with \(a.count) arguments") }
                for pair in pairs.items {
                    guard case .tuple(let kv, _) = pair, kv.count == 2 else { throw fail("OrderedDict at byte \(opAt) is given an item that is not a pair") }
                    box.items.append((kv[0], kv[1]))
                }
            }
            return .dict(box)
        case .rebuildTensor:
            guard a.count >= 4, case .storage(let storage) = a[0], case .int(let offset) = a[1],
                  case .tuple(let sizes, _) = a[2], case .tuple(let strides, _) = a[3] else {
                throw fail("_rebuild_tensor_v2 at byte \(opAt) is not given (storage, offset, size, stride, ...)")
            }
            func ints(_ values: [Value], _ what: String) throws -> [Int] {
                try values.map {
                    guard case .int(let v) = $0, v >= 0 else { throw fail("_rebuild_tensor_v2 at byte \(opAt): a \(what) entry is \($0.kindName) or negative, not a size") }
                    return v
                }
            }
            let shape = try ints(sizes, "size"), stride = try ints(strides, "stride")
            guard shape.count == stride.count, offset >= 0 else {
                throw fail("_rebuild_tensor_v2 at byte \(opAt): \(shape.count) sizes but \(stride.count) strides, or a negative offset")
            }
            // Ranks are small in any model; a bound keeps the per-tensor checks linear in the file.
            guard shape.count <= PickleReader.maxRank else {
                throw fail("_rebuild_tensor_v2 at byte \(opAt): a tensor of rank \(shape.count); at most \(PickleReader.maxRank) are read")
            }
            return .tensor(TensorRef(storage: storage, offset: offset, shape: shape, strides: stride))
        case .rebuildParameter:
            guard let first = a.first, case .tensor = first else { throw fail("_rebuild_parameter at byte \(opAt) is not given a tensor") }
            return first
        case .storageType:
            throw fail("the pickle calls \(g.qualifiedName) at byte \(opAt); storages of a weights file come only from persistent ids")
        }
    }
}
