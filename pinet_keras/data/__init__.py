"""Data: raw-file readers (and, with TensorFlow, input pipelines)."""

from pinet_keras.data.idx import load_idx_dataset
from pinet_keras.data.idx import read_idx

__all__ = ["load_idx_dataset", "read_idx"]
