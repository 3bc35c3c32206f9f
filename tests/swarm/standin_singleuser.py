#!/usr/bin/env python3
"""Stand-in for jupyterhub-singleuser in the swarm tier: listens where the hub says
(JUPYTERHUB_SERVICE_URL) and answers every request with JSON naming the user, the device the
engine gave the container (NVIDIA_VISIBLE_DEVICES) and whether the work folder holds the
marker file a test wrote; PUT writes that marker. Arguments (the hub's "singleuser") are ignored."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

MARKER = Path("/home/jovyan/work/marker.txt")


class Handler(BaseHTTPRequestHandler):
    def _answer(self):
        body = json.dumps({
            "user": os.environ.get("JUPYTERHUB_USER", ""),
            "nvidia_visible_devices": os.environ.get("NVIDIA_VISIBLE_DEVICES", ""),
            "workshop_gpu": os.environ.get("WORKSHOP_GPU", ""),
            "marker": MARKER.read_text() if MARKER.exists() else None,
            "shm_bytes": os.statvfs("/dev/shm").f_blocks * os.statvfs("/dev/shm").f_frsize,
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._answer()

    def do_PUT(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        MARKER.write_text(self.rfile.read(length).decode())
        self._answer()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://0.0.0.0:8888"))
    ThreadingHTTPServer((url.hostname or "0.0.0.0", url.port or 8888), Handler).serve_forever()
