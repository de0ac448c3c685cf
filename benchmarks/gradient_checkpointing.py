"""Benchmark: memory saved by activation checkpointing for the `swin-s` preset, in one VITO pretraining step.

Each side runs in a fresh process (a process's peak memory cannot be un-seen): build `VitoForPreTraining` from
the preset, draw the same batch of clips, then one training step (online forward with gradients, target
forward, backward) with and without `activation_checkpointing_enable()`. Measured on the CPU, as the
resident-set high-water mark of the step over the resident memory before it (Linux `/proc/self/clear_refs`
resets the mark), with glibc told to map every large block and return it on free, so resident memory follows
live tensors. The losses of both sides are compared (the same computation), and the step time of each side is
reported beside the memory (checkpointing recomputes the forward). The last line printed is one JSON object.

    python benchmarks/gradient_checkpointing.py            # 8 clips x 3 views at 224 px
    python benchmarks/gradient_checkpointing.py --quick    # 1 clip x 3 views at 224 px
"""

import argparse
import json
import os
import subprocess
import sys
import time

# Large blocks come from mmap and go back to the kernel when freed: resident memory tracks live tensors.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def resident_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_KIB


def peak_resident_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def measure_one_side(preset: str, clips: int, views: int, image_size: int, checkpointing: bool) -> dict:
    """One training step in this process; returns its peak memory over the memory before it, and its time."""
    import torch

    from vito_hf import VitoForPreTraining, load_preset

    torch.manual_seed(0)
    model = VitoForPreTraining(load_preset(preset)).train()
    if checkpointing:
        model.activation_checkpointing_enable()
    pixel_values = torch.randn(clips, views, 3, image_size, image_size, generator=torch.Generator().manual_seed(1))
    reset_peak()
    before = resident_kib()  # sampled after the reset, so the high-water mark is at least this
    start = time.perf_counter()
    torch.manual_seed(2)  # the same drop-path draws on both sides
    loss = model(pixel_values).loss
    loss.backward()
    seconds = time.perf_counter() - start
    return {
        "step_peak_mib": (peak_resident_kib() - before) / 1024,
        "step_seconds": seconds,
        "loss": loss.item(),
        "checkpointing_active": model.is_activation_checkpointing,
    }


def run_side(args: argparse.Namespace, checkpointing: bool) -> dict:
    command = [
        sys.executable, os.path.abspath(__file__), "--side", "checkpointed" if checkpointing else "plain",
        "--preset", args.preset, "--clips", str(args.clips), "--views", str(args.views),
        "--image-size", str(args.image_size),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **MALLOC_ENV}, check=False)
    if completed.returncode != 0:
        side = "checkpointed" if checkpointing else "plain"
        raise RuntimeError(f"the {side} side failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 clip instead of 8")
    parser.add_argument(
        "--preset", default="swin-s", help="a preset name or a VitoConfig JSON path (its backbone must checkpoint)"
    )
    parser.add_argument("--clips", type=int, default=None, help="clips per batch (default 8, or 1 with --quick)")
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--side", choices=["plain", "checkpointed"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clips is None:
        args.clips = 1 if args.quick else 8
    for name in ("clips", "views", "image_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.side is not None:
        checkpointing = args.side == "checkpointed"
        print(json.dumps(measure_one_side(args.preset, args.clips, args.views, args.image_size, checkpointing)))
        return

    plain = run_side(args, checkpointing=False)
    checkpointed = run_side(args, checkpointing=True)
    plain_mib, checkpointed_mib = plain["step_peak_mib"], checkpointed["step_peak_mib"]
    print(json.dumps({
        "bench": "gradient_checkpointing",
        "mode": "quick" if args.quick else "full",
        "preset": args.preset,
        "batch": {
            "clips": args.clips, "views": args.views, "images": args.clips * args.views, "image_size": args.image_size
        },
        "device": "cpu",
        "step_peak_mib": {"plain": round(plain_mib, 1), "checkpointed": round(checkpointed_mib, 1)},
        "memory_saved_mib": round(plain_mib - checkpointed_mib, 1),
        "memory_ratio": round(checkpointed_mib / plain_mib, 3) if plain_mib > 0 else None,
        "step_seconds": {
            "plain": round(plain["step_seconds"], 2), "checkpointed": round(checkpointed["step_seconds"], 2)
        },
        "time_ratio": round(checkpointed["step_seconds"] / plain["step_seconds"], 3),
        "checkpointing_active": checkpointed["checkpointing_active"] and not plain["checkpointing_active"],
        "losses_equal": abs(plain["loss"] - checkpointed["loss"]) <= 1e-4 * max(1.0, abs(plain["loss"])),
    }))


if __name__ == "__main__":
    main()
