"""Reader for the IDX files of MNIST and Fashion-MNIST (plain or gzip)."""

import gzip
import os

import numpy as np

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Reads an IDX file (``.gz`` or not) into a NumPy array.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming
    the file for a wrong magic number or a truncated file.

    Example:

    >>> images = read_idx("train-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> images.shape  # doctest: +SKIP
    (60000, 28, 28)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IDX file not found: {path}")
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:  # truncated or corrupt gzip stream
        raise ValueError(f"Cannot read IDX file {path}: {error}") from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path} is not an IDX file: wrong magic number {data[:4].hex() or '(empty)'} "
            "(expected 0x0000 followed by a type code and the number of dimensions)."
        )
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated: its header is incomplete.")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"{path} is truncated or padded: {len(data)} bytes where its header "
            f"(shape {shape}) needs {expected}."
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def load_idx_dataset(folder):
    """Loads the four IDX files of MNIST / Fashion-MNIST from ``folder``.

    Returns ``((x_train, y_train), (x_test, y_test))`` as uint8 arrays, images
    of shape ``(n, 28, 28)``. Raises an error naming the folder or file that
    is missing or inconsistent.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Data folder not found: {folder}")
    splits = []
    for prefix in ("train", "t10k"):
        arrays = []
        for kind, ndim in (("images-idx3-ubyte", 3), ("labels-idx1-ubyte", 1)):
            candidates = [os.path.join(folder, f"{prefix}-{kind}{ext}") for ext in (".gz", "")]
            path = next((p for p in candidates if os.path.isfile(p)), None)
            if path is None:
                raise FileNotFoundError(
                    f"Missing IDX file in {folder}: expected {os.path.basename(candidates[0])} "
                    f"(or {os.path.basename(candidates[1])})."
                )
            array = read_idx(path)
            if array.ndim != ndim:
                raise ValueError(f"{path} has {array.ndim} dimensions, expected {ndim}.")
            arrays.append(array)
        images, labels = arrays
        if len(images) != len(labels):
            raise ValueError(
                f"{folder}: {prefix} has {len(images)} images but {len(labels)} labels."
            )
        splits.append((images, labels))
    return tuple(splits)
