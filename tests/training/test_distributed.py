"""Two processes under `accelerate launch` (gloo, CPU) with B clips each equal one process with 2B clips.

Three LARS steps of VitoTrainer on real clips and the real view pipeline: the logged losses and the final
online and target weights (with batch-norm statistics) agree within float tolerance. That holds only if the
negatives are the targets of the whole global batch (gathered across processes, positives offset by rank),
batch norm normalises with the global batch's statistics (the all-reduce batch norm, in the online AND the
target network), the EMA moves the same way on every process, and the two processes read disjoint halves of
the global batch. Per-example seeding gives each clip the same views whichever process reads it.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vito_hf.data import PerExampleSeededDataset, seeded_pretraining_data
from vito_hf.training import VitoTrainer
from training_helpers import collator, cpu_args, model_state, tiny_model, views_dataset, write_real_clips

REPOSITORY = Path(__file__).resolve().parents[2]
ACCELERATE_CONFIG = REPOSITORY / "training_scripts" / "accelerate" / "cpu_2proc.yaml"
STEPS = 3
PER_PROCESS_BATCH = 4


def run(clips: Path, cache: Path, output_dir: Path, batch_size: int):
    """The run both sides make; returns the trainer (on every process)."""
    model = tiny_model(seed=0)
    args = cpu_args(output_dir, max_steps=STEPS, per_device_train_batch_size=batch_size, warmup_steps=1, seed=3)
    dataset = PerExampleSeededDataset(views_dataset(clips, cache), seed=args.seed, repeats=3)
    trainer = VitoTrainer(model=model, args=args, **seeded_pretraining_data(dataset, dataset, collator()).trainer_kwargs())
    trainer.train()
    return trainer


def losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return write_real_clips(tmp_path_factory.mktemp("distributed") / "clips")


def test_two_processes_with_b_equal_one_process_with_2b(clips, tmp_path):
    result = tmp_path / "two_processes"
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ACCELERATE_CONFIG),
         "--main_process_port", str(29600 + os.getpid() % 300),
         __file__, "--clips", str(clips), "--cache", str(tmp_path / "cache"), "--output-dir", str(result)],
        cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    distributed = torch.load(result / "state.pt")
    distributed_losses = json.loads((result / "losses.json").read_text())

    single = run(clips, tmp_path / "cache_single", tmp_path / "one_process", batch_size=2 * PER_PROCESS_BATCH)
    expected = model_state(single.model)

    assert distributed_losses == pytest.approx(losses(single), rel=1e-5)
    assert distributed.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.allclose(distributed[name].double(), tensor.double(), rtol=1e-4, atol=1e-5), name
    # The weights moved: the comparison is not between two untouched models.
    untouched = model_state(tiny_model(seed=0))
    name = "target.projector.dense_in.weight"
    assert not torch.allclose(expected[name], untouched[name])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="One process of the 2-process run (started by accelerate launch).")
    parser.add_argument("--clips", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    cli = parser.parse_args()
    rank = int(os.environ.get("RANK", "0"))
    trainer = run(cli.clips, cli.cache / f"rank{rank}", cli.output_dir, batch_size=PER_PROCESS_BATCH)
    if trainer.args.world_size != 2:
        raise SystemExit(f"expected 2 processes, got {trainer.args.world_size}")
    if rank == 0:
        torch.save(model_state(trainer.model), cli.output_dir / "state.pt")
        (cli.output_dir / "losses.json").write_text(json.dumps(losses(trainer)))
    # Both ranks leave together and close gloo explicitly: a rank that exits with the group still open can abort
    # in gloo's threads at interpreter exit ("terminate called without an active exception", seen under load).
    trainer.accelerator.wait_for_everyone()
    torch.distributed.destroy_process_group()
