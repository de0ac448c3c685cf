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
import torch

from vito_hf.evaluation.image_datasets import load_labelled_images
from vito_hf.evaluation.labelled_images import LabelledImagesUnavailableError
from vito_hf.study.calibration import CALIBRATION, Attempt, cleared, run_attempt
from vito_hf.study.invariance import DeformationPairs, deformation_pairs, measure_invariance, retrieval_top1
from vito_hf.study.protocol import MEASURES, PROTOCOL, QUICK_PROTOCOL, ROUND_1_PROTOCOL, ROUND_2_PROTOCOL
from vito_hf.study.report import bar_check, bar_markdown, paired_differences, summarise
from vito_hf.study.runner import CPU_LOADER_WORKERS, StudyError, claim_folder, loader_workers, training_threads
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
        assert 0 <= row["deformation_retrieval"] <= 1 and 0 <= row["background_retrieval"] <= 1
        assert (row["pretrain_seconds"] > 0) == (row["arm"] != "random-init")
    assert (output / "results.png").stat().st_size > 0
    assert "| vito |" in (output / "results.md").read_text() and "| vito |" in first.stdout
    # vito minus every other arm, paired by seed (one seed here: a mean and no interval).
    assert set(study["paired"]) == {"image-contrast", "random-init"}
    assert "| vito − arm |" in first.stdout
    assert set(study["bar"]) == {"vito_knn_top1", "over_random_init", "over_raw_pixels", "cleared"}
    assert "The bar (`vito` held-out kNN, mean over seeds" in first.stdout
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


def test_the_bar_is_judged_on_the_mean_over_seeds_against_random_init_and_raw_pixels():
    def study(vito: list[float], random: list[float], raw: float) -> dict:
        rows = [{"arm": arm, "seed": seed, **{m: value for m in MEASURES}}
                for arm, values in (("vito", vito), ("random-init", random)) for seed, value in enumerate(values)]
        return {"rows": rows, "raw_pixels": {"knn_top1": raw, "linear_top1": raw}}

    def bar(vito, random, raw):
        s = study(vito, random, raw)
        return bar_check(s, summarise(s["rows"], ["vito", "random-init"]))

    cleared = bar([0.34, 0.30, 0.32], [0.16, 0.17, 0.15], 0.2)
    assert cleared["cleared"] and math.isclose(cleared["over_random_init"], 0.16)
    assert math.isclose(cleared["over_raw_pixels"], 0.12) and "**cleared**" in bar_markdown(cleared)
    # One seed over the bar does not carry a mean under it; nor does a margin over random init alone.
    assert not bar([0.34, 0.25, 0.26], [0.16, 0.17, 0.15], 0.1)["cleared"]
    low_raw = bar([0.34, 0.30, 0.32], [0.16, 0.17, 0.15], 0.25)
    assert not low_raw["cleared"] and "NOT cleared" in bar_markdown(low_raw)
    assert bar_check(study([0.3], [0.1], 0.1), summarise(study([0.3], [0.1], 0.1)["rows"], ["vito"])) is None


def test_paired_differences_pair_by_seed_and_resolve_only_when_the_interval_excludes_zero():
    from scipy.stats import t

    rows = []
    for seed, (a, b) in enumerate([(0.30, 0.20), (0.32, 0.21), (0.35, 0.22)]):
        rows += [{"arm": "a", "seed": seed, **{m: a for m in MEASURES}},
                 {"arm": "b", "seed": seed, **{m: b for m in MEASURES}}]
    rows.append({"arm": "a", "seed": 9, **{m: 0.9 for m in MEASURES}})  # no partner: left out
    paired = paired_differences(rows, "a", "b")["knn_top1"]
    differences = [0.10, 0.11, 0.13]
    assert paired["n"] == 3 and np.allclose(paired["differences"], differences)
    half = t.ppf(0.975, 2) * np.std(differences, ddof=1) / math.sqrt(3)
    assert math.isclose(paired["low"], np.mean(differences) - half) and paired["resolved"]
    # Differences of both signs: the interval straddles 0, nothing is resolved.
    for row, value in zip([r for r in rows if r["arm"] == "a" and r["seed"] < 3], (0.25, 0.18, 0.23)):
        row["knn_top1"] = value
    mixed = paired_differences(rows, "a", "b")["knn_top1"]
    assert mixed["low"] < 0 < mixed["high"] and not mixed["resolved"]


def test_retrieval_counts_a_query_right_only_when_its_own_key_is_nearest():
    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert retrieval_top1(queries, queries * 3) == 1.0  # cosine: the scale does not matter
    assert math.isclose(retrieval_top1(queries, queries[[1, 0, 2]]), 1 / 3, abs_tol=1e-6)


def test_deformation_pairs_keep_the_item_and_change_the_background():
    pairs = deformation_pairs(20, size=48, seed=0)
    again = deformation_pairs(20, size=48, seed=0)
    np.testing.assert_array_equal(pairs.deformed_keys, again.deformed_keys)
    assert pairs.queries.shape == pairs.deformed_keys.shape == pairs.background_keys.shape == (20, 48, 48, 3)
    assert sorted(np.bincount(pairs.labels)) == [2] * 10  # class-balanced
    # Keys differ from their queries (new background), and the deformed key differs from the same-time key (motion).
    for query, deformed, same_time in zip(pairs.queries, pairs.deformed_keys, pairs.background_keys):
        assert np.abs(query.astype(int) - same_time.astype(int)).mean() > 10
        assert not np.array_equal(deformed, same_time)


def test_invariance_of_a_model_is_measured_on_its_features():
    from vito_hf import VitoModel, load_preset

    pairs = deformation_pairs(20, size=48, seed=0)
    torch.manual_seed(0)
    measured = measure_invariance(VitoModel(load_preset("tiny")), pairs, image_size=48)
    assert set(measured) == {"deformation_retrieval", "background_retrieval"}
    assert all(0.0 <= value <= 1.0 for value in measured.values())
    # A "model" that sees the query's own pixels in its key retrieves perfectly: the measure can reach 1.
    identical = DeformationPairs(pairs.queries, pairs.queries, pairs.queries, pairs.labels)
    assert measure_invariance(VitoModel(load_preset("tiny")), identical, image_size=48)["deformation_retrieval"] == 1


def test_a_calibration_attempt_over_several_seeds_is_judged_on_their_means(tmp_path):
    protocol = replace(QUICK_PROTOCOL, seeds=(0, 1), invariance_items=20)
    record = run_attempt(Attempt("Z", "two seeds of the quick protocol", protocol, seeds=2), tmp_path)
    assert record["seeds"] == 2 and [run["seed"] for run in record["per_seed"]] == [0, 1]
    for key in ("vito", "random_init", "raw_pixels"):
        for measure in ("knn_top1", "linear_top1"):
            values = [run[key][measure] for run in record["per_seed"]]
            assert math.isclose(record[key][measure], sum(values) / 2), (key, measure)
    assert record["per_seed"][0]["random_init"] != record["per_seed"][1]["random_init"]  # re-initialised per seed
    assert record["cleared"] == cleared(record)
    assert (tmp_path / "attempts" / "Z-seed1" / "pretraining_run" / "encoder").is_dir()
    saved = tmp_path / "attempts" / "Z.json"
    stamp = saved.stat().st_mtime_ns
    again = run_attempt(Attempt("Z", "again", protocol, seeds=2), tmp_path)  # read back, not redone
    assert again == json.loads(json.dumps(record)) and saved.stat().st_mtime_ns == stamp


def test_cpu_pretraining_leaves_the_loader_workers_their_cores_and_restores_torch_threads():
    import os

    before = torch.get_num_threads()
    with training_threads("cpu"):
        assert torch.get_num_threads() == max(1, os.cpu_count() - CPU_LOADER_WORKERS)
        assert loader_workers("cpu") == CPU_LOADER_WORKERS
    assert torch.get_num_threads() == before
    with training_threads("cuda"):  # on an accelerator the host threads are left alone
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), training_threads("cpu"):
        raise RuntimeError("a failed run")
    assert torch.get_num_threads() == before


def test_calibration_bar_needs_both_margins():
    record = {"vito": {"knn_top1": 0.40}, "random_init": {"knn_top1": 0.24}, "raw_pixels": {"knn_top1": 0.29}}
    assert cleared(record)
    assert not cleared({**record, "random_init": {"knn_top1": 0.26}})
    assert not cleared({**record, "raw_pixels": {"knn_top1": 0.31}})



def test_the_committed_protocol_is_the_attempt_that_cleared_the_bar():
    """Round 3 runs its arms under calibration attempt K's protocol, unchanged but for which arms run; round 2 ran
    under attempt J's (its committed results carry that fingerprint); the attempts keep round 1's protocol as their
    base (their recorded fingerprints stay valid)."""
    attempts = {attempt.name: attempt.protocol for attempt in CALIBRATION}
    assert replace(attempts["K"], arms=PROTOCOL.arms).fingerprint() == PROTOCOL.fingerprint()
    assert replace(attempts["J"], arms=ROUND_2_PROTOCOL.arms).fingerprint() == ROUND_2_PROTOCOL.fingerprint()
    round_2 = json.loads((ROOT / "studies" / "temporal-contrast" / "round-2" / "results.json").read_text())
    assert round_2["fingerprint"] == ROUND_2_PROTOCOL.fingerprint()
    assert {"vito", "image-contrast", "random-init"} <= {arm.name for arm in PROTOCOL.arms}
    assert all(arm in ROUND_1_PROTOCOL.arms for arm in PROTOCOL.arms + ROUND_2_PROTOCOL.arms)
    assert attempts["A"].fingerprint() == ROUND_1_PROTOCOL.fingerprint() != PROTOCOL.fingerprint()
    assert all(protocol.arms == ROUND_1_PROTOCOL.arms for protocol in attempts.values())  # calibration changed no arm
