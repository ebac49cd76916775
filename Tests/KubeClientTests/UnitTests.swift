import Foundation
import AsyncHTTPClient
import KubeClient
import NIOCore
import Testing

@Suite("JSON, line splitting, backoff", .timeLimit(.minutes(3)))
struct UnitTests {
    @Test("JSON round-trips objects, escapes, unicode, numbers")
    func jsonRoundTrip() throws {
        let text = #"{"a":[1,-2,3.5,true,false,null],"s":"q\"\\\n\t\u00e9\ud83d\ude00/","big":9007199254740993,"e":1e3,"nested":{"x":{}}}"#
        let v = try JSONWire.parse(string: text)
        #expect(v["a"] == [1, -2, 3.5, true, false, nil])
        #expect(v["s"] == .string("q\"\\\n\té😀/"))
        #expect(v["big"] == .int(9007199254740993))
        #expect(v["e"] == .double(1000))
        #expect(try JSONWire.parse(JSONWire.serialize(v)) == v)
        #expect(JSONWire.string(["k": "line\nbreak"]) == #"{"k":"line\nbreak"}"#)
        #expect(!JSONWire.string(v).contains("\n"), "serialised JSON must be one line for watch streams")
    }

    @Test("JSON errors say where", arguments: [#"{"a":}"#, "[1,2", #"{"a" 1}"#, "tru", #""unterminated"#, "{} x"])
    func jsonErrors(_ bad: String) {
        #expect(throws: JSONWire.ParseError.self) { try JSONWire.parse(string: bad) }
    }

    @Test("JSONValue matches Foundation's Codable")
    func codable() throws {
        struct Thing: Codable, Equatable { var name: String; var count: Int; var tags: [String] }
        let v = try JSONValue(encoding: Thing(name: "n", count: 3, tags: ["a"]))
        #expect(v == ["name": "n", "count": 3, "tags": ["a"]])
        #expect(try v.decode(as: Thing.self) == Thing(name: "n", count: 3, tags: ["a"]))
    }

    @Test("watch lines survive arbitrary chunk boundaries")
    func lineSplitting() throws {
        var stream: [UInt8] = []
        var expected: [WatchEvent] = []
        for i in 0..<50 {
            let e = WatchEvent(type: i % 3 == 0 ? .added : .modified, object: ["metadata": ["name": .string("obj-\(i)-é"), "resourceVersion": .string("\(i)")], "data": ["k": .string(String(repeating: "x", count: i * 7))]])
            expected.append(e)
            stream += JSONWire.serialize(["type": .string(e.type.rawValue), "object": e.object])
            stream.append(0x0A)
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            var splitter = LineSplitter()
            var got: [WatchEvent] = []
            var i = 0
            while i < stream.count {
                let n = Int.random(in: 1...97, using: &rng)
                let chunk = stream[i..<min(stream.count, i + n)]
                for line in splitter.append(chunk) { got.append(try WatchEvent.parse(line: line)) }
                i += n
            }
            #expect(splitter.finish() == nil)
            #expect(got == expected)
        }
        var s = LineSplitter()
        #expect(s.append(Array(#"{"type":"ADDED","object":{}}"#.utf8)).isEmpty, "a chunk without a newline is not a line yet")
        #expect(s.finish() != nil)
    }

    @Test("backoff grows, caps, jitters, and resets after a healthy period")
    func backoff() {
        var b = Backoff(initial: 1, maximum: 8, factor: 2, jitter: 0, resetAfter: 60)
        let delays = (0..<6).map { b.next(now: Double($0)) }
        #expect(delays == [1, 2, 4, 8, 8, 8])
        #expect(b.next(now: 1000) == 1, "a failure long after the last one starts small again")
        var j = Backoff(initial: 1, maximum: 8, factor: 2, jitter: 0.5, resetAfter: 60)
        #expect(j.next(now: 0, random: 0) == 0.5)
        #expect(j.next(now: 1, random: 0.999) > 2.9)
    }

    @Test("RFC 3339 and MicroTime formatting")
    func timestamps() {
        let d = Date(timeIntervalSince1970: 1_700_000_000.123456)
        #expect(Timestamps.format(d) == "2023-11-14T22:13:20Z")
        let micro = Timestamps.formatMicro(d)
        #expect(micro.hasPrefix("2023-11-14T22:13:20.1234"))
        #expect(micro.count == "2023-11-14T22:13:20.123456Z".count)
        #expect(Timestamps.parse("2023-11-14T22:13:20.123456Z") != nil)
    }
}

@Suite("API error classification", .timeLimit(.minutes(3)))
struct APIErrorTests {
    @Test("Status reasons and codes map to typed errors")
    func classification() {
        func kind(_ code: Int, _ reason: String) -> String {
            switch KubeAPIError(status: APIStatus(code: code, reason: reason, message: "m")) {
            case .notFound: return "notFound"
            case .alreadyExists: return "alreadyExists"
            case .conflict: return "conflict"
            case .gone: return "gone"
            case .forbidden: return "forbidden"
            case .unauthorized: return "unauthorized"
            case .invalid: return "invalid"
            case .unsupportedMediaType: return "unsupportedMediaType"
            case .other: return "other"
            }
        }
        #expect(kind(404, "NotFound") == "notFound")
        #expect(kind(409, "AlreadyExists") == "alreadyExists")
        #expect(kind(409, "Conflict") == "conflict")
        #expect(kind(410, "Expired") == "gone")
        #expect(kind(403, "Forbidden") == "forbidden")
        #expect(kind(401, "Unauthorized") == "unauthorized")
        #expect(kind(422, "Invalid") == "invalid")
        #expect(kind(415, "UnsupportedMediaType") == "unsupportedMediaType")
        #expect(kind(500, "InternalError") == "other")
        let body = Array(#"{"kind":"Status","code":422,"reason":"Invalid","message":"bad","details":{"causes":[{"field":"spec.x","message":"must be positive"}]}}"#.utf8)
        let parsed = KubeAPIError(status: APIStatus.from(body: body, httpStatus: 422))
        #expect(parsed.causes.first?.field == "spec.x")
        #expect("\(parsed)".contains("spec.x: must be positive"))
        let plain = APIStatus.from(body: Array("upstream connect error".utf8), httpStatus: 503)
        #expect(plain.code == 503 && plain.message == "upstream connect error")
    }
}

@Suite("RFC 3339 parsing", .timeLimit(.minutes(3)))
struct TimestampParsingTests {
    @Test("offsets, fractions and rejects")
    func parsing() {
        #expect(Timestamps.parse("2026-11-21T10:00:00Z")?.timeIntervalSince1970 == 1_795_255_200)
        #expect(Timestamps.parse("2026-11-21T12:00:00+02:00")?.timeIntervalSince1970 == 1_795_255_200)
        #expect(Timestamps.parse("2026-11-21T10:00:00.5Z")?.timeIntervalSince1970 == 1_795_255_200.5)
        for bad in ["2026-11-21", "2026-13-01T00:00:00Z", "2026-11-21T10:00:00", "yesterday", "2026-11-21T10:00:00Zjunk"] {
            #expect(Timestamps.parse(bad) == nil, "\(bad)")
        }
        #expect(Timestamps.format(Timestamps.parse("2026-01-02T03:04:05Z")!) == "2026-01-02T03:04:05Z")
    }
}

@Suite("Retrying on a dead kept-alive connection", .timeLimit(.minutes(1)))
struct StaleConnectionTests {
    @Test("a closed or reset pooled connection is retried once; a refused connection is not (nobody listens)")
    func classification() {
        #expect(KubeClient.isStalePooledConnection(HTTPClientError.remoteConnectionClosed))
        #expect(KubeClient.isStalePooledConnection(ChannelError.ioOnClosedChannel))
        #expect(KubeClient.isStalePooledConnection(IOError(errnoCode: ECONNRESET, reason: "read")))
        #expect(KubeClient.isStalePooledConnection(IOError(errnoCode: EPIPE, reason: "write")))
        #expect(!KubeClient.isStalePooledConnection(IOError(errnoCode: ECONNREFUSED, reason: "connect")))
        #expect(!KubeClient.isStalePooledConnection(CancellationError()))
    }
}
