"""Smoke test of benchmarks/gradient_checkpointing.py on a tiny Swin VITO: both sides run, the checkpointed side
really checkpoints, both compute the same loss, and the report has its fields. No memory figure is asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import SwinConfig

from vito_hf import VitoConfig

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gradient_checkpointing.py"


def test_tiny_swin_run_reports_both_sides(tmp_path):
    backbone = SwinConfig(image_size=64, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=2)
    config = VitoConfig(backbone_config=backbone, projector_hidden_size=32, projector_output_size=16)
    config.to_json_file(tmp_path / "tiny-swin.json")
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--preset", str(tmp_path / "tiny-swin.json"), "--image-size", "64"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert (result["bench"], result["mode"]) == ("gradient_checkpointing", "quick")
    assert result["batch"] == {"clips": 1, "views": 3, "images": 3, "image_size": 64}
    assert result["checkpointing_active"] is True
    assert result["losses_equal"] is True
    for side in ("plain", "checkpointed"):
        assert result["step_peak_mib"][side] >= 0 and result["step_seconds"][side] > 0
    peaks = result["step_peak_mib"]
    if peaks["plain"] > 0:  # the peaks are rounded to 0.1 MiB, the ratio is taken before rounding
        tolerance = 0.05 * (peaks["plain"] + peaks["checkpointed"] + 0.1) / peaks["plain"] ** 2 + 1e-3
        assert result["memory_ratio"] == pytest.approx(peaks["checkpointed"] / peaks["plain"], abs=tolerance)
