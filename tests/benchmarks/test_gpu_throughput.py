"""The GPU throughput script runs on this CPU machine (--quick: tiny preset, bf16 autocast, channels-last) and
prints its figures as one JSON object on its last line. Speeds are not asserted here: they are measurements."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


def test_gpu_throughput_quick_runs_on_cpu_and_reports_json():
    completed = subprocess.run(
        [sys.executable, str(REPOSITORY / "benchmarks" / "gpu_throughput.py"), "--quick", "--device", "cpu"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["bench"] == "gpu_throughput" and result["device"] == "cpu" and result["preset"] == "tiny"
    assert result["bf16"] and result["channels_last"]
    assert result["view_images_per_step"] == result["clips_per_step"] * 3
    for key in ("vito_view_images_per_s", "supervised_images_per_s", "vito_trainer_view_images_per_s"):
        assert result[key] > 0, key
    # FLOPs are counted, not assumed: a VITO view costs more than a supervised image (target forward, heads).
    assert result["vito_gflop_per_view_image"] > result["supervised_gflop_per_view_image"] > 0
    for name in ("vito", "supervised"):
        assert result[f"{name}_achieved_tflops"] > 0
        # No bf16 peak, device memory or batch search on a CPU: reported as null, not guessed.
        assert result[f"{name}_share_of_bf16_peak"] is None and result["bf16_peak_tflops"] is None
        assert result[f"{name}_peak_memory_mib_per_view_image"] is None
        assert result[f"{name}_largest_batch_view_images"] is None
    assert result["loader_examples_per_s"] > 0 and result["step_examples_per_s"] > 0
    assert result["loader_over_step_examples"] == pytest.approx(
        result["loader_examples_per_s"] / result["step_examples_per_s"], rel=1e-2
    )
