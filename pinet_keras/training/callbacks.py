"""Callbacks that make a training run safe to interrupt and to diverge."""

import csv
import json
import math
import os
import time

import keras

from pinet_keras import _io


class TrainingDiverged(RuntimeError):
    """Raised when the loss becomes NaN or infinite.

    Attributes: ``epoch`` and ``batch`` (0-based, as Keras counts),
    ``value`` and ``checkpoint`` (the last good one, or None).
    """

    def __init__(self, epoch, batch, value, checkpoint):
        self.epoch, self.batch, self.value, self.checkpoint = epoch, batch, value, checkpoint
        where = (
            f"at epoch {epoch + 1}, batch {batch + 1}"
            if batch is not None
            else f"at the end of epoch {epoch + 1}"
        )
        kept = (
            f"The last good checkpoint is kept at {checkpoint}."
            if checkpoint
            else "No epoch had finished, so there is no checkpoint."
        )
        super().__init__(
            f"Training diverged {where}: the loss is {value}. {kept} "
            "High-degree polynomials amplify large steps; try a lower --learning_rate, "
            "--clipnorm=1.0, a warm-up (--warmup_epochs), the normalized variant "
            "(--model=polynet_bn), or float32 instead of mixed precision."
        )


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite training loss, by raising.

    Raising (rather than setting ``stop_training``) matters: Keras would
    still run ``on_epoch_end``, and the checkpoint callbacks would overwrite
    the last good checkpoint with the diverged weights.

    A non-finite *validation* loss is not a divergence: it is the model at
    inference (batch normalization on its moving statistics, which a short
    run has barely moved from their initial values) extrapolating, as a
    polynomial of high degree does on some images. It prints one line and
    training goes on; the accuracy counts those predictions as wrong
    (`pinet_keras.Accuracy`), so the epoch is not chosen as the best.
    """

    def __init__(self, checkpoint=None):
        super().__init__()
        self.checkpoint = checkpoint
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _check(self, logs, batch):
        value = (logs or {}).get("loss")
        if value is not None and not math.isfinite(float(value)):
            checkpoint = (
                self.checkpoint if self.checkpoint and os.path.exists(self.checkpoint) else None
            )
            raise TrainingDiverged(self._epoch, batch, float(value), checkpoint)
        value = (logs or {}).get("val_loss")
        if batch is None and value is not None and not math.isfinite(float(value)):
            print(
                f"Epoch {self._epoch + 1}: the validation loss is {float(value)} (some validation "
                "outputs are not finite; they count as wrong in val_accuracy).",
                flush=True,
            )

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, batch)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, None)


def _atomic_save(model, path):
    _io.save_model_atomic(model, path)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose files are each written all at once.

    Keras writes the backup in place, so a run stopped while writing (a
    full disk, a kill) could leave half a weights file. Here each file is
    written beside its target and renamed onto it: the weights first, then
    the record of the epoch, so the record never names weights not on disk.
    """

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for path, previous in (
                (self._weights_path, self._prev_weights_path),
                (self._training_metadata_path, self._prev_training_metadata_path),
            ):
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        _io.write_bytes(previous, f.read(), overwrite=True)
        with _io.atomic_output(self._weights_path, overwrite=True) as temporary:
            self.model.save_weights(temporary)
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        _io.write_text(self._training_metadata_path, json.dumps(metadata), overwrite=True)


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the model when ``monitor`` improves, atomically (temp file, rename).

    A run killed while saving leaves the previous best file intact.
    ``best`` is the value to beat, for a resumed run.
    """

    def __init__(self, path, monitor="val_accuracy", mode="max", best=None):
        super().__init__()
        self.path, self.monitor, self.mode = path, monitor, mode
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        better = self.best is None or (
            value > self.best if self.mode == "max" else value < self.best
        )
        if better:
            self.best = float(value)
            _atomic_save(self.model, self.path)


class HistoryCSV(keras.callbacks.Callback):
    """Appends one row per epoch to a CSV file (``epoch`` counted from 1).

    Unlike ``keras.callbacks.CSVLogger`` it is made for resumed runs:
    `truncate` drops the rows of epochs that will be trained again. Each row
    has ``seconds``, the training time from the start of the run to the end
    of the epoch (its validation included); a resumed run goes on from the
    last row's.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path
        self._start = self._offset = None

    def on_train_begin(self, logs=None):
        rows = self.read(self.path)
        self._offset = rows[-1].get("seconds", 0.0) if rows else 0.0
        self._start = time.time()

    @staticmethod
    def read(path):
        if not os.path.exists(path):
            return []
        with open(path, newline="") as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]

    def truncate(self, epochs_done):
        rows = [r for r in self.read(self.path) if r["epoch"] <= epochs_done]
        self._write(rows)
        return rows

    def _write(self, rows):
        if rows:
            _io.write_csv(self.path, rows, list(rows[0]), overwrite=True)
        else:
            _io.write_text(self.path, "", overwrite=True)

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in sorted((logs or {}).items()) if k != "learning_rate"})
        learning_rate = self.model.optimizer.learning_rate
        row["learning_rate"] = float(keras.ops.convert_to_numpy(learning_rate))
        rows = self.read(self.path)
        if self._start is not None and (not rows or "seconds" in rows[0]):
            # (A run begun before this column keeps its columns.)
            row["seconds"] = round(self._offset + time.time() - self._start, 1)
        self._write(rows + [row])
