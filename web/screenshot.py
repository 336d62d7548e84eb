"""Writes web/screenshot.png: the page in headless Chromium, with the example digit classified.

python web/screenshot.py        # needs `npm ci` in web/ and Chromium
"""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cdp import Chromium  # noqa: E402
from serve import WEB  # noqa: E402
from serve import make_server  # noqa: E402


def main():
    server = make_server(port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with Chromium(width=820, height=470) as browser:
            page = browser.open(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            page.set_viewport(820, 470)
            page.wait_for("window.pinetPage !== undefined")
            page.evaluate("window.pinetPage.ready")
            for _ in range(5):  # warm, then the time of a warm prediction
                page.evaluate("document.getElementById('example').click()")
            page.evaluate("new Promise((done) => setTimeout(done, 300))")
            output = os.path.join(WEB, "screenshot.png")
            page.screenshot(output)
            print(f"wrote {output}")
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
