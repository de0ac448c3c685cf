"""The paper's recipe at batch 4,096 (issue 11.4): `--recipe paper` checks processes x per-device batch x
accumulation, sets LARS at 0.3 x B/256, 10 warm-up and 300 ImageNet epochs; the 8- and 32-GPU launches of
training_scripts/ give 4,096 without editing; LARS defaults to the paper's base learning rate."""

import os
import re
import runpy
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from torch import nn
from transformers import get_scheduler

from vito_hf.training import VitoTrainingArguments, build_optimizer
from vito_hf.training.pretraining import describe_batch
from vito_hf.training.recipes import IMAGENET_EPOCH_EXAMPLES, plan_recipe

REPOSITORY = Path(__file__).resolve().parents[2]
SLURM = REPOSITORY / "training_scripts" / "slurm_paper_recipe.sh"


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def slurm_commands(nodes: int) -> list[list[str]]:
    """Every node's command as the Slurm script would run it (dry run; no Slurm needed)."""
    env = {**os.environ, "SLURM_NNODES": str(nodes), "VITO_DRY_RUN": "1"}
    completed = subprocess.run(["bash", str(SLURM), "runs/r50", "videonet/"], cwd=REPOSITORY, env=env,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return [shlex.split(line) for line in completed.stdout.splitlines()]


@pytest.mark.parametrize("nodes, gpus", [(1, 8), (4, 32)])
def test_the_8_and_32_gpu_launches_give_4096(nodes, gpus, capsys):
    commands = slurm_commands(nodes)
    assert [int(flag(c, "--machine_rank")) for c in commands] == list(range(nodes))
    config = yaml.safe_load((REPOSITORY / flag(commands[0], "--config_file")).read_text())
    assert (config["num_machines"], config["num_processes"]) == (nodes, gpus)
    per_device = int(flag(commands[0], "--per_device_train_batch_size"))
    accumulation = int(flag(commands[0], "--gradient_accumulation_steps"))
    assert config["num_processes"] * per_device * accumulation == 4096
    plan = plan_recipe(flag(commands[0], "--recipe"), config["num_processes"], per_device, accumulation)
    assert (plan.global_batch_size, plan.max_steps, plan.warmup_steps) == (4096, 93_750, 3_125)
    assert plan.learning_rate == pytest.approx(4.8)
    assert plan.negatives_batch_size == gpus * per_device

    # The script's training flags are run_pretraining's own: parsed in this single process they reach the batch check.
    script_args = commands[0][commands[0].index("training_scripts/run_pretraining.py") + 1:]
    main = runpy.run_path(str(REPOSITORY / "training_scripts/run_pretraining.py"), run_name="cli_under_test")["main"]
    with pytest.raises(SystemExit) as exited:
        main([*script_args, "--use_cpu"])
    error = capsys.readouterr().err
    assert exited.value.code == 2
    assert f"gives 1 x {per_device} x {accumulation} = {per_device * accumulation}" in error


def test_the_slurm_script_refuses_other_node_counts():
    env = {**os.environ, "SLURM_NNODES": "3", "VITO_DRY_RUN": "1"}
    completed = subprocess.run(["bash", str(SLURM), "out", "data"], env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2 and "1 or 4 nodes" in completed.stderr


def test_recipe_paper_sets_steps_and_the_lr_schedule(tmp_path):
    args = VitoTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", recipe="paper",
                                 per_device_train_batch_size=1024, gradient_accumulation_steps=4)
    steps = IMAGENET_EPOCH_EXAMPLES * 300 // 4096
    assert (args.max_steps, args.warmup_steps, args.optimizer_name, args.weight_decay) == (steps, 3125, "lars", 1e-6)
    assert args.learning_rate == pytest.approx(0.3 * 4096 / 256)
    optimizer = build_optimizer(nn.Linear(4, 4), args.optimizer_name, lr=args.learning_rate,
                                weight_decay=args.weight_decay)
    scheduler = get_scheduler(args.lr_scheduler_type, optimizer, num_warmup_steps=args.get_warmup_steps(args.max_steps),
                              num_training_steps=args.max_steps)
    rate = lambda step: optimizer.defaults["lr"] * scheduler.lr_lambdas[0](step)  # noqa: E731  (LambdaLR)
    assert scheduler.get_last_lr()[0] == rate(0) == 0.0
    assert rate(1562) == pytest.approx(4.8 * 1562 / 3125)  # linear warm-up over 10 ImageNet epochs
    assert rate(3125) == pytest.approx(4.8)
    assert rate(3125 + (steps - 3125) // 2) == pytest.approx(2.4, rel=1e-4)  # cosine: half-way down at mid-decay
    assert rate(steps) == pytest.approx(0.0, abs=1e-9)
    lines = describe_batch(args)
    assert "93,750 steps = 300 ImageNet epochs" in lines[0] and "3,125 steps (10 ImageNet epochs)" in lines[0]
    assert "draws its negatives from its own 1,024 clips only" in lines[0]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--per_device_train_batch_size", "64"], "needs a global batch of 4096"),
        (["--per_device_train_batch_size", "4096", "--max_steps", "10"], "drop --max_steps"),
        (["--per_device_train_batch_size", "4096", "--optimizer_name", "adamw"], "--optimizer_name adamw"),
        (["--per_device_train_batch_size", "4096", "--learning_rate", "1.0"], "a learning rate"),
    ],
    ids=["batch", "max-steps", "optimizer", "learning-rate"],
)
def test_recipe_paper_argument_errors(tmp_path, monkeypatch, capsys, argv, expected):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"\x00" * 64)
    monkeypatch.chdir(tmp_path)
    main = runpy.run_path(str(REPOSITORY / "training_scripts/run_pretraining.py"), run_name="cli_under_test")["main"]
    with pytest.raises(SystemExit) as exited:
        main(["--output_dir", "run", "--data_dir", str(clips), "--use_cpu", "--recipe", "paper", *argv])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exited.value.code == 2 and len(lines) == 1 and expected in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_lars_defaults_to_the_papers_base_learning_rate(tmp_path):
    common = dict(output_dir=str(tmp_path), use_cpu=True, report_to="none", per_device_train_batch_size=64)
    lars = VitoTrainingArguments(**common)
    assert (lars.base_learning_rate, lars.learning_rate) == (0.3, pytest.approx(0.3 * 64 / 256))
    assert VitoTrainingArguments(**common, learning_rate=0.5).learning_rate == 0.5
    adamw = VitoTrainingArguments(**common, optimizer_name="adamw")
    assert (adamw.base_learning_rate, adamw.learning_rate) == (None, 5e-5)
    accumulated = VitoTrainingArguments(**common, gradient_accumulation_steps=2)
    assert describe_batch(accumulated) == [
        "gradient accumulation over 2 micro-batches: each micro-batch draws its negatives from its own 64 clips only, "
        "not from the whole global batch"
    ]


def test_readme_paper_recipe_lines_match_the_recipe():
    readme = (REPOSITORY / "README.md").read_text()
    section = readme[readme.index("# The paper recipe (--recipe paper)"):]
    section = section[: section.index("```")]
    plan_8 = plan_recipe("paper", 8, 128, 4)
    numbers = {f"{plan_8.max_steps:,}", f"{plan_8.warmup_steps:,}", f"{plan_8.learning_rate:g}",
               f"{plan_8.negatives_batch_size:,}"}
    assert all(number in section for number in numbers), numbers
    assert "--per_device_train_batch_size 128 --gradient_accumulation_steps 4" in section
    assert re.search(r"8 x 128 x 4 accumulation; 4 nodes of 8 GPUs: 32 x 128 x 1", section)


def test_an_accumulating_run_says_in_its_log_summary_and_card_that_negatives_are_per_micro_batch(tmp_path):
    import json
    import sys

    from training_helpers import write_real_clips

    clips = write_real_clips(tmp_path / "clips")
    output_dir = tmp_path / "run"
    command = [
        sys.executable, str(REPOSITORY / "training_scripts/run_pretraining.py"), "--output_dir", str(output_dir),
        "--data_dir", str(clips), "--cache_dir", str(tmp_path / "cache"), "--preset", "tiny", "--image_size", "32",
        "--window_seconds", "1.0", "--repeat_clips", "2", "--max_steps", "1", "--per_device_train_batch_size", "2",
        "--gradient_accumulation_steps", "2", "--optimizer_name", "adamw", "--learning_rate", "1e-3",
        "--use_cpu", "--disable_tqdm", "true", "--report_to", "none", "--seed", "1",
    ]
    completed = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "each micro-batch draws its negatives from its own 2 clips only" in completed.stderr
    summary = json.loads((output_dir / "encoder" / "pretraining_summary.json").read_text())["optimization"]
    assert (summary["negatives_from"], summary["negatives_per_micro_batch"]) == ("each micro-batch only", 2)
    assert summary["imagenet_epochs"] == pytest.approx(1 * 4 / IMAGENET_EPOCH_EXAMPLES, rel=1e-5)  # 1 step of 4 clips
    card = (output_dir / "encoder" / "README.md").read_text()
    assert "| negatives | each micro-batch only: 2 clips per InfoNCE batch" in card
