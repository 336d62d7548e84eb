"""One epoch of the default PolyNet on Fashion-MNIST, then the test accuracy.

The check of the core issue: the default initialization must make the
five-block, degree-32 PolyNet learn (Adam 1e-3, batch 128, pixels in [0, 1]).
For comparison, ``--init=keras`` runs the literal port with Keras' default
initializers (Glorot kernel, zero bias) and ``--init=torch`` PyTorch's.
``--form`` and ``--degree`` give every one of the five blocks that form and
degree (the table of forms, docs/results/forms.md; `tools/fashion_mnist_forms.py` runs it).

    python tools/fashion_mnist_one_epoch.py --data_dir=../shared/data/fashion_mnist
    python tools/fashion_mnist_one_epoch.py --form=ncp --degree=3 --seed=1
"""

import json
import time

import keras
from absl import flags

import pinet_keras
from pinet_keras.cli import boundary
from pinet_keras.data import load_arrays

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", "../shared/data/fashion_mnist", "Folder with the four IDX files.")
flags.DEFINE_enum("init", "default", ["default", "keras", "torch"], "Initialization of the blocks.")
flags.DEFINE_integer("epochs", 1, "Epochs.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_enum("form", "product", list(pinet_keras.layers.FORMS), "Form of every block.")
flags.DEFINE_integer("degree", 2, "Degree of every block (>= 2).")

INITIALIZERS = {
    "default": dict(kernel_initializer=None, bias_initializer=None),
    "keras": dict(kernel_initializer="glorot_uniform", bias_initializer="zeros"),
    "torch": dict(
        kernel_initializer=pinet_keras.BranchUniform(), bias_initializer=pinet_keras.BranchUniform()
    ),
}


def main(_):
    keras.utils.set_random_seed(FLAGS.seed)
    (x_train, y_train), (x_test, y_test) = load_arrays("fashion_mnist", data_dir=FLAGS.data_dir)
    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32") / 255.0

    model = pinet_keras.PolyNet(form=FLAGS.form, degree=FLAGS.degree, **INITIALIZERS[FLAGS.init])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.time()
    model.fit(x_train, y_train, batch_size=128, epochs=FLAGS.epochs, verbose=2)
    seconds = time.time() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    print(
        json.dumps(
            {
                "init": FLAGS.init,
                "form": FLAGS.form,
                "degree": FLAGS.degree,
                "seed": FLAGS.seed,
                "epochs": FLAGS.epochs,
                "params": model.count_params(),
                "test_loss": round(float(loss), 4),
                "test_accuracy": round(float(accuracy), 4),
                "train_seconds": round(seconds, 1),
                "backend": keras.backend.backend(),
            }
        )
    )


if __name__ == "__main__":
    boundary.run(main)
