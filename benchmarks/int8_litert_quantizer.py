"""litert-quantizer (the LiteRT post-training quantizer) against pinet_keras' int8 export.

Not a dependency of the package: install it beside it to run this (it does
not change TensorFlow or ai-edge-litert), e.g.

    pip install --target /tmp/lq litert-quantizer==0.11.0 litert-lm-builder tomli --no-deps
    PYTHONPATH=/tmp/lq python benchmarks/int8_litert_quantizer.py \
        runs/cifar10_pi_resnet_small cifar10 ../shared/data/cifar10 [max_test] [out.json]

On the run's test split (unbounded files, 200 representative training
images, seed 0): pinet_keras' int8 file (folded, percentile ranges), and
litert-quantizer's static int8 recipe (``static_wi8_ai8``) on the folded and
on the unfolded float model, with its own min/max ranges and with the same
percentile ranges handed to its public ``quantize(calibration_result=...)``.
Results of 2026-11-27: benchmarks/results/int8_litert_quantizer.json.
"""

import json
import sys
import time
import warnings

import keras
import numpy as np
from litert_quantizer import quantizer as lq
from litert_quantizer import recipe

from pinet_keras import _io
from pinet_keras.data import load_arrays
from pinet_keras.export import TFLiteRunner
from pinet_keras.export import convert_to_tflite
from pinet_keras.export import fold_polynomial_layers
from pinet_keras.export.runtime import interpreter_class
from pinet_keras.export.tflite import prepare_model

run, dataset, data_dir = sys.argv[1], sys.argv[2], sys.argv[3]
ntest = int(sys.argv[4]) if len(sys.argv) > 4 else 10000
model = keras.saving.load_model(f"{run}/model.keras")
(x_train, _), (x_test, y_test) = load_arrays(dataset, data_dir=data_dir)
rng = np.random.default_rng(0)
rep = x_train[np.sort(rng.choice(len(x_train), 200, replace=False))].astype("float32")
x_test, y_test = x_test[:ntest].astype("float32"), y_test[:ntest]
ref = model.predict(x_test, batch_size=256, verbose=0)
out = {"keras_accuracy": float((ref.argmax(-1) == y_test).mean())}


def score(content, name):
    logits = TFLiteRunner(content).predict(x_test, batch_size=64)
    out[name] = {
        "accuracy": float((logits.argmax(-1) == y_test).mean()),
        "top1_agreement": float((logits.argmax(-1) == ref.argmax(-1)).mean()),
        "max_abs_diff": float(np.abs(logits - ref).max()),
        "size_bytes": len(content),
    }
    print(name, out[name], flush=True)


t = time.time()
score(convert_to_tflite(model, "int8", representative_data=rep), "pinet_keras_int8_percentile")
folded = fold_polynomial_layers(prepare_model(model), rep)
float_model = convert_to_tflite(folded, "float32", fold=False)
for fold_name, fm in (
    ("folded", float_model),
    ("unfolded", convert_to_tflite(model, "float32", fold=False)),
):
    q = lq.Quantizer(fm, recipe.static_wi8_ai8())
    sig = list(TFLiteRunner(fm).interpreter.get_signature_list())[0]
    inp = TFLiteRunner(fm).interpreter.get_signature_runner(sig).get_input_details()
    key = list(inp)[0]
    calib = q.calibrate({sig: [{key: image[None]} for image in rep]})
    score(
        bytes(q.quantize(calib, enable_progress_report=False).quantized_model),
        f"litert_quantizer_minmax_{fold_name}",
    )
    if fold_name != "folded":
        continue
    # The same calibration, each activation range narrowed to the 0.01/99.99 percentiles
    # (the ranges handed back through the public `calibration_result`).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = interpreter_class()[0](model_content=bytes(fm), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    names = {d["name"]: d["index"] for d in it.get_tensor_details()}
    inputs = {d["index"] for d in it.get_input_details()}
    todo = {
        n: i
        for n, i in names.items()
        if n in calib
        and i not in inputs
        and set(calib[n]) >= {"min", "max"}
        and np.size(calib[n]["min"]) == 1
    }
    samples = {n: [] for n in todo}
    for image in rep:
        it.set_tensor(it.get_input_details()[0]["index"], image[None])
        it.invoke()
        for n, i in todo.items():
            v = it.get_tensor(i).ravel()
            if v.size > 8192:
                v = v[rng.integers(0, v.size, 8192)]
            samples[n].append(np.array(v, "float32"))
    pct = dict(calib)
    for n in todo:
        lo, hi = np.percentile(np.concatenate(samples[n]), [0.01, 99.99])
        pct[n] = {
            **calib[n],
            "min": np.full_like(calib[n]["min"], min(lo, 0.0)),
            "max": np.full_like(calib[n]["max"], max(hi, 0.0)),
        }
    print("percentile tensors:", len(todo), "of", len(calib), flush=True)
    score(
        bytes(q.quantize(pct, enable_progress_report=False).quantized_model),
        "litert_quantizer_percentile_folded",
    )
out["seconds"] = round(time.time() - t)
print(json.dumps(out))
if len(sys.argv) > 5:
    _io.write_json(sys.argv[5], out, overwrite=True)
