"""A loopback stand-in for the Unleash client API, run as its own process by a worker.

    python payload_server.py PAYLOAD.json [PAYLOAD.json ...]

Prints its port on the first line of stdout, then serves until stdin closes. Every
``GET .../client/features`` answers 200 with the next payload file in turn (no ETag, so every
poll is a full refresh that changes the flags); ``POST``s (registration, metrics) answer 202;
``GET /served`` answers how many feature payloads were served. Standard library only: it
runs with whichever SDK environment's Python started it, and never in the measured process.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve(paths: list[str]) -> None:
    bodies = [Path(path).read_bytes() for path in paths]
    served = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.split("?")[0].endswith("/client/features"):
                with lock:
                    body = bodies[served[0] % len(bodies)]
                    served[0] += 1
                self._send(200, body)
            elif self.path == "/served":
                self._send(200, str(served[0]).encode())
            else:
                self._send(404, b"{}")

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send(202, b"")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # until the worker closes our stdin (or exits)
    server.shutdown()


if __name__ == "__main__":
    serve(sys.argv[1:])
