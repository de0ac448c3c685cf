"""The `evaluate` metric modules that ship inside vito_hf (under ``metrics/<name>/<name>.py``), loaded by path.

`evaluate` 0.4 ships no metrics itself and `evaluate.load("name")` needs the Hub; a local module loads offline.
"""

from __future__ import annotations

from pathlib import Path

import evaluate

METRICS_DIR = Path(__file__).resolve().parent / "metrics"


def load_shipped_metric(name: str) -> evaluate.EvaluationModule:
    """Load the metric module ``metrics/<name>/<name>.py`` of this package (e.g. ``"davis_jf"``)."""
    path = METRICS_DIR / name / f"{name}.py"
    if not path.is_file():
        shipped = sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file())
        raise ValueError(f"no shipped metric {name!r}; vito_hf ships {', '.join(shipped)}")
    return evaluate.load(str(path))
