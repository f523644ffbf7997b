import Foundation
import Testing
@testable import MMAttn

@Suite struct JSONTests {
    func parse(_ s: String) throws -> JSON { try JSON.parse(Data(s.utf8)) }

    @Test func parsesNestedValues() throws {
        let v = try parse(#"{"a": [1, 2.5, -3e2, true, null, "x\u00e9\ud83d\ude00\n"], "b": {}}"#)
        let a = try #require(v.object?["a"]?.array)
        #expect(a[0].int == 1)
        #expect(a[1].int == nil && a[1].double == 2.5)
        #expect(a[2].double == -300)
        #expect(a[3].bool == true)
        #expect(a[4].isNull)
        #expect(a[5].string == "xé😀\n")
        #expect(v.object?.keys == ["a", "b"])
    }

    @Test(arguments: ["{", "[1,]", "{\"a\":1,}", "NaN", "{\"a\": NaN}", "01", "\"\\x\"", "[1] 2",
                      "{\"a\":1,\"a\":2}", "\"\\ud800\"", "", "tru"])
    func rejectsMalformed(_ text: String) {
        #expect(throws: MMAttnError.self) { try parse(text) }
    }

    @Test func boundsNestingDepth() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: MMAttnError.self) { try parse(deep) }
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try parse(ok) }
    }

    @Test func integersAreExact() throws {
        let f = try JSONFields(parse(#"{"a": 32, "b": "32", "c": 32.5, "d": 1e400, "e": 100000000000000000000}"#), file: "config.json")
        #expect(try f.int("a") == 32)
        #expect(throws: MMAttnError.self) { try f.int("b") }
        #expect(throws: MMAttnError.self) { try f.int("c") }
        #expect(throws: MMAttnError.self) { try f.int("d") }
        #expect(throws: MMAttnError.self) { try f.int("e") }
        #expect(throws: MMAttnError.self) { try f.double("d", default: 0) }
        #expect(throws: MMAttnError.self) { try f.int("missing") }
        #expect(try f.int("missing", default: 7) == 7)
    }
}

@Suite struct NPYTests {
    @Test func roundTripsFloat32() throws {
        let t = Tensor(shape: [2, 3], values: [1, 2, 3, 4.5, -5, 6])
        let back = try NPY.decode(NPY.encode(t))
        #expect(back.shape == [2, 3])
        #expect(back.values == t.values)
        let header = NPY.encode(t).prefix(128)
        #expect((10 + Int(header[8]) + Int(header[9]) << 8) % 64 == 0)
    }

    @Test func rejectsTruncatedData() {
        let bytes = NPY.encode(Tensor(shape: [4], values: [1, 2, 3, 4])).dropLast(2)
        #expect(throws: MMAttnError.self) { try NPY.decode(Data(bytes)) }
    }
}

@Suite struct JSONQuoteTests {
    @Test func quoteRoundTripsThroughTheParser() throws {
        for s in ["plain", "quote \" and \\ backslash", "tab\tnew\nline\r", "\u{1}\u{1f}", "é😀 sp|P08639|LUXC_VIBHA/mean"] {
            #expect(try JSON.parse(Data(JSON.quote(s).utf8)).string == s)
        }
    }
}
