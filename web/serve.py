"""Serves the web page (this folder) and the shipped int8 files, on 127.0.0.1.

    cd web && npm ci && cd .. && python web/serve.py        # http://127.0.0.1:8000/

The page's own files come from this folder (LiteRT.js and its WebAssembly
from node_modules/, installed by ``npm ci``); ``/models/index.json`` lists the
shipped int8 files and ``/models/<name>.tflite`` serves each one from
``pinet_keras/pretrained/files/<name>/model_int8.tflite``, without copying it.
Needs only Python's standard library.
"""

import argparse
import http.server
import json
import os
import sys

WEB = os.path.dirname(os.path.abspath(__file__))
PRETRAINED = os.path.join(os.path.dirname(WEB), "pinet_keras", "pretrained", "files")
WASM = os.path.join(WEB, "node_modules", "@litertjs", "core", "wasm")


def model_files():
    """``{name: path}`` of the shipped int8 files."""
    names = sorted(os.listdir(PRETRAINED)) if os.path.isdir(PRETRAINED) else []
    files = {name: os.path.join(PRETRAINED, name, "model_int8.tflite") for name in names}
    return {name: path for name, path in files.items() if os.path.isfile(path)}


class Handler(http.server.SimpleHTTPRequestHandler):
    """This folder's files, plus ``/models/``."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".tflite": "application/octet-stream",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=WEB, **kwargs)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/models/index.json":
            return self.send_bytes(json.dumps(sorted(model_files())).encode(), "application/json")
        if path.startswith("/models/") and path.endswith(".tflite"):
            file = model_files().get(path[len("/models/") : -len(".tflite")])
            if file is None:
                return self.send_error(404, "no such model")
            with open(file, "rb") as f:
                return self.send_bytes(f.read(), "application/octet-stream")
        return super().do_GET()

    def send_bytes(self, body, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)


def make_server(host="127.0.0.1", port=8000, handler=Handler, verbose=False):
    """A threading HTTP server of the page (``port=0``: any free port)."""
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.verbose = verbose
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    args = parser.parse_args(argv)
    if not os.path.isdir(WASM):
        print(f"serve.py: LiteRT.js is not installed; run `npm ci` in {WEB}", file=sys.stderr)
        return 2
    with make_server(args.host, args.port, verbose=True) as server:
        host, port = server.server_address[:2]
        print(f"Serving the page on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
