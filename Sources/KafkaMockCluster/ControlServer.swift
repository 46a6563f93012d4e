#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import Synchronization

/// The mock cluster's fault-injection control surface: a TCP line protocol on 127.0.0.1.
///
/// Each line a client sends is one command (see ``MockClusterCommand``); the server answers each
/// with exactly one line, `ok ...` or `error: REASON`. Blank lines are ignored. Several clients may
/// be connected at once; commands run in the order they arrive on each connection.
///
/// All socket I/O blocks, so it runs on plain threads of its own (one accepting, one per client),
/// never on Swift's cooperative pool.
package final class MockClusterControlServer: Sendable {
    /// The address the server listens on (always loopback).
    package let host: String
    /// The port the server listens on (the system's choice when 0 was asked for).
    package let port: UInt16

    private let listener: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let handler: @Sendable (String) -> String
    private let threads = DispatchGroup()

    private struct State {
        var started = false
        var stopped = false
        var listenerOpen = true
        var clients: Set<Int32> = []
    }

    private let state = Mutex(State())

    /// Longest line accepted; a longer one gets an error and the connection is closed.
    private static let maximumLineLength = 64 * 1024

    /// Binds and listens on 127.0.0.1:`port` (0: any free port). Call ``start()`` to serve.
    ///
    /// - Parameter handler: turns one command line into one reply line; called on the server's
    ///   threads, possibly concurrently for different clients.
    package init(port: UInt16, handler: @escaping @Sendable (String) -> String) throws(ControlServerError) {
        self.host = "127.0.0.1"
        self.handler = handler

        let socketType: Int32
        #if canImport(Glibc)
        socketType = Int32(SOCK_STREAM.rawValue)
        #else
        socketType = SOCK_STREAM
        #endif
        let listener = socket(AF_INET, socketType, 0)
        guard listener >= 0 else {
            throw ControlServerError("could not create the control socket: \(Self.errnoText())")
        }
        var yes: Int32 = 1
        _ = setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))

        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(listener, socketAddress, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let reason = Self.errnoText()
            close(listener)
            throw ControlServerError(
                "could not listen on 127.0.0.1:\(port) for the control protocol: \(reason). "
                    + "Is another auditpipe-dev-kafka running? Stop it (Deploy/dev/down) or pass --control-port"
            )
        }
        guard listen(listener, 16) == 0 else {
            let reason = Self.errnoText()
            close(listener)
            throw ControlServerError("could not listen on the control socket: \(reason)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.port = UInt16(bigEndian: actual.sin_port)

        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            let reason = Self.errnoText()
            close(listener)
            throw ControlServerError("could not create the control server's wake-up pipe: \(reason)")
        }
        self.listener = listener
        self.wakeRead = pipeEnds[0]
        self.wakeWrite = pipeEnds[1]
    }

    deinit {
        self.stop()
        self.closeListener()
        close(self.wakeRead)
        close(self.wakeWrite)
    }

    /// Starts accepting clients on a thread of its own. Calling it again does nothing.
    package func start() {
        let shouldStart = self.state.withLock { state in
            guard !state.started, !state.stopped else { return false }
            state.started = true
            return true
        }
        guard shouldStart else { return }
        self.threads.enter()
        let thread = Thread { [self] in
            self.acceptLoop()
            self.threads.leave()
        }
        thread.name = "dev-kafka-control-accept"
        thread.start()
    }

    /// Stops accepting, disconnects every client and waits (up to 3 s) for the server's threads.
    /// Idempotent.
    package func stop() {
        let first = self.state.withLock { state in
            guard !state.stopped else { return false }
            state.stopped = true
            // Shut the client sockets down while holding the lock: a client thread closes its
            // descriptor only after removing it under this lock, so none of these numbers can
            // have been reused for another file. shutdown() does not block.
            for client in state.clients {
                _ = shutdown(client, Int32(SHUT_RDWR))
            }
            return true
        }
        guard first else { return }
        var byte: UInt8 = 1
        _ = write(self.wakeWrite, &byte, 1)
        _ = self.threads.wait(timeout: .now() + .seconds(3))
        // The accept thread closes the listener when it ends; without one, close it here.
        if !self.state.withLock({ $0.started }) {
            self.closeListener()
        }
    }

    /// Closes the listening socket once, so that new connections are refused.
    private func closeListener() {
        let shouldClose = self.state.withLock { state in
            defer { state.listenerOpen = false }
            return state.listenerOpen
        }
        if shouldClose {
            close(self.listener)
        }
    }

    // MARK: Threads

    private func acceptLoop() {
        defer { self.closeListener() }
        while true {
            var descriptors = [
                pollfd(fd: self.listener, events: Int16(POLLIN), revents: 0),
                pollfd(fd: self.wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&descriptors, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if descriptors[1].revents != 0 { return }
            guard descriptors[0].revents & Int16(POLLIN) != 0 else { continue }
            let client = accept(self.listener, nil, nil)
            guard client >= 0 else { continue }
            let accepted = self.state.withLock { state in
                guard !state.stopped else { return false }
                state.clients.insert(client)
                return true
            }
            guard accepted else {
                close(client)
                return
            }
            self.threads.enter()
            let thread = Thread { [self] in
                self.serve(client)
                self.threads.leave()
            }
            thread.name = "dev-kafka-control-client"
            thread.start()
        }
    }

    private func serve(_ client: Int32) {
        defer {
            self.state.withLock { state in
                state.clients.remove(client)
                close(client)
            }
        }
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            pending.append(contentsOf: chunk[0 ..< count])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
                if trimmed.isEmpty { continue }
                let reply = self.handler(trimmed)
                    .replacingOccurrences(of: "\r", with: " ")
                    .replacingOccurrences(of: "\n", with: " ")
                guard Self.sendAll(client, reply + "\n") else { return }
            }
            if pending.count > Self.maximumLineLength {
                _ = Self.sendAll(client, "error: line longer than \(Self.maximumLineLength) bytes\n")
                return
            }
        }
    }

    private static func sendAll(_ socket: Int32, _ text: String) -> Bool {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeMutableBytes { buffer in
                send(socket, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0, errno == EINTR { continue }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}

/// The control server could not start.
package struct ControlServerError: Error, CustomStringConvertible, Sendable {
    /// What failed and what to do.
    package var message: String

    /// Creates an error with `message`.
    package init(_ message: String) {
        self.message = message
    }

    /// The message.
    package var description: String { self.message }
}
