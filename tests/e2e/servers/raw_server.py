#!/usr/bin/python3
"""A misbehaving TCP server for the e2e tests (one thread: asyncio).

Usage: raw_server.py PORT MODE
  close   read the request head, then close without answering
  silent  read the request head and never answer; close when the client does
          (or after 30 s)
  echo    answer 200 with the request head as it arrived as the body, then
          close (shows what a proxy forwarded)
  badaccept  answer 101 with a Sec-WebSocket-Accept that does not match the key
  noaccept   answer 101 without Sec-WebSocket-Accept
Prints "ready" on stdout once listening on 127.0.0.1:PORT; runs until killed.
"""
import asyncio
import signal
import sys

MODES = ("close", "silent", "echo", "badaccept", "noaccept")
WRONG_ACCEPT = b"AAAAAAAAAAAAAAAAAAAAAAAAAAA="


async def read_head(reader):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = await reader.read(4096)
        if not chunk:
            break
        data += chunk
    return data


def handler(mode):
    async def serve(reader, writer):
        try:
            head = await asyncio.wait_for(read_head(reader), 30)
            if mode == "echo":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(head) + head)
                await writer.drain()
            elif mode in ("badaccept", "noaccept"):
                accept = b"Sec-WebSocket-Accept: " + WRONG_ACCEPT + b"\r\n" if mode == "badaccept" else b""
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             + accept + b"\r\n")
                await writer.drain()
                await asyncio.sleep(0.2)
            elif mode == "silent":
                async def drain_until_eof():
                    while await reader.read(4096):
                        pass
                await asyncio.wait_for(drain_until_eof(), 30)
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()
    return serve


async def main(port, mode):
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    server = await asyncio.start_server(handler(mode), "127.0.0.1", port)
    async with server:
        print("ready", flush=True)
        await stop


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in MODES:
        sys.exit("usage: raw_server.py PORT " + "|".join(MODES))
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
