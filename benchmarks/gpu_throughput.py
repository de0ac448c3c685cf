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

    python benchmarks/gpu_throughput.py                 # GPU: ResNet-50 at 224, 64 clips (192 views) per step
    python benchmarks/gpu_throughput.py --quick         # CPU or GPU smoke run (CPU: tiny preset at 64 px)

Prints one JSON object as its last line. On an H100 the default run takes about 2 minutes.
"""

import argparse
import json
import statistics
import tempfile
import time

import torch
from transformers import ResNetConfig, ResNetForImageClassification, TrainerCallback

from vito_hf import VitoForPreTraining, load_preset
from vito_hf.data import DataArguments
from vito_hf.training import VitoTrainer, VitoTrainingArguments


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
    parser.add_argument("--compile", action="store_true", help="torch.compile both models (adds compile time).")
    return parser.parse_args()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Side:
    """One model + fused AdamW + its step function, timed over rounds."""

    def __init__(self, name: str, model: torch.nn.Module, step, device: torch.device, compile_model: bool):
        self.name = name
        self.model = model
        self.forward = torch.compile(model) if compile_model else model
        self.optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=device.type in ("cuda", "cpu")
        )
        self.step_fn = step
        self.times: list[float] = []

    def run(self, steps: int, device: torch.device, record: bool) -> None:
        synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            self.step_fn(self)
        synchronize(device)
        if record:
            self.times.append((time.perf_counter() - start) / steps)


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

    def vito_step(side: Side) -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=bf16):
            loss = side.forward(pixel_values=pixel_values).loss
        loss.backward()
        side.optimizer.step()
        side.optimizer.zero_grad(set_to_none=True)
        side.model.update_target(0.996)

    def supervised_step(side: Side) -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=bf16):
            loss = side.forward(pixel_values=images, labels=labels).loss
        loss.backward()
        side.optimizer.step()
        side.optimizer.zero_grad(set_to_none=True)

    sides = [
        Side("vito", vito, vito_step, device, args.compile),
        Side("supervised", supervised, supervised_step, device, args.compile),
    ]
    peak_memory = {}
    for side in sides:
        if on_gpu:
            torch.cuda.reset_peak_memory_stats(device)
        side.run(2, device, record=False)  # warm-up (and compilation)
        if on_gpu:
            peak_memory[side.name] = torch.cuda.max_memory_allocated(device) / 2**30
    for _ in range(rounds):
        for side in sides:
            side.run(steps, device, record=True)
    vito_s = statistics.median(sides[0].times)
    supervised_s = statistics.median(sides[1].times)

    trainer_s = time_trainer(config, pixel_values, clips, steps * rounds, device, bf16, channels_last)

    view_images = clips * views
    result = {
        "bench": "gpu_throughput",
        "quick": args.quick,
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "preset": preset,
        "image_size": size,
        "clips_per_step": clips,
        "view_images_per_step": view_images,
        "bf16": bf16,
        "channels_last": channels_last,
        "compiled": args.compile,
        "vito_step_ms": round(vito_s * 1e3, 2),
        "vito_view_images_per_s": round(view_images / vito_s, 1),
        "supervised_step_ms": round(supervised_s * 1e3, 2),
        "supervised_images_per_s": round(view_images / supervised_s, 1),
        "vito_over_supervised_throughput": round(supervised_s / vito_s, 4),
        "vito_trainer_step_ms": round(trainer_s * 1e3, 2),
        "vito_trainer_view_images_per_s": round(view_images / trainer_s, 1),
        "trainer_over_loop_step_time": round(trainer_s / vito_s, 4),
    }
    if peak_memory:
        result.update({f"peak_memory_gib_{name}": round(value, 2) for name, value in peak_memory.items()})
    print(json.dumps(result))


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
