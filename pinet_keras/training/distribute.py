"""Multi-device training by name: `tf.distribute` strategies, and Keras' `DataParallel` on JAX."""

import contextlib
import json
import os

from pinet_keras import _optional

STRATEGIES = ("default", "mirrored", "multi_worker", "data_parallel")


def split_cpu(num_devices):
    """Splits the CPU into ``num_devices`` logical devices.

    Must run before TensorFlow initializes its devices; lets
    ``MirroredStrategy`` be exercised on a machine without GPUs.
    """
    tf = _optional.tensorflow("split_cpu")
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
    )


_TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
)


def _tf_config():
    """The ``TF_CONFIG`` environment variable, parsed; `ValueError` saying what is wrong with it."""
    text = os.environ["TF_CONFIG"]
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"The TF_CONFIG environment variable is not valid JSON ({error}): {text[:80]!r}; "
            f"set it to e.g. {_TF_CONFIG_EXAMPLE}"
        ) from None
    if not isinstance(config, dict):
        raise ValueError(
            f"The TF_CONFIG environment variable must hold a JSON object, e.g. {_TF_CONFIG_EXAMPLE}"
        )
    return config


def data_parallel():
    """Sets `keras.distribution.DataParallel` over all devices and returns a `NoStrategy`.

    On the JAX backend only (Keras' distribution API has no other backend);
    on a machine with one device it changes nothing. Test it on a CPU by
    splitting it: ``XLA_FLAGS=--xla_force_host_platform_device_count=2``.
    """
    import keras

    if keras.backend.backend() != "jax":
        raise ValueError(
            "--strategy=data_parallel is Keras' distribution API, which needs the JAX backend "
            f"(KERAS_BACKEND=jax); the backend is {keras.backend.backend()!r}. On TensorFlow "
            "use --strategy=mirrored."
        )
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return NoStrategy()


class NoStrategy:
    """Stands in for TensorFlow's default strategy where TensorFlow is not installed."""

    def scope(self):
        return contextlib.nullcontext()


def get_strategy(name="default"):
    """Returns ``(strategy, is_chief)``.

    ``"default"``: TensorFlow's default strategy, or a `NoStrategy` (whose
    ``scope()`` does nothing) without TensorFlow. ``"mirrored"``:
    `tf.distribute.MirroredStrategy` over the local devices (GPUs, or
    logical CPUs from `split_cpu`). ``"data_parallel"``: Keras' own
    distribution API, `keras.distribution.DataParallel` over every local
    device (JAX backend only; set globally, the returned strategy is a
    `NoStrategy`): each batch is split across the devices, the variables
    are replicated. ``"multi_worker"``:
    `tf.distribute.MultiWorkerMirroredStrategy`, configured by the
    ``TF_CONFIG`` environment variable; the chief is worker 0 (or the task
    of type ``chief``). Both need TensorFlow.

    Example:

    >>> strategy, is_chief = get_strategy("default")
    >>> with strategy.scope():
    ...     pass
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}. Available: {', '.join(STRATEGIES)}.")
    if name == "data_parallel":
        return data_parallel(), True
    if name == "default" and not _optional.available("tensorflow"):
        return NoStrategy(), True
    tf = _optional.tensorflow(f"strategy={name!r}", "train with strategy='default'")
    if name == "default":
        return tf.distribute.get_strategy(), True
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(), True
    if "TF_CONFIG" not in os.environ:
        raise ValueError(
            "--strategy=multi_worker needs the TF_CONFIG environment variable, "
            f"e.g. {_TF_CONFIG_EXAMPLE}"
        )
    task = _tf_config().get("task", {})
    if not isinstance(task, dict):
        raise ValueError(
            f"TF_CONFIG's task must be an object, e.g. {_TF_CONFIG_EXAMPLE}. Received: {task!r}"
        )
    is_chief = task.get("type") == "chief" or (
        task.get("type") == "worker" and task.get("index", 0) == 0
    )
    return tf.distribute.MultiWorkerMirroredStrategy(), is_chief
