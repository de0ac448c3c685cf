"""`evaluate` metric modules that ship with vito_hf: each is a folder ``<name>/<name>.py`` loaded by path."""

from pathlib import Path

import evaluate

METRICS_DIR = Path(__file__).resolve().parent


def metric_path(name: str) -> str:
    """The folder to pass to ``evaluate.load`` for the shipped metric ``name`` (e.g. ``"accuracy"``)."""
    path = METRICS_DIR / name
    if not (path / f"{name}.py").is_file():
        shipped = sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file())
        raise ValueError(f"vito_hf ships no metric {name!r}; shipped metrics: {', '.join(shipped)}")
    return str(path)


def load_metric(name: str, **kwargs) -> evaluate.EvaluationModule:
    """``evaluate.load`` of the shipped metric ``name`` (works offline)."""
    return evaluate.load(metric_path(name), **kwargs)
