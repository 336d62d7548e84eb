"""`tf.distribute` strategies by name (TensorFlow backend)."""

import contextlib
import json
import os

from pinet_keras import _optional

STRATEGIES = ("default", "mirrored", "multi_worker")


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


class NoStrategy:
    """Stands in for TensorFlow's default strategy where TensorFlow is not installed."""

    def scope(self):
        return contextlib.nullcontext()


def get_strategy(name="default"):
    """Returns ``(strategy, is_chief)``.

    ``"default"``: TensorFlow's default strategy, or a `NoStrategy` (whose
    ``scope()`` does nothing) without TensorFlow. ``"mirrored"``:
    `tf.distribute.MirroredStrategy` over the local devices (GPUs, or
    logical CPUs from `split_cpu`). ``"multi_worker"``:
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
