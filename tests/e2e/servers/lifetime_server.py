#!/usr/bin/python3
"""WebSocket server for the connection-lifetime tests (Debian python3-websockets 10.4).

Usage: lifetime_server.py PORT [--ping SECONDS] [--host HOST]

Paths:
  /echo       echoes every message back until the client closes
  /close1011  the server closes at once with code 1011 (internal error)
  /quiet      never sends anything; waits until the connection ends
  (any other) like /echo

No server pings unless --ping is given (ping_interval=None otherwise), and no
permessage-deflate, so that the frames on the wire are the messages as sent.
Prints "ready" on stdout once listening; runs until SIGTERM/SIGINT or killed.
"""
import argparse
import asyncio
import signal

import websockets


async def handler(ws, path=None):
    path = (path or ws.path).split("?", 1)[0]
    if path == "/close1011":
        await ws.close(code=1011, reason="")
        return
    if path == "/quiet":
        await ws.wait_closed()
        return
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main(args):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    async with websockets.serve(handler, args.host, args.port, ping_interval=args.ping, compression=None,
                                close_timeout=2):
        print("ready", flush=True)
        await stop


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("--ping", type=float, default=None, help="server ping interval in seconds (default: none)")
    p.add_argument("--host", default="127.0.0.1")
    asyncio.run(main(p.parse_args()))
