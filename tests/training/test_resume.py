"""Resume equivalence on CPU: 6 steps straight vs 3 steps, stop, resume for 3 -> bit-identical online and target
weights (and optimizer state); also after a SIGKILL between two checkpoints. Real clips, the real view pipeline
(random windows, frames and crops per example; the photometric augmentation batched in the collator), LARS, the
cosine LR and EMA schedules.

Epochs hold 4 steps (6 clips listed three times, batches of 4, the last partial batch dropped), so both resumes
start mid-epoch and then cross an epoch boundary. A mid-epoch resume is where the global RNG stream cannot be
replayed (Accelerate's loader fetches a batch ahead of the saved RNG state): the last test shows that without
per-example seeding the resumed run does differ, so the equalities above are not vacuous.

A stream (the builder's streaming mode) is resumed in its second pass: Trainer alone would restart it at
epoch 0 and skip `global_step` batches from there; VitoTrainer restores the epoch and the position in it.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from vito_hf.data import (
    DataArguments,
    PerExampleSeededDataset,
    PerExampleSeededStream,
    build_pretraining_data,
    seeded_pretraining_data,
)
from vito_hf.training import VitoTrainer, last_complete_checkpoint
from training_helpers import (
    IMAGE_SIZE,
    WINDOW_SECONDS,
    collator,
    cpu_args,
    model_state,
    tiny_model,
    views_dataset,
    write_real_clips,
)

TOTAL_STEPS = 6


class StopAfter(TrainerCallback):
    """Stops the run cleanly after step `step` (its checkpoint saved)."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


class HangAfter(TrainerCallback):
    """After step `step`, tells the parent (a marker file) and waits to be killed."""

    def __init__(self, step: int, marker: Path):
        self.step, self.marker = step, marker

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            self.marker.write_text("ready")
            time.sleep(600)


def train(
    clips: Path, cache: Path, output_dir: Path, save_steps: int, resume: Path | None = None, callbacks=(), seeding=True
):
    model = tiny_model(seed=0)
    args = cpu_args(
        output_dir, max_steps=TOTAL_STEPS, save_strategy="steps", save_steps=save_steps, warmup_steps=2, seed=7
    )
    views = views_dataset(clips, cache, photometric_in_worker=False)
    if seeding:
        dataset = PerExampleSeededDataset(views, seed=args.seed, repeats=3)
        data = seeded_pretraining_data(dataset, dataset, collator())
        data_collator, callbacks = data.data_collator, [*data.callbacks, *callbacks]
    else:
        dataset, data_collator = torch.utils.data.ConcatDataset([views] * 3), collator()
    trainer = VitoTrainer(
        model=model, args=args, train_dataset=dataset, data_collator=data_collator, callbacks=list(callbacks)
    )
    trainer.train(resume_from_checkpoint=None if resume is None else str(resume))
    return trainer


def train_stream(
    clips: Path, cache: Path, output_dir: Path, save_steps: int, resume: Path | None = None, callbacks=(),
    max_steps: int = TOTAL_STEPS,
):
    """Batches of 2 from a stream of the 6 clips: 3 steps per pass, so the 6 steps go round it twice."""
    args = cpu_args(
        output_dir, max_steps=max_steps, save_strategy="steps", save_steps=save_steps, warmup_steps=2, seed=7,
        per_device_train_batch_size=2,
    )
    data_args = DataArguments(
        data_dir=str(clips), image_size=IMAGE_SIZE, num_views=3, window_seconds=WINDOW_SECONDS, streaming=True,
        cache_dir=str(cache), device_augmentation=False,
    )
    data = build_pretraining_data(data_args, seed=args.seed)
    trainer = VitoTrainer(
        model=tiny_model(seed=0), args=args, train_dataset=data.train_dataset, data_collator=data.data_collator,
        callbacks=[*data.callbacks, *callbacks],
    )
    trainer.seeding = data.callbacks[0].seeding
    trainer.train(resume_from_checkpoint=None if resume is None else str(resume))
    return trainer


def optimizer_state(trainer) -> list[torch.Tensor]:
    return [s["momentum_buffer"] for s in trainer.optimizer.state_dict()["state"].values()]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("resume")
    return write_real_clips(root / "clips"), root / "cache"


@pytest.fixture(scope="module")
def straight(clips, tmp_path_factory):
    trainer = train(*clips, tmp_path_factory.mktemp("straight"), save_steps=3)
    return model_state(trainer.model), optimizer_state(trainer)


def assert_identical(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    different = [name for name in expected if not torch.equal(actual[name], expected[name])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def test_stop_and_resume_is_bit_identical(clips, straight, tmp_path):
    first = train(*clips, tmp_path, save_steps=3, callbacks=[StopAfter(3)])
    assert first.state.global_step == 3
    states_after_three = model_state(first.model)
    assert any(not torch.equal(states_after_three[k], straight[0][k]) for k in straight[0])  # not finished yet
    resumed = train(*clips, tmp_path, save_steps=3, resume=tmp_path / "checkpoint-3")
    assert resumed.state.global_step == TOTAL_STEPS
    assert_identical(model_state(resumed.model), straight[0])
    assert all(torch.equal(a, b) for a, b in zip(optimizer_state(resumed), straight[1]))


def test_sigkill_between_checkpoints_then_resume_is_bit_identical(clips, straight, tmp_path):
    marker = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, __file__, "--clips", str(clips[0]), "--cache", str(clips[1]), "--output-dir", str(tmp_path),
         "--hang-after", "3", "--marker", str(marker)],
        cwd=Path(__file__).parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert child.poll() is None, f"the training process died: {child.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "the training process never reached step 3"
            time.sleep(0.2)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    checkpoint = last_complete_checkpoint(tmp_path)
    assert checkpoint.name == "checkpoint-2"
    resumed = train(*clips, tmp_path, save_steps=2, resume=checkpoint)
    assert_identical(model_state(resumed.model), straight[0])
    assert all(torch.equal(a, b) for a, b in zip(optimizer_state(resumed), straight[1]))


def test_without_per_example_seeding_a_mid_epoch_resume_differs(clips, straight, tmp_path):
    reference = train(*clips, tmp_path / "straight", save_steps=3, seeding=False)
    stopped = tmp_path / "stopped"
    train(*clips, stopped, save_steps=3, callbacks=[StopAfter(3)], seeding=False)
    resumed = train(*clips, stopped, save_steps=3, resume=stopped / "checkpoint-3", seeding=False)
    reference, resumed = model_state(reference.model), model_state(resumed.model)
    assert any(not torch.equal(reference[name], resumed[name]) for name in reference)


def test_a_stream_resumed_in_its_second_pass_is_bit_identical(clips, tmp_path):
    straight = train_stream(*clips, tmp_path / "straight", save_steps=100)
    stopped = tmp_path / "stopped"
    first = train_stream(*clips, stopped, save_steps=4, callbacks=[StopAfter(4)])
    assert first.state.global_step == 4 and 1 < first.state.epoch < 2  # one batch into the second pass
    resumed = train_stream(*clips, stopped, save_steps=4, resume=stopped / "checkpoint-4")
    assert resumed.state.global_step == TOTAL_STEPS
    assert_identical(model_state(resumed.model), model_state(straight.model))
    assert straight.seeding.epoch == 1  # the second pass drew its own views


def test_a_stream_resumed_by_a_longer_run_continues_where_it_stopped(clips, tmp_path):
    first = train_stream(*clips, tmp_path, save_steps=4, max_steps=4)  # steps 1-3: pass 0; step 4: pass 1
    assert first.state.epoch == pytest.approx(1 + 1 / 4)
    resumed = train_stream(*clips, tmp_path, save_steps=4, resume=tmp_path / "checkpoint-4", max_steps=6)
    # Steps 5 and 6 are the 2nd and 3rd batches of pass 1 (skipping as if 6 steps had been asked from the
    # start would skip 2 batches, end pass 1 at step 5 and start pass 2).
    assert resumed.state.epoch == pytest.approx(1 + 3 / 6)


def test_stream_views_are_a_function_of_seed_epoch_and_clip():
    seeding = PerExampleSeededStream(lambda row: {"draw": torch.rand(4)}, seed=3)
    draws = {}
    for epoch in (0, 1):
        seeding.set_epoch(epoch)
        for name in ("a.mp4", "b.mp4"):
            out = seeding({"file_name": name})
            again = seeding({"file_name": name})
            assert torch.equal(out["draw"], again["draw"]) and out["example_seed"] == again["example_seed"]
            draws[epoch, name] = out["draw"]
    assert len({tuple(d.tolist()) for d in draws.values()}) == 4  # every (epoch, clip) draws differently


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The run that test_sigkill_between_checkpoints kills.")
    parser.add_argument("--clips", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--hang-after", type=int, required=True)
    parser.add_argument("--marker", type=Path, required=True)
    cli = parser.parse_args()
    train(cli.clips, cli.cache, cli.output_dir, save_steps=2, callbacks=[HangAfter(cli.hang_after, cli.marker)])
