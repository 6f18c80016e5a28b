import ArgumentParser
import Logging
import SharedLBWebhook

/// `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces).
struct ListenAddress: ExpressibleByArgument, CustomStringConvertible {
    var host: String
    var port: Int

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = Int(argument[argument.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(argument[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }

    var description: String { host.contains(Character(":")) ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static var defaultValueDescription: String { "HOST:PORT" }
}

/// swift-log's levels, as a flag value.
enum LogLevel: String, ExpressibleByArgument, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}

struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: LogLevel = .info

    /// Logs go to standard error, one line per event, with swift-log metadata.
    func bootstrap(label: String) -> Logger {
        Self.bootstrap(level: logLevel.level, label: label)
    }

    static func bootstrap(level: Logger.Level, label: String) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = DeferredMetadataLogHandler(wrapping: StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

/// Parses durations such as `5s`, `500ms`, `2m` or a bare number of seconds.
struct DurationArgument: ExpressibleByArgument, CustomStringConvertible {
    var duration: Duration
    var text: String

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = argument
        var scale = 1.0
        for (suffix, factor) in units where argument.hasSuffix(suffix) {
            number = String(argument.dropLast(suffix.count))
            scale = factor
            break
        }
        guard let value = Double(number), value >= 0, value.isFinite else { return nil }
        duration = .milliseconds(Int64(value * scale * 1000))
        text = argument
    }

    init(_ text: String) {
        self.init(argument: text)!
    }

    var description: String { text }
}
