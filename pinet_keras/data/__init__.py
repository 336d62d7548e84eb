"""Data: mnist, fashion_mnist, cifar10 and digits as arrays and `tf.data` pipelines.

Example:

>>> from pinet_keras.data import make_datasets
>>> datasets = make_datasets("mnist", data_dir="../shared/data/mnist")  # doctest: +SKIP
>>> model.fit(datasets.train, validation_data=datasets.validation)  # doctest: +SKIP
>>> model.evaluate(datasets.test)  # doctest: +SKIP

Importing this package needs neither TensorFlow, TFDS nor scikit-learn: each
is imported by the function that uses it. Without TensorFlow, `make_datasets`
builds NumPy pipelines instead (`numpy_pipeline.NumpyDataset`, a
`keras.utils.PyDataset`), which `fit` takes on any backend.

Sources (`load_arrays`, first match wins):

- digits: scikit-learn's bundled `load_digits()` (1797 8x8 images, values
  0..16 scaled to 0..255); the first 1437 are the training split, the last
  360 the test split. No network, no files.
- `data_dir` with raw files (directly or in a subfolder named like the data
  set): the four IDX files, plain or .gz, for mnist and fashion_mnist;
  `train/<class>/*.jpg|png` and `test/<class>/...` folders, or a tar archive
  holding them (read in place), for cifar10, with the class folders
  `airplane automobile bird cat deer dog frog horse ship truck` (label =
  index in that order).
- TFDS data prepared in `data_dir` (or `$TFDS_DATA_DIR`, else
  `~/tensorflow_datasets`), loaded with `download=False`: nothing is ever
  downloaded.
- fashion_mnist: the IDX files of Debian's `dataset-fashion-mnist` package,
  in `/usr/share/datasets/fashion-mnist`.

Otherwise the error says which files to pass as `data_dir`.

The pipelines yield raw uint8 pixels. Normalization and augmentation are
Keras layers inside the model (`pinet_keras.models.pixel_preprocessing`),
with the per-channel statistics of the training split (`pixel_statistics`,
in `PipelineInfo`) and the policy of `AUGMENTATIONS`.
"""

from pinet_keras.data.arrays import load_arrays
from pinet_keras.data.augmentation import AUGMENTATIONS
from pinet_keras.data.augmentation import AugmentationPolicy
from pinet_keras.data.augmentation import augmentation_policy
from pinet_keras.data.folder import load_folder
from pinet_keras.data.folder import parse_image_size
from pinet_keras.data.info import DATASETS
from pinet_keras.data.info import DatasetInfo
from pinet_keras.data.info import dataset_info
from pinet_keras.data.mixing import mix_batches
from pinet_keras.data.pipeline import Datasets
from pinet_keras.data.pipeline import PipelineInfo
from pinet_keras.data.pipeline import make_datasets
from pinet_keras.data.pipeline import pixel_statistics
from pinet_keras.data.pipeline import split_validation

__all__ = [
    "AUGMENTATIONS",
    "AugmentationPolicy",
    "DATASETS",
    "DatasetInfo",
    "Datasets",
    "augmentation_policy",
    "load_folder",
    "parse_image_size",
    "PipelineInfo",
    "dataset_info",
    "load_arrays",
    "make_datasets",
    "mix_batches",
    "pixel_statistics",
    "split_validation",
]
