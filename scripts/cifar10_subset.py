"""Writes a small CIFAR-10 (class folders of JPEGs) from the full archive, for quick checks.

    python scripts/cifar10_subset.py ../shared/data/cifar10 /tmp/cifar10_subset \
        --train_per_class=100 --test_per_class=20

The first ``train_per_class`` training and ``test_per_class`` test images of
each class (in file-name order) of ``SOURCE/cifar10-jpeg.tar.gz`` go to
``OUTPUT/train/<class>/`` and ``OUTPUT/test/<class>/``, the layout
`pinet_keras.data` reads. ``OUTPUT`` must not exist; it is written under a
temporary name and renamed, so an interrupted run leaves nothing.
"""

import argparse
import collections
import os
import shutil
import sys
import tarfile


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="folder holding cifar10-jpeg.tar.gz")
    parser.add_argument("output", help="new folder to write")
    parser.add_argument("--train_per_class", type=int, default=100)
    parser.add_argument("--test_per_class", type=int, default=20)
    args = parser.parse_args()
    archive = os.path.join(args.source, "cifar10-jpeg.tar.gz")
    if not os.path.isfile(archive):
        sys.exit(f"error: no {archive}; pass the folder of the CIFAR-10 archive")
    if os.path.exists(args.output):
        sys.exit(f"error: {args.output} exists; remove it or choose another output folder")
    if min(args.train_per_class, args.test_per_class) < 1:
        sys.exit("error: --train_per_class and --test_per_class must be >= 1")
    limits = {"train": args.train_per_class, "test": args.test_per_class}
    staging = args.output.rstrip("/") + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    taken = collections.Counter()
    try:
        with tarfile.open(archive) as tar:
            members = sorted(
                (m for m in tar.getmembers() if m.isfile() and m.name.endswith(".jpg")),
                key=lambda m: m.name,
            )
            for member in members:
                parts = member.name.split("/")[-3:]
                if len(parts) != 3 or parts[0] not in limits:
                    continue
                split, label, name = parts
                if taken[split, label] >= limits[split]:
                    continue
                folder = os.path.join(staging, split, label)
                os.makedirs(folder, exist_ok=True)
                with tar.extractfile(member) as src, open(os.path.join(folder, name), "wb") as dst:
                    shutil.copyfileobj(src, dst)
                taken[split, label] += 1
        os.rename(staging, args.output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    counts = collections.Counter()
    for (split, _), n in taken.items():
        counts[split] += n
    print(f"{args.output}: {counts['train']} training and {counts['test']} test images")


if __name__ == "__main__":
    main()
