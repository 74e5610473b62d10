#!/usr/bin/python3
"""Echo server on Python websockets (Debian python3-websockets 10.4).

Usage: py_ws_server.py PORT [HOST]
Prints "ready" on stdout once listening on HOST:PORT (default 127.0.0.1);
runs until killed.
"""
import asyncio
import signal
import sys

import websockets


async def echo(websocket, path=None):
    async for message in websocket:
        await websocket.send(message)


async def main(port, host):
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with websockets.serve(echo, host, port):
        print("ready", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"))
