#!/usr/bin/python3
"""A threaded TCP server for the attribution and timing tests: one thread
per connection, which reads, answers and closes, and says who it is.

Usage: attribution_server.py PORT MODE
  answer    read a request head, answer 400 with a short body, read the next
  silent    read a request head and never answer; close when the client does
  deferred  read two pipelined request heads; answer the first with a 400
            whose body is far larger than the client's receive window, then
            queue the answer to the second behind it and leave the socket
            alone for 3 s: the second answer can only leave from softirq, when
            the client's window updates arrive, not from this thread
  slow      pace the socket at PACED_RATE bytes a second (SO_MAX_PACING_RATE);
            read each request head, wait DELAY s, answer 400 with a body of
            PACED_BODY bytes: past its first ten segments a paced socket
            stamps each segment with when it is due to leave, later than when
            it was written
Prints "ready" once listening on 127.0.0.1:PORT, and "thread TID" (the
kernel's id of the thread serving it) for each connection; runs until killed.
"""
import socket
import sys
import threading
import time

MODES = ("answer", "silent", "deferred", "slow")
DELAY = 0.2
PACED_RATE = 2000
PACED_BODY = 1000
SO_MAX_PACING_RATE = getattr(socket, "SO_MAX_PACING_RATE", 47)
BIG_BODY = 256 * 1024
SHORT = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nno\n"
PACED = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (
    PACED_BODY, b"n" * PACED_BODY)
BIG = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % BIG_BODY
MSG_EOR = getattr(socket, "MSG_EOR", 0x80)
lock = threading.Lock()


def say(text):
    with lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def read_heads(conn, want):
    data = b""
    while data.count(b"\r\n\r\n") < want and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data


def serve(conn, mode):
    say("thread %d" % threading.get_native_id())
    try:
        conn.settimeout(30)
        if mode == "answer":
            while read_heads(conn, 1):
                conn.sendall(SHORT)
        elif mode == "slow":
            conn.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, PACED_RATE)
            while read_heads(conn, 1):
                time.sleep(DELAY)
                conn.sendall(PACED)
        elif mode == "silent":
            if read_heads(conn, 1):
                while conn.recv(4096):
                    pass
        elif mode == "deferred":
            if read_heads(conn, 2):
                # MSG_EOR: the second answer starts a segment of its own
                # (TCP does not append later writes to this one's buffers).
                conn.sendall(BIG + b"x" * BIG_BODY, MSG_EOR)
                conn.sendall(SHORT)
                time.sleep(3)
                while conn.recv(4096):
                    pass
    except OSError:
        pass
    finally:
        conn.close()


def main(port, mode):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Room for both answers at once: sendall() returns with them queued.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    say("ready")
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, mode), daemon=True).start()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in MODES:
        sys.exit("usage: attribution_server.py PORT " + "|".join(MODES))
    main(int(sys.argv[1]), sys.argv[2])
