"""Smoke test of benchmarks/model_overhead.py: it runs end to end, checks the plain baselines against the VITO
classes, and reports the fields the issue asks for. No timing is asserted."""

import json
import subprocess
import sys
from pathlib import Path

from vito_hf import load_preset

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "model_overhead.py"


def head_macs(channels: int, positions: int, hidden_sizes: list[int], num_heads: int) -> int:
    """1x1-conv MLP (biases are additions, not MACs) down to one logit per head, plus the weighted sum."""
    widths = [channels, *hidden_sizes, num_heads]
    return positions * sum(a * b for a, b in zip(widths, widths[1:])) + positions * channels


def test_tiny_run_reports_overhead_and_architecture_cost():
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--preset", "tiny", "--image-size", "64",
         "--repeats", "2", "--pretraining-repeats", "1"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])

    assert result["bench"] == "model_overhead"
    assert (result["mode"], result["preset"], result["image_size"], result["batch_size"]) == ("quick", "tiny", 64, 2)
    assert result["malloc_env"] == {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}
    assert result["outputs_match"] is True
    for key in ("inference_ms", "baseline_inference_ms", "pretraining_step_ms", "baseline_pretraining_step_ms",
                "inference_ratio", "pretraining_step_ratio"):
        assert result[key] > 0, key
    for key, repeats in (("inference_samples_ms", 2), ("pretraining_samples_ms", 1)):
        assert {side: len(times) for side, times in result[key].items()} == {"vito": repeats, "plain": repeats}
    assert result["within_goal"] == (max(result["inference_ratio"], result["pretraining_step_ratio"]) <= 1.05)

    # The counted MACs of each head match the analytic count for the tiny preset (64px: 4x4 and 2x2 maps).
    config = load_preset("tiny")
    architecture = result["architecture"]
    assert architecture["pooled_stages"] == {"stage3": "conv4_x", "stage4": "conv5_x"}
    for stage, side, channels, hidden in zip(("stage3", "stage4"), (4, 2), (64, 128), config.attention_hidden_sizes):
        expected = head_macs(channels, side * side, hidden, config.attention_num_heads) / 1e9
        assert abs(architecture["head_gmacs_per_image"][stage] - expected) < 2e-6, stage
    heads = sum(architecture["head_gmacs_per_image"].values())
    total = architecture["vito_encoder_gmacs_per_image"]
    assert abs(total - heads - architecture["backbone_gap_gmacs_per_image"]) < 1e-5
    assert 0 < result["pooling_flops_share"] < 1
    assert abs(result["pooling_flops_share"] - heads / total) < 1e-3
