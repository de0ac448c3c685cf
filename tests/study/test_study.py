"""The study: scenes and their masks, the generated data, and a --quick run end to end (finite numbers, resumable)."""

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from vito_hf.evaluation.image_datasets import load_labelled_images
from vito_hf.evaluation.labelled_images import LabelledImagesUnavailableError
from vito_hf.study.protocol import MEASURES, PROTOCOL, QUICK_PROTOCOL
from vito_hf.study.report import summarise
from vito_hf.study.runner import StudyError, claim_folder
from vito_hf.study.scenes import backgrounds, draw_scene, render_clip

ROOT = Path(__file__).resolve().parents[2]

try:
    load_labelled_images("fashion-mnist", limit=10)
except LabelledImagesUnavailableError:
    pytest.skip("the study needs Fashion-MNIST (apt-get install dataset-fashion-mnist)", allow_module_level=True)
pytest.importorskip("skimage", reason="the study's backgrounds are scikit-image's photos")


@pytest.fixture(scope="module")
def items():
    data = load_labelled_images("fashion-mnist", limit=40, seed=0).train
    return data.images, data.labels


def test_training_and_held_out_backgrounds_are_disjoint():
    train, held_out = backgrounds("train"), backgrounds("held_out")
    assert {b.name for b in train}.isdisjoint(b.name for b in held_out)
    for a in train:
        for b in held_out:
            assert a.frames.shape != b.frames.shape or not np.array_equal(a.frames, b.frames)


def test_a_scene_is_fixed_by_its_seed_and_moves(items):
    images, labels = items
    clips = [render_clip(draw_scene(images, labels, 3, backgrounds("train"), np.random.default_rng([7, 3])),
                         num_frames=10, fps=25, size=48) for _ in range(2)]
    np.testing.assert_array_equal(clips[0][0], clips[1][0])
    frames, masks = clips[0]
    assert frames.shape == (10, 48, 48, 3) and masks.shape == (10, 48, 48)
    assert (masks[0] == 1).sum() > 20  # the item is in view
    assert not np.array_equal(masks[0], masks[-1]) and not np.array_equal(frames[0], frames[-1])
    other = render_clip(draw_scene(images, labels, 3, backgrounds("train"), np.random.default_rng([8, 3])),
                        num_frames=10, fps=25, size=48)[0]
    assert not np.array_equal(frames, other)


def test_the_mask_is_where_the_item_was_painted(items):
    images, labels = items
    scene = draw_scene(images, labels, 0, backgrounds("held_out"), np.random.default_rng(0), occlusion_probability=1)
    with_items, masks = scene.render(1.0, 64)
    bare = replace(scene, item=np.zeros_like(scene.item), occluder=np.zeros_like(scene.occluder)).render(1.0, 64)[0]
    changed = np.abs(with_items.astype(int) - bare.astype(int)).sum(-1) > 30
    covered = masks > 0
    assert covered.sum() > 20 and (changed & covered).sum() / covered.sum() > 0.9
    assert (changed & ~covered).sum() / max(changed.sum(), 1) < 0.2  # only soft edges lie outside the mask
    assert set(np.unique(masks)) <= {0, 1, 2}


def test_protocol_fingerprint_follows_every_field(tmp_path):
    assert PROTOCOL.fingerprint() == replace(PROTOCOL).fingerprint()
    assert PROTOCOL.fingerprint() != replace(PROTOCOL, max_steps=PROTOCOL.max_steps + 1).fingerprint()
    claim_folder(tmp_path, QUICK_PROTOCOL)
    claim_folder(tmp_path, QUICK_PROTOCOL)  # the same protocol continues
    with pytest.raises(StudyError, match="another protocol"):
        claim_folder(tmp_path, PROTOCOL)


def test_summary_counts_undefined_values_and_spreads_over_seeds():
    rows = [{"arm": "a", **{m: v for m in MEASURES}} for v in (0.2, 0.4, float("nan"))]
    rows[1]["shape_bias"] = None
    summary = summarise(rows, ["a"])
    assert summary["a"]["knn_top1"]["n"] == 2 and math.isclose(summary["a"]["knn_top1"]["mean"], 0.3)
    assert math.isclose(summary["a"]["knn_top1"]["std"], np.std([0.2, 0.4], ddof=1))
    assert summary["a"]["shape_bias"]["n"] == 1 and summary["a"]["shape_bias"]["std"] is None


def test_quick_study_runs_end_to_end_and_continues(tmp_path):
    output = tmp_path / "study"
    command = [sys.executable, str(ROOT / "training_scripts" / "run_study.py"), "--output_dir", str(output), "--quick"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    study = json.loads((output / "results.json").read_text())
    assert [row["arm"] for row in study["rows"]] == [arm.name for arm in QUICK_PROTOCOL.arms]
    for row in study["rows"]:
        for measure in MEASURES:
            assert row[measure] is None or math.isfinite(row[measure]), (row["arm"], measure)
        assert row["knn_top1"] is not None and row["propagation_jf"] is not None
        assert (row["pretrain_seconds"] > 0) == (row["arm"] != "random-init")
    assert (output / "results.png").stat().st_size > 0
    assert "| vito |" in (output / "results.md").read_text() and "| vito |" in first.stdout
    # The generated videos went through curation into a clip store, and decode as real video files.
    store = output / "data" / "clip_store"
    assert len((store / "metadata.jsonl").read_text().splitlines()) == QUICK_PROTOCOL.num_videos
    with av.open(str(next((output / "data" / "videos").glob("*.mp4")))) as container:
        assert container.streams.video[0].frames == int(QUICK_PROTOCOL.video_seconds * 25)
    # A rerun reuses every finished run and gives the same rows.
    rows = sorted(output.glob("runs/*/row.json"))
    stamps = [p.stat().st_mtime_ns for p in rows]
    second = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert [p.stat().st_mtime_ns for p in rows] == stamps
    assert json.loads((output / "results.json").read_text())["rows"] == study["rows"]
