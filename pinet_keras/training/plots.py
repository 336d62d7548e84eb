"""Learning curves: accuracy and loss per epoch, train and validation."""

from pinet_keras import _io
from pinet_keras import _optional


def plot_history(rows, path, title=None):
    """Writes ``path`` (PNG): accuracy and loss against epoch.

    ``rows`` are the dicts of `HistoryCSV.read`. Needs matplotlib (the
    ``examples`` extra).
    """
    plt = _optional.pyplot()
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("accuracy", "loss")):
        for prefix, label in (("", "train"), ("val_", "validation")):
            key = prefix + metric
            if rows and key in rows[0]:
                ax.plot(epochs, [r[key] for r in rows], marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    _io.save_figure_atomic(fig, path, dpi=100)
