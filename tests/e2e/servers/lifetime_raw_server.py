#!/usr/bin/python3
"""A raw WebSocket server that writes the 101 answer and a Close frame in one
send(), so that both leave in one TCP segment (what a server that refuses a
client right after the upgrade, e.g. on a bad token, can put on the wire).

Usage: lifetime_raw_server.py PORT
Any path: 101, then Close 1008 in the same write; the server then waits for
the client's Close (or EOF, at most 3 s) and closes the connection.
Prints "ready" on stdout once listening on 127.0.0.1:PORT; runs until killed.
"""
import asyncio
import base64
import hashlib
import socket
import struct
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLOSE_CODE = 1008


async def handle(reader, writer):
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        key = b""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        answer = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        writer.write(answer + b"\x88\x02" + struct.pack("!H", CLOSE_CODE))
        await writer.drain()
        try:
            await asyncio.wait_for(reader.read(64), 3)  # the client's Close, or EOF
        except asyncio.TimeoutError:
            pass
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    for s in server.sockets:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
