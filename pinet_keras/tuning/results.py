"""A search's trials as rows: `trial_rows`, `write_trials_csv`, `plot_trials`."""

from pinet_keras import _io
from pinet_keras import _optional
from pinet_keras.tuning.space import SEARCH_SPACE
from pinet_keras.tuning.tuners import read_trial_seconds

FIRST_COLUMNS = ("trial_id", "status", "val_accuracy", "seconds")


def _error(message):
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def trial_rows(tuner):
    """One dict per trial of ``tuner``, in the order the trials started.

    Keys: ``trial_id``, ``status`` (COMPLETED, FAILED, INVALID, RUNNING...),
    ``val_accuracy`` (the best epoch's; ``None`` unless completed),
    ``seconds`` (wall time of the trial's last run, from `make_tuner`'s
    record; ``None`` if unknown), each hyperparameter of `SEARCH_SPACE`
    (``None`` when inactive), then any other hyperparameter the tuner adds
    (Hyperband's ``tuner/epochs``...), ``best_epoch`` (1-based) and
    ``error`` (the last line of a failed trial's message).
    """
    seconds = read_trial_seconds(tuner.project_dir)
    rows = []
    for trial_id in tuner.oracle.start_order:
        trial = tuner.oracle.trials[trial_id]
        completed = trial.status == "COMPLETED"
        values = dict(trial.hyperparameters.values)
        row = {
            "trial_id": trial_id,
            "status": trial.status,
            "val_accuracy": float(trial.score) if completed and trial.score is not None else None,
            "seconds": seconds.get(trial_id),
        }
        row.update({name: values.pop(name, None) for name in SEARCH_SPACE})
        row.update(sorted(values.items()))
        # KerasTuner counts the best step within this trial's `fit`; a Hyperband
        # trial that continues another starts at `tuner/initial_epoch`.
        first_epoch = row.get("tuner/initial_epoch") or 0
        row["best_epoch"] = (
            first_epoch + trial.best_step + 1 if completed and trial.best_step is not None else None
        )
        row["error"] = "" if completed else _error(trial.message)
        rows.append(row)
    return rows


def write_trials_csv(rows, path):
    """Writes ``rows`` (`trial_rows`) to ``path``, one line per trial; empty cells for ``None``."""
    columns = list(FIRST_COLUMNS) + list(SEARCH_SPACE)
    for row in rows:
        columns += [key for key in row if key not in columns]
    cells = [{k: "" if row.get(k) is None else row.get(k) for k in columns} for row in rows]
    _io.write_csv(path, cells, columns, overwrite=True)


def plot_trials(rows, path, title=None):
    """Writes ``path`` (PNG): validation accuracy per trial and the best so far.

    Trials that did not complete are marked with a red cross at the bottom.
    Needs matplotlib (the ``examples`` extra).
    """
    plt = _optional.pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(rows) + 3), 4))
    done = [
        (i, r["val_accuracy"]) for i, r in enumerate(rows, start=1) if r["val_accuracy"] is not None
    ]
    failed = [i for i, r in enumerate(rows, start=1) if r["val_accuracy"] is None]
    if done:
        ax.plot([i for i, _ in done], [a for _, a in done], "o", label="trial")
        best, best_so_far = -1.0, []
        for _, accuracy in done:
            best = max(best, accuracy)
            best_so_far.append(best)
        ax.step([i for i, _ in done], best_so_far, where="post", label="best so far")
    if failed:
        bottom = min([a for _, a in done], default=0.0)
        ax.plot(failed, [bottom] * len(failed), "rx", label="not completed")
    ax.set_xlabel("trial (in start order)")
    ax.set_ylabel("val_accuracy")
    ax.grid(alpha=0.3)
    if rows:
        ax.legend()
    if title:
        ax.set_title(title)
    _io.save_figure_atomic(fig, path, dpi=100)
