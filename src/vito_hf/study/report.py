"""The study's results as a table (markdown and JSON) and a plot with every seed's value and the spread."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_files import write_atomic, write_bytes_atomic
from .protocol import BAR, CHANCE, MEASURES, clears_bar


def summarise(rows: list[dict[str, Any]], arms: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{arm: {measure: {"mean", "std", "n", "values"}}}``; ``std`` is the sample standard deviation over seeds
    (None for one seed); undefined values (None or NaN) are left out and counted by ``n``."""
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for arm in arms:
        summary[arm] = {}
        for measure in MEASURES:
            values = [row[measure] for row in rows if row["arm"] == arm]
            defined = [float(v) for v in values if _defined(v)]
            summary[arm][measure] = {
                "mean": float(np.mean(defined)) if defined else None,
                "std": float(np.std(defined, ddof=1)) if len(defined) > 1 else None,
                "n": len(defined),
                "values": values,
            }
    return summary


def paired_differences(
    rows: list[dict[str, Any]], arm: str, baseline: str, *, confidence: float = 0.95
) -> dict[str, dict[str, Any]]:
    """``arm`` minus ``baseline`` per measure, paired by seed: mean, the seeds' differences and a Student-t
    ``confidence`` interval of the mean (n - 1 degrees of freedom); ``resolved`` when the interval excludes 0."""
    from scipy.stats import t

    by_seed = {(row["arm"], row["seed"]): row for row in rows}
    seeds = sorted(seed for name, seed in by_seed if name == arm and (baseline, seed) in by_seed)
    result = {}
    for measure in MEASURES:
        pairs = [(by_seed[arm, s][measure], by_seed[baseline, s][measure]) for s in seeds]
        differences = [a - b for a, b in pairs if _defined(a) and _defined(b)]
        entry: dict[str, Any] = {"differences": differences, "n": len(differences), "mean": None, "low": None,
                                 "high": None, "resolved": False}
        if differences:
            mean = float(np.mean(differences))
            entry["mean"] = mean
            if len(differences) > 1:
                half = t.ppf(0.5 + confidence / 2, len(differences) - 1) * np.std(differences, ddof=1)
                half /= math.sqrt(len(differences))
                entry.update(low=mean - half, high=mean + half, resolved=bool(mean - half > 0 or mean + half < 0))
        result[measure] = entry
    return result


def _defined(value: Any) -> bool:
    return value is not None and not math.isnan(value)


def _cell(entry: dict[str, Any]) -> str:
    if entry["mean"] is None:
        return "n/a"
    spread = "" if entry["std"] is None else f" ± {entry['std']:.3f}"
    return f"{entry['mean']:.3f}{spread}"


def markdown_table(study: dict[str, Any], summary: dict[str, dict[str, dict[str, Any]]]) -> str:
    """One row per arm, one column per measure (mean ± sample std over seeds), then raw pixels and the timing."""
    measures = list(MEASURES)
    seeds = len(study["protocol"]["seeds"])
    lines = [
        f"| arm | {' | '.join(measures)} |",
        "|---|" + "---|" * len(measures),
    ]
    for arm, entries in summary.items():
        lines.append(f"| {arm} | " + " | ".join(_cell(entries[m]) for m in measures) + " |")
    raw = study["raw_pixels"]
    lines.append("| raw pixels | " + " | ".join(
        f"{raw[m]:.3f}" if m in raw else "" for m in measures) + " |")
    compute = study["data_seconds"] + sum((r["pretrain_seconds"] or 0) + r["evaluation_seconds"] for r in study["rows"])
    lines += [
        "",
        f"Mean ± sample standard deviation over {seeds} seed(s); protocol {study['fingerprint']}. "
        + "; ".join(f"{name}: {text}" for name, text in MEASURES.items()) + ".",
        f"Compute: {compute / 60:.1f} min (data {study['data_seconds'] / 60:.1f} min, the rest Trainer's training "
        f"time of every run and every evaluation; this invocation {study['total_seconds'] / 60:.1f} min).",
    ]
    return "\n".join(lines) + "\n"


def bar_check(study: dict[str, Any], summary: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any] | None:
    """Whether the ``vito`` arm's held-out kNN, mean over seeds, clears :data:`~.protocol.BAR` (over random init's
    mean and raw pixels); ``None`` when the study lacks either arm."""
    if "vito" not in summary or "random-init" not in summary:
        return None
    vito, random_init = summary["vito"]["knn_top1"]["mean"], summary["random-init"]["knn_top1"]["mean"]
    raw = study["raw_pixels"]["knn_top1"]
    return {"vito_knn_top1": vito, "over_random_init": vito - random_init, "over_raw_pixels": vito - raw,
            "cleared": clears_bar(vito, random_init, raw)}


def bar_markdown(bar: dict[str, Any] | None) -> str:
    if bar is None:
        return ""
    verdict = "cleared" if bar["cleared"] else "NOT cleared"
    return (f"The bar (`vito` held-out kNN, mean over seeds, ≥ random init + {BAR['over_random_init']} and ≥ raw "
            f"pixels + {BAR['over_raw_pixels']}): {bar['vito_knn_top1']:.3f}, random init "
            f"{bar['over_random_init']:+.3f}, raw pixels {bar['over_raw_pixels']:+.3f}: **{verdict}**.\n")


def paired_table(study: dict[str, Any], reference: str) -> tuple[dict[str, dict[str, Any]], str]:
    """``reference`` minus every other arm, paired by seed (:func:`paired_differences`), as a dict and markdown."""
    arms = [arm["name"] for arm in study["protocol"]["arms"] if arm["name"] != reference]
    paired = {arm: paired_differences(study["rows"], reference, arm) for arm in arms}
    measures = list(MEASURES)
    lines = [
        f"| {reference} − arm | {' | '.join(measures)} |",
        "|---|" + "---|" * len(measures),
    ]
    for arm, entries in paired.items():
        lines.append(f"| {arm} | " + " | ".join(_interval(entries[m]) for m in measures) + " |")
    lines += ["", f"Mean difference paired by seed [95 % Student-t interval over seeds]; **bold**: the interval "
              "excludes 0 (resolved, in the direction of its sign)."]
    return paired, "\n".join(lines) + "\n"


def _interval(entry: dict[str, Any]) -> str:
    if entry["mean"] is None:
        return "n/a"
    if entry["low"] is None:
        return f"{entry['mean']:+.3f}"
    text = f"{entry['mean']:+.3f} [{entry['low']:+.3f}, {entry['high']:+.3f}]"
    return f"**{text}**" if entry["resolved"] else text


def plot_study(summary: dict[str, dict[str, dict[str, Any]]], path: Path) -> Path:
    """One panel per measure: each seed's value as a dot, the mean as a bar with the sample std as its error bar,
    chance as a dotted line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(summary)
    figure, axes = plt.subplots(1, len(MEASURES), figsize=(3.2 * len(MEASURES), 3.6), squeeze=False)
    for axis, measure in zip(axes[0], MEASURES):
        for position, arm in enumerate(arms):
            entry = summary[arm][measure]
            if entry["mean"] is None:
                continue
            axis.bar(position, entry["mean"], yerr=entry["std"] or 0.0, color="#9ecae1", capsize=3)
            values = [v for v in entry["values"] if v is not None and not math.isnan(v)]
            axis.scatter(np.full(len(values), position), values, color="#08519c", s=10, zorder=3)
        if measure in CHANCE:
            axis.axhline(CHANCE[measure], color="grey", linestyle=":", linewidth=1, label="chance")
            axis.legend(fontsize=7, loc="lower right")
        axis.set_title(measure, fontsize=9)
        axis.set_xticks(range(len(arms)), arms, rotation=60, ha="right", fontsize=7)
    figure.tight_layout()
    try:
        return write_atomic(path, lambda temporary: figure.savefig(temporary, dpi=110), suffix=path.suffix)
    finally:
        plt.close(figure)


def write_report(study: dict[str, Any], output_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``results.json`` (everything), ``results.md`` (the table) and ``results.png`` (the plot)."""
    output_dir = Path(output_dir)
    arms = [arm["name"] for arm in study["protocol"]["arms"]]
    summary = summarise(study["rows"], arms)
    paired, paired_markdown = paired_table(study, arms[0])
    bar = bar_check(study, summary)
    paths = {"json": output_dir / "results.json", "markdown": output_dir / "results.md",
             "plot": output_dir / "results.png"}
    write_bytes_atomic(paths["json"], (json.dumps({**study, "summary": summary, "paired": paired, "bar": bar},
                                                  indent=1) + "\n").encode())
    markdown = markdown_table(study, summary) + "\n" + paired_markdown
    if bar is not None:
        markdown += "\n" + bar_markdown(bar)
    write_bytes_atomic(paths["markdown"], markdown.encode())
    plot_study(summary, paths["plot"])
    return paths
