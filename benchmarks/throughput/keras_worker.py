"""The Keras side: pinet_keras's PolyNet (``keras``) and a one-branch ReLU CNN (``relu_cnn``)."""

import os
import time

from throughput.common import IMAGE_SHAPE
from throughput.common import NUM_CLASSES
from throughput.common import peak_rss_mb
from throughput.common import record_epochs
from throughput.common import rss_mb
from throughput.common import synthetic_data
from throughput.common import time_calls
from throughput.roofline import gemm_gflops
from throughput.roofline import gemm_size
from throughput.roofline import keras_layer_flops

# The ReLU CNN: the PolyNet's rows (filters, kernel, stride, padding), one branch.
RELU_CNN_BLOCKS = (
    (16, 3, 1, "same"),
    (32, 4, 2, "same"),
    (64, 4, 2, "same"),
    (128, 2, 1, "valid"),
    (256, 4, 2, "same"),
)


def relu_cnn(keras):
    model = keras.Sequential(name="relu_cnn")
    model.add(keras.Input(IMAGE_SHAPE))
    for i, (filters, kernel, stride, padding) in enumerate(RELU_CNN_BLOCKS, start=1):
        model.add(
            keras.layers.Conv2D(
                filters,
                kernel,
                strides=stride,
                padding=padding,
                activation="relu",
                name=f"block{i}",
            )
        )
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(NUM_CLASSES, name="logits"))
    return model


def device(keras):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        if d.platform != "cpu":
            return {"type": "gpu", "name": getattr(d, "device_kind", str(d)), "index": 0}
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return {"type": "gpu", "name": details.get("device_name", gpus[0].name), "index": 0}
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return {"type": "gpu", "name": torch.cuda.get_device_name(0), "index": 0}
    return {"type": "cpu"}


def peak_device_mem_mb(keras, dev):
    if dev["type"] != "gpu":
        return None
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            peak = (jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use")
        elif backend == "tensorflow":
            import tensorflow as tf

            peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
        else:
            import torch

            peak = torch.cuda.max_memory_allocated()
    except Exception:  # noqa: BLE001 - a statistic, never a failure
        return None
    return None if peak is None else peak / 2**20


def gemm_peak(keras, dtype, on_gpu):
    """GFLOP/s of one large matrix product in the backend, at ``dtype``."""
    ops = keras.ops
    size = gemm_size(on_gpu)
    a = ops.cast(keras.random.uniform((size, size), seed=1), dtype)
    b = ops.cast(keras.random.uniform((size, size), seed=2), dtype)
    # Copying one element to the host waits for asynchronous devices (as
    # float32: TensorFlow gives no NumPy scalar of a bfloat16 tensor).
    return gemm_gflops(
        lambda: ops.convert_to_numpy(ops.cast(ops.matmul(a, b)[0, 0], "float32")),
        size,
        20 if on_gpu else 5,
    )


def run(args):
    result = {}
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    import keras

    result["backend"] = keras.backend.backend()
    result["rss_after_import_mb"] = rss_mb()
    if args._precision == "bf16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    keras.utils.set_random_seed(args.seed)
    if args._worker == "relu_cnn":
        model = relu_cnn(keras)
    else:
        import pinet_keras

        model = pinet_keras.PolyNet(input_shape=IMAGE_SHAPE, num_classes=NUM_CLASSES)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"] if args.metrics else None,
        steps_per_execution=args.steps_per_execution,
        jit_compile={"auto": "auto", "true": True, "false": False}[args.jit_compile],
    )
    result["params"] = int(model.count_params())
    result["jit_compile"] = bool(getattr(model, "jit_compile", False))
    result["training_flops_layers"] = keras_layer_flops(model)
    dev = device(keras)
    result["device"] = dev
    x, y = synthetic_data(args.seed, args.steps * args.batch_size)

    epoch_times, epoch_cpu = [], []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            # Wait for the device (JAX and GPUs dispatch asynchronously): the
            # loss and the last weight depend on every step of the epoch.
            if logs and "loss" in logs:
                float(logs["loss"])
            keras.ops.convert_to_numpy(model.trainable_variables[-1])
            epoch_times.append(time.perf_counter() - self.start)
            epoch_cpu.append(time.process_time() - self.cpu)

    history = model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=1 + args.repeats,
        steps_per_epoch=args.steps,
        verbose=0,
        callbacks=[EpochTimer()],
    )
    result["final_loss"] = float(history.history["loss"][-1])
    record_epochs(result, args.steps, epoch_times, epoch_cpu)
    result["peak_device_mem_mb_train"] = peak_device_mem_mb(keras, dev)

    x1, _ = synthetic_data(args.seed, 1)
    x256, _ = synthetic_data(args.seed, 256)
    result["latency_b1_ms"] = time_calls(
        lambda: model.predict_on_batch(x1), args.latency_calls, args.repeats
    )
    result["latency_b256_ms"] = time_calls(
        lambda: model.predict_on_batch(x256), max(3, args.latency_calls // 5), args.repeats
    )
    result["peak_rss_mb"] = peak_rss_mb()
    result["peak_device_mem_mb"] = peak_device_mem_mb(keras, dev)
    if args.gemm_peak:
        dtype = "bfloat16" if args._precision == "bf16" else "float32"
        result["gemm_gflops"] = gemm_peak(keras, dtype, dev["type"] == "gpu")
    return result
