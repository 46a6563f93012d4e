"""A TCP proxy for tests: forwards 127.0.0.1:<random port> to 127.0.0.1:<target port>.

Prints its port on the first line, then reads commands on stdin, one per line, answering "ok":
  down  close the listening socket and cut every open connection (clients see refused/reset)
  up    listen again on the same port
"""
import asyncio
import sys


async def main() -> None:
    target = int(sys.argv[1])
    connections: set = set()
    state = {"server": None, "port": 0}

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()

    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        connections.update((writer, up_writer))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        connections.discard(writer)
        connections.discard(up_writer)

    async def listen():
        server = await asyncio.start_server(handle, "127.0.0.1", state["port"], reuse_address=True)
        state["server"] = server
        state["port"] = server.sockets[0].getsockname()[1]

    await listen()
    print(state["port"], flush=True)
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while line := await commands.readline():
        command = line.decode().strip()
        if command == "down" and state["server"] is not None:
            state["server"].close()
            for connection in list(connections):
                connection.transport.abort()
            connections.clear()
            await state["server"].wait_closed()
            state["server"] = None
        elif command == "up" and state["server"] is None:
            await listen()
        print("ok", flush=True)


asyncio.run(main())
