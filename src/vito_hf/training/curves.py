"""Training curves of a VITO run as one PNG: loss, learning rate, EMA momentum, attention entropy."""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

from ..atomic_files import write_atomic  # noqa: E402

PANELS = (
    ("loss", "training loss (sum over view pairs)"),
    ("eval_loss", "eval loss"),
    ("learning_rate", "learning rate"),
    ("ema_momentum", "EMA momentum"),
    ("attention_entropy", "attention entropy (nats)"),
    ("view_images_per_second", "view-images / s"),
)


def plot_training_curves(log_history: list[dict], path: str | os.PathLike) -> Path:
    """Write the curves logged in `trainer.state.log_history` to `path` (written to a temp name, renamed)."""
    panels = [(key, title) for key, title in PANELS if any(key in entry for entry in log_history)]
    if not panels:
        raise ValueError("The log history holds no training curves: did the run log at least one step?")
    figure, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.0), squeeze=False)
    for axis, (key, title) in zip(axes[0], panels):
        points = [(entry["step"], entry[key]) for entry in log_history if key in entry and "step" in entry]
        marker = "." if len(points) < 30 else None
        axis.plot([step for step, _ in points], [value for _, value in points], marker=marker)
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("optimizer step", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    try:
        return write_atomic(path, lambda temporary: figure.savefig(temporary, dpi=110), suffix=Path(path).suffix)
    finally:
        plt.close(figure)
