"""The web page (web/) in a real browser: headless Chromium runs the int8 files on LiteRT.js.

For each shipped file: 100 test images of its data set (uint8 pixels, as a
camera gives them) go through the page's model (web/pinet.js: the file's
metadata read in JavaScript, LiteRT.js on WebAssembly) and through the
LiteRT interpreter in Python (``pinet_keras.export.run_tflite``): the same
top-1 on every image, logits within one quantization step of the output.
The page's own path (``pinetPage.classify``) shows the same top 3, with the
class names of the file's metadata.

What it installs, with the ordinary clients, when missing:

- Chromium: ``apt-get update && apt-get install -y chromium`` (Debian's
  package; as root). Skipped with one line where it cannot be installed.
- LiteRT.js: ``npm ci`` in web/ (``@litertjs/core`` as pinned by
  web/package-lock.json); npm itself with ``apt-get install -y npm`` if absent.

The page is served on 127.0.0.1 (a free port) by web/serve.py in a thread,
the browser listens on 127.0.0.1 only; both are shut down at the end.
"""

import base64
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from litert_images import MODELS
from litert_images import ROOT
from litert_images import load_test_images
from litert_images import model_path

pytestmark = pytest.mark.slow

WEB = os.path.join(ROOT, "web")
IMAGES = 100


def _web_module(name):
    spec = importlib.util.spec_from_file_location(
        f"pinet_web_{name}", os.path.join(WEB, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cdp = _web_module("cdp")
serve = _web_module("serve")


def _apt_install(*packages):
    """``apt-get install -y`` as root where apt-get exists; False otherwise or on failure."""
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
        if result.returncode != 0:
            return False
    return True


def _chromium():
    path = cdp.find_chromium()
    if path is None:
        _apt_install("chromium")
        path = cdp.find_chromium()
    if path is None:
        pytest.skip("Chromium is not installed and cannot be (apt-get install chromium)")
    return path


def _litertjs():
    """Runs ``npm ci`` in web/ unless node_modules holds the pinned @litertjs/core."""
    with open(os.path.join(WEB, "package-lock.json")) as f:
        pinned = json.load(f)["packages"]["node_modules/@litertjs/core"]["version"]
    installed = os.path.join(WEB, "node_modules", "@litertjs", "core", "package.json")
    if os.path.exists(installed):
        with open(installed) as f:
            if json.load(f)["version"] == pinned:
                return
    if not shutil.which("npm"):
        _apt_install("npm")
    npm = shutil.which("npm")
    assert npm, "npm is needed to install LiteRT.js (apt-get install npm)"
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"npm ci failed in web/:\n{result.stderr[-2000:]}"


@pytest.fixture(scope="module")
def page():
    """The page (index.html) loaded in headless Chromium, its first model ready."""
    chromium = _chromium()
    _litertjs()
    server = serve.make_server(port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with cdp.Chromium(chromium) as browser:
            tab = browser.open(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            try:
                tab.wait_for("window.pinetPage !== undefined", timeout=60)
                tab.evaluate("window.pinetPage.ready")
                yield tab
            finally:
                print("\n".join(tab.console[-20:]))
                tab.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _output_step(path):
    """The quantization step of the model's logits: the scale of the int8 tensor dequantized."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    output = interpreter.get_output_details()[0]
    scale = output["quantization"][0]
    if scale:
        return scale
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    for op in interpreter._get_ops_details():
        if output["index"] in list(op["outputs"]) and op["op_name"] == "DEQUANTIZE":
            return tensors[int(op["inputs"][0])]["quantization"][0]
    raise AssertionError("the model's output is neither quantized nor dequantized from int8")


BROWSER_LOGITS = """(async () => {
  await window.pinetPage.selectModel(%(name)s);
  const model = window.pinetPage.model;
  const bytes = Uint8Array.from(atob(%(pixels)s), (c) => c.charCodeAt(0));
  const size = model.shape.reduce((a, b) => a * b, 1);
  const logits = [], ms = [];
  for (let i = 0; i * size < bytes.length; i++) {
    const start = performance.now();
    logits.push(Array.from(await model.logits(bytes.subarray(i * size, (i + 1) * size))));
    ms.push(performance.now() - start);
  }
  const first = await window.pinetPage.classify(bytes.subarray(0, size));
  const shown = [...document.querySelectorAll("#results td.name")].map((td) => td.textContent);
  return {logits, ms, first: first.map((p) => p.name), shown, names: model.classNames};
})()"""


@pytest.mark.parametrize("name", sorted(MODELS))
def test_browser_agrees_with_litert_interpreter(page, name):
    from pinet_keras.export import read_tflite_metadata
    from pinet_keras.export import run_tflite

    pixels, _ = load_test_images(MODELS[name], IMAGES)
    assert pixels.shape[0] == IMAGES and pixels.dtype == np.uint8
    expected = run_tflite(model_path(name), pixels)
    step = _output_step(model_path(name))
    class_names = read_tflite_metadata(model_path(name))["class_names"]

    encoded = base64.b64encode(pixels.tobytes()).decode()
    result = page.evaluate(
        BROWSER_LOGITS % {"name": json.dumps(name), "pixels": json.dumps(encoded)}
    )
    logits = np.array(result["logits"], dtype=np.float32)
    assert logits.shape == expected.shape

    difference = np.abs(logits - expected)
    largest = float(difference.max())
    agree = int(np.sum(logits.argmax(-1) == expected.argmax(-1)))
    print(
        f"\n{name}: top-1 identical on {agree}/{IMAGES} images; largest logit difference "
        f"{largest:.6g} ({largest / step:.3g} quantization steps of {step:.6g}); "
        f"{np.median(result['ms']):.2f} ms per image (median) in the browser",
        file=sys.stderr,
    )
    np.testing.assert_array_equal(logits.argmax(-1), expected.argmax(-1))
    assert largest <= step * (1 + 1e-5)
    # The page's own path: metadata class names, the same top 3 shown.
    assert result["names"] == class_names
    top3 = [class_names[i] for i in np.argsort(-expected[0], kind="stable")[:3]]
    assert result["first"][0] == top3[0] and result["shown"][0] == top3[0]
    assert sorted(result["shown"]) == sorted(result["first"]) and len(result["shown"]) == 3
