"""VitoTrainer's step time and peak memory against a minimal hand-written PyTorch loop doing the same work.

Same model, same views (pre-made real-sized batches of normalised views served by a Dataset), same batch,
fused AdamW, the same EMA update (`update_target`, `torch._foreach_lerp_`), on the same CPU. Steps alternate
inside one process: a callback runs one minimal-loop step (on its own copy of the model) right after each
Trainer step, so both sides see the same allocator state and machine load. Each Trainer step is compared
with the mean of the two loop steps around it (one just before, one just after), which cancels drift and
any advantage of going first; the ratio reported is the median of these paired ratios, for wall time and
for process CPU time (on a shared machine the CPU time is the steadier of the two). The median paired
difference is reported too: the Trainer's fixed per-step overhead in ms. The same estimator applied to two
identical minimal loops (an A/A run) gives the benchmark's own noise floor at that step size: a Trainer ratio
within it cannot be told from 1. Peak memory is measured in fresh
subprocesses (Trainer-only and loop-only, two at a time, before any timing), as the rise of resident
memory over its level before the first step. Goal: step-time ratio <= 1.05 at the paper preset's step
size (ResNet-50 at 224 px, one clip per step: the shortest such step, where a fixed overhead weighs most)
and at the tiny preset's (64 px, 32 clips). The glibc settings of
`../shared/reference/stack-facts.md` are set for every measuring process.

    python benchmarks/train_step.py [--quick]      # prints one JSON object as its last line
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from allocator import reexec_with_malloc_tuning

reexec_with_malloc_tuning()

import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from vito_hf import VitoForPreTraining, load_preset  # noqa: E402
from vito_hf.training import VitoTrainer, VitoTrainingArguments  # noqa: E402

SETTINGS = {
    # preset: (image size, clips per step, measured steps, quick measured steps, quick clips per step)
    "tiny": (64, 32, 40, 12, 32),
    "resnet50": (224, 1, 40, 2, 1),
}
LEARNING_RATE = 1e-3


class FixedViews(torch.utils.data.Dataset):
    """`steps` batches of fixed normalised views: the loader costs the same on both sides and next to nothing."""

    def __init__(self, batch: torch.Tensor, steps: int):
        self.batch, self.steps = batch, steps

    def __len__(self) -> int:
        return len(self.batch) * self.steps

    def __getitem__(self, index: int) -> dict:
        return {"pixel_values": self.batch[index % len(self.batch)]}


def warmup_steps(quick: bool) -> int:
    return 1 if quick else 2


def clips_per_step(preset: str, quick: bool) -> int:
    return SETTINGS[preset][4] if quick else SETTINGS[preset][1]


def make_batch(preset: str, quick: bool) -> torch.Tensor:
    image_size, clips = SETTINGS[preset][0], clips_per_step(preset, quick)
    generator = torch.Generator().manual_seed(0)
    return torch.randn(clips, 3, 3, image_size, image_size, generator=generator)


def make_model(preset: str) -> VitoForPreTraining:
    torch.manual_seed(0)
    return VitoForPreTraining(load_preset(preset))


class MinimalLoop:
    """The baseline: DataLoader -> forward -> backward -> fused AdamW -> zero grads -> EMA."""

    def __init__(self, model: VitoForPreTraining, dataset: FixedViews, batch_size: int):
        self.model = model.train()
        self.optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE, weight_decay=0.0, fused=True
        )
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
        self.batches = iter(self.loader)

    def step(self) -> None:
        try:
            batch = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            batch = next(self.batches)
        loss = self.model(pixel_values=batch["pixel_values"]).loss
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.model.update_target(0.99)


def trainer_args(output_dir: Path, batch_size: int, steps: int) -> VitoTrainingArguments:
    return VitoTrainingArguments(
        output_dir=str(output_dir),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        optimizer_name="adamw",
        learning_rate=LEARNING_RATE,
        weight_decay=0.0,
        lr_scheduler_type="constant",
        logging_steps=10_000,
        save_strategy="no",
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        dataloader_drop_last=True,
    )


def clocks() -> tuple[float, float]:
    """Wall time and this process's CPU time (all threads): the second is less sensitive to other load."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    now = clocks()
    return now[0] - start[0], now[1] - start[1]


def timed(step) -> tuple[float, float]:
    start = clocks()
    step()
    return since(start)


class Interleave(TrainerCallback):
    """After each Trainer step, one minimal-loop step; both are timed separately (wall and CPU time)."""

    def __init__(self, loop: MinimalLoop):
        self.loop = loop
        self.trainer_times: list[tuple[float, float]] = []
        self.loop_times: list[tuple[float, float]] = []
        self.mark = None

    def on_step_end(self, args, state, control, **kwargs):
        if self.mark is not None:
            self.trainer_times.append(since(self.mark))
        self.loop_times.append(timed(self.loop.step))
        self.mark = clocks()


def paired(first: list, second: list, warmup: int, clock: int) -> dict:
    """Step j+1 of `first` against the mean of the `second` steps just before (j) and just after (j+1) it.

    `first[j]` is the step run between `second[j]` and `second[j + 1]`.
    """
    first, second = [t[clock] for t in first], [t[clock] for t in second]
    pairs = [(first[j], (second[j] + second[j + 1]) / 2) for j in range(warmup, min(len(first), len(second) - 1))]
    if not pairs:
        raise RuntimeError("no measured step pairs: raise the number of steps.")
    return {
        "first_ms": statistics.median(t for t, _ in pairs) * 1e3,
        "second_ms": statistics.median(m for _, m in pairs) * 1e3,
        "ratio": statistics.median(t / m for t, m in pairs),
        "overhead_ms": statistics.median(t - m for t, m in pairs) * 1e3,
        "pairs": len(pairs),
    }


def noise_floor(preset: str, quick: bool, pairs: int, warmup: int) -> float:
    """The paired ratio of two identical minimal loops stepped alternately (an A/A run)."""
    clips = clips_per_step(preset, quick)
    dataset = FixedViews(make_batch(preset, quick), pairs + warmup + 1)
    first, second = MinimalLoop(make_model(preset), dataset, clips), MinimalLoop(make_model(preset), dataset, clips)
    first_times, second_times = [], [timed(second.step)]  # as in the Trainer run: second, first, second, ...
    for _ in range(pairs + warmup):
        first_times.append(timed(first.step))
        second_times.append(timed(second.step))
    return paired(first_times, second_times, warmup, 0)["ratio"]


def time_preset(preset: str, quick: bool, work_dir: Path) -> dict:
    clips, measured = clips_per_step(preset, quick), SETTINGS[preset][3 if quick else 2]
    warmup = warmup_steps(quick)
    batch = make_batch(preset, quick)
    total = measured + warmup + 1
    dataset = FixedViews(batch, total)
    interleave = Interleave(MinimalLoop(make_model(preset), dataset, clips))
    trainer = VitoTrainer(
        model=make_model(preset), args=trainer_args(work_dir / preset, clips, total), train_dataset=dataset,
        callbacks=[interleave],
    )
    trainer.train()
    wall = paired(interleave.trainer_times, interleave.loop_times, warmup, 0)
    cpu = paired(interleave.trainer_times, interleave.loop_times, warmup, 1)
    return {
        "image_size": SETTINGS[preset][0],
        "clips_per_step": clips,
        "warmup_steps": warmup,
        "view_images_per_step": clips * 3,
        "measured_pairs": wall["pairs"],
        "trainer_step_ms": round(wall["first_ms"], 2),
        "minimal_loop_step_ms": round(wall["second_ms"], 2),
        "ratio_vs_minimal_loop": round(wall["ratio"], 4),
        "trainer_overhead_ms": round(wall["overhead_ms"], 2),
        "a_a_ratio": round(noise_floor(preset, quick, wall["pairs"], warmup), 4),
        "trainer_step_cpu_ms": round(cpu["first_ms"], 2),
        "minimal_loop_step_cpu_ms": round(cpu["second_ms"], 2),
        "cpu_time_ratio_vs_minimal_loop": round(cpu["ratio"], 4),
    }


def resident_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure_memory(preset: str, side: str, steps: int, quick: bool, work_dir: Path) -> dict:
    """Run one side alone (in a fresh process) and report its resident-memory rise over the run."""
    clips = clips_per_step(preset, quick)
    dataset = FixedViews(make_batch(preset, quick), steps)
    model = make_model(preset)
    if side == "trainer":
        trainer = VitoTrainer(model=model, args=trainer_args(work_dir, clips, steps), train_dataset=dataset)
        before = resident_kib("VmRSS")
        trainer.train()
    else:
        loop = MinimalLoop(model, dataset, clips)
        before = resident_kib("VmRSS")
        for _ in range(steps):
            loop.step()
    return {"before_mib": before / 1024, "peak_mib": resident_kib("VmHWM") / 1024}


def memory_preset(preset: str, quick: bool, work_dir: Path) -> dict:
    """Both sides at once, each in its own fresh process (memory does not depend on sharing the cores)."""
    steps = 2 if quick else 6
    processes = {
        side: subprocess.Popen(
            [sys.executable, __file__, "--memory-side", side, "--preset", preset, "--steps", str(steps),
             "--work-dir", str(work_dir / f"memory-{preset}-{side}")] + (["--quick"] if quick else []),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for side in ("trainer", "minimal")
    }
    result = {}
    for side, process in processes.items():
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"the {side} memory run of {preset} failed:\n{stderr[-3000:]}")
        result[side] = json.loads(stdout.strip().splitlines()[-1])
    rise = {side: values["peak_mib"] - values["before_mib"] for side, values in result.items()}
    return {
        "peak_rise_trainer_mib": round(rise["trainer"], 1),
        "peak_rise_minimal_mib": round(rise["minimal"], 1),
        "peak_mem_ratio": round(rise["trainer"] / rise["minimal"], 4),
        "peak_rss_trainer_mib": round(result["trainer"]["peak_mib"], 1),
        "peak_rss_minimal_mib": round(result["minimal"]["peak_mib"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Fewer steps (about a minute on 2 cores).")
    parser.add_argument("--presets", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/vito_train_step_bench"))
    parser.add_argument("--memory-side", choices=["trainer", "minimal"], help=argparse.SUPPRESS)
    parser.add_argument("--preset", choices=list(SETTINGS), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_side:
        print(json.dumps(measure_memory(args.preset, args.memory_side, args.steps, args.quick, args.work_dir)))
        return

    memory = {preset: memory_preset(preset, args.quick, args.work_dir) for preset in args.presets}  # before timing
    results = {}
    for preset in args.presets:
        results[preset] = {**time_preset(preset, args.quick, args.work_dir), **memory[preset]}
        print(f"{preset}: {json.dumps(results[preset])}", file=sys.stderr)
    print(
        json.dumps(
            {
                "bench": "train_step",
                "quick": args.quick,
                "threads": torch.get_num_threads(),
                "ratio_vs_minimal_loop": {preset: r["ratio_vs_minimal_loop"] for preset, r in results.items()},
                "cpu_time_ratio_vs_minimal_loop": {
                    preset: r["cpu_time_ratio_vs_minimal_loop"] for preset, r in results.items()
                },
                "trainer_overhead_ms": {preset: r["trainer_overhead_ms"] for preset, r in results.items()},
                "a_a_ratio": {preset: r["a_a_ratio"] for preset, r in results.items()},
                "peak_mem_ratio": {preset: r["peak_mem_ratio"] for preset, r in results.items()},
                "presets": results,
            }
        )
    )


if __name__ == "__main__":
    main()
