"""The probe table as a PNG: one row per dataset and feature source (model, random init, raw pixels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from ..atomic_files import write_atomic  # noqa: E402

ROW_LABELS = {"model": "model", "random_init": "random init", "raw_pixels": "raw pixels"}


def write_probe_table(tables: dict[str, dict[str, Any]], path: Path) -> Path:
    """Render ``{dataset: compare_to_random_init-style result}`` to ``path`` (written under a temporary name)."""
    header = ["dataset", "features", "train / test", "kNN top-1", "linear top-1", "dim"]
    cells = []
    for name, table in tables.items():
        for key, label in ROW_LABELS.items():
            if key not in table:
                continue
            row = table[key]
            linear = "-" if row["linear_top1"] is None else f"{row['linear_top1']:.3f}"
            cells.append([name, label, f"{row['num_train']} / {row['num_test']}", f"{row['knn_top1']:.3f}",
                          linear, str(row["feature_dim"])])
    figure, axes = plt.subplots(figsize=(8, 0.4 * (len(cells) + 2)))
    axes.axis("off")
    drawn = axes.table(cellText=cells, colLabels=header, loc="center", cellLoc="center")
    drawn.scale(1, 1.3)
    axes.set_title("Frozen-feature probes (test split)", pad=4)
    try:
        return write_atomic(path, lambda temporary: figure.savefig(temporary, dpi=120, bbox_inches="tight"), suffix=".png")
    finally:
        plt.close(figure)
