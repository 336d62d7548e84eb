"""Train a Π-net on your own image folder and export an int8 file for phones.

A folder with one sub-folder per class (``my_images/cat/*.png``,
``my_images/dog/*.jpg``, ...) is all it takes: the images are resized to
one size, a test split is held out, the model is trained with
`pinet_keras.training.train` (the ``pinet-keras train`` command), exported
to an int8 ``.tflite`` file and asked about one image.

    python examples/train_on_your_images.py --data_dir=my_images --image_size=32

Without ``--data_dir`` it draws a small folder of circles and squares first.
"""

import argparse
import os
import tempfile

import numpy as np
from PIL import Image

from pinet_keras.export import ExportConfig
from pinet_keras.export import Int8Settings
from pinet_keras.export import export
from pinet_keras.inference import predict
from pinet_keras.training import TrainConfig
from pinet_keras.training import train


def draw_shapes(folder, count=60, size=24, seed=0):
    """A folder of PNGs: ``circle/`` and ``square/``, of slightly different sizes."""
    rng = np.random.default_rng(seed)
    for shape in ("circle", "square"):
        os.makedirs(os.path.join(folder, shape), exist_ok=True)
        for i in range(count):
            side = size + int(rng.integers(-4, 5))
            y, x = np.mgrid[:side, :side]
            cy, cx, r = rng.uniform(side * 0.35, side * 0.65, 2).tolist() + [side * 0.25]
            if shape == "circle":
                inside = (y - cy) ** 2 + (x - cx) ** 2 < r**2
            else:
                inside = (abs(y - cy) < r) & (abs(x - cx) < r)
            pixels = np.where(inside, 230, 20) + rng.integers(0, 20, (side, side))
            Image.fromarray(pixels.astype(np.uint8)).save(os.path.join(folder, shape, f"{i}.png"))
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", help="A folder of class sub-folders of images.")
    parser.add_argument("--image_size", default="24", help="Resize to this size: 32 or 28x28.")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--output_dir", default=None, help="Default: a temporary folder.")
    args = parser.parse_args(argv)
    work = args.output_dir or tempfile.mkdtemp(prefix="pinet_own_images_")
    data_dir = args.data_dir or draw_shapes(os.path.join(work, "shapes"))

    # 1. Train: the best epoch on a validation split, measured once on the test split.
    run_dir = os.path.join(work, "run")
    metrics = train(
        TrainConfig(
            dataset="folder",
            data_dir=data_dir,
            image_size=args.image_size,
            model="polynet_bn",
            model_overrides={"width": 8, "num_blocks": 3},
            epochs=args.epochs,
            batch_size=32,
            augment=True,
            output_dir=run_dir,
            overwrite=True,
            verbose="0",
            tensorboard=False,
        )
    )
    print(f"classes {metrics['class_names']}, test accuracy {metrics['test_accuracy']:.3f}")

    # 2. Export an int8 file (uint8 pixels in, class names inside) and check it.
    export_dir = os.path.join(work, "export")
    report = export(
        ExportConfig(
            model=os.path.join(run_dir, "model.keras"),
            output_dir=export_dir,
            formats=("int8",),
            int8=Int8Settings(num_representative=64),
            latency_runs=0,
            overwrite=True,
        )
    )
    int8 = report["formats"]["int8"]
    print(f"int8 file: accuracy {int8['accuracy']:.3f}, agreement {int8['top1_agreement']:.3f}")

    # 3. Ask the int8 file about one image, as an app would.
    first_class = metrics["class_names"][0]
    image = sorted(os.listdir(os.path.join(data_dir, first_class)))[0]
    (answer,) = predict(
        os.path.join(export_dir, "model_int8.tflite"),
        [os.path.join(data_dir, first_class, image)],
    )
    print(f"{answer.source}: {answer.top}")
    return metrics, report, answer


if __name__ == "__main__":
    main()
