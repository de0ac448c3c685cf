"""Per-stage cost of curation per video, on the real sample clips, against decoding the whole clip.

Stages timed: title matching (per title, ImageNet-1k taxonomy), probe + length
filter, the classifier filter on the first N frames (split into decoding,
image processing and the model; a randomly initialised ResNet of the paper's
size, so the cost is real though the predictions are not), and clip export
(encode_clip, 10 s at 25 fps, 256 px short side, MJPEG, the curation default). Baseline,
measured in the same process: decoding every frame of the clip to RGB once.
Then `curate` end to end on a few candidates, in this process; both executors (local worker
processes, and Ray Data on a local Ray with as many CPUs) on the same candidates, in videos/s; and the
classifier's frames/s when a forward pass holds frames of several videos (cross-video batching)
against one video's frames per pass (each video's N frames alone, N below the batch size).

    python benchmarks/curation.py           # ResNet-50, 100 frames (the paper's filter)
    python benchmarks/curation.py --quick   # ResNet-18, 16 frames, fewer repeats (about a minute)
    python benchmarks/curation.py --quick --no_ray   # without Ray installed

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from transformers import ResNetConfig, ResNetForImageClassification
from transformers.models.convnext import ConvNextImageProcessorPil

from vito_hf.curation import ClassifierFilter, CurationSettings, TitleMatcher, curate, encode_clip, imagenet1k_taxonomy
from vito_hf.data import iter_frames, probe_video
from vito_hf.curation.stages import length_rejection

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))  # the sample footage is not library code
from sample_clips import sample_clip_paths  # noqa: E402

MOUNTAIN_BIKE = 671


def timed(fn, repeats: int) -> float:
    """Median seconds of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def save_classifier(folder: Path, depth: str) -> Path:
    """A randomly initialised ResNet whose head always names 'mountain bike' (so end to end keeps videos)."""
    if depth == "resnet50":
        config = ResNetConfig(layer_type="bottleneck", depths=[3, 4, 6, 3], hidden_sizes=[256, 512, 1024, 2048])
    else:
        config = ResNetConfig(layer_type="basic", depths=[2, 2, 2, 2], hidden_sizes=[64, 128, 256, 512])
    config.num_labels = 1000
    config.id2label = {c.index: c.name for c in imagenet1k_taxonomy()}
    config.label2id = {name: index for index, name in config.id2label.items()}
    model = ResNetForImageClassification(config)
    with torch.no_grad():
        model.classifier[1].weight.zero_()
        model.classifier[1].bias.zero_()
        model.classifier[1].bias[MOUNTAIN_BIKE] = 4.0
    model.save_pretrained(folder)
    ConvNextImageProcessorPil(
        size={"shortest_edge": 224}, crop_pct=0.875, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]
    ).save_pretrained(folder)
    return folder


def random_titles(n: int, seed: int = 0) -> list[str]:
    """Titles mixing filler words with class names, a third of them naming a class."""
    rng = random.Random(seed)
    names = [name for c in imagenet1k_taxonomy() for name in c.names]
    filler = "my first trip to the best funny video of a day in life new 4k hd vlog with friends".split()
    titles = []
    for i in range(n):
        words = rng.sample(filler, 6)
        if i % 3 == 0:
            words.insert(rng.randrange(len(words)), rng.choice(names))
        titles.append(" ".join(words).title())
    return titles


def bench_clip(path: Path, classifier: ClassifierFilter, frames: int, repeats: int, workdir: Path) -> dict:
    """Each stage's median time over `repeats` calls (the model-bound ones: one call, they dominate anyway)."""
    full_decode = timed(lambda: sum(1 for _ in iter_frames(path)), repeats)
    probe = timed(lambda: length_rejection(probe_video(path), 10.0), repeats)
    decode_n = timed(lambda: list(iter_frames(path, max_frames=frames)), repeats)
    first = list(iter_frames(path, max_frames=frames))
    preprocess = timed(lambda: classifier._pixel_values(first), repeats)
    pixels = classifier._pixel_values(first).to(classifier.device)

    def forward():
        with torch.inference_mode():
            for start in range(0, len(pixels), classifier.batch_size):
                classifier.model(pixel_values=pixels[start : start + classifier.batch_size])
        if classifier.device.type == "cuda":
            torch.cuda.synchronize()

    model = timed(forward, 1)
    filter_total = timed(lambda: classifier.check(path, [MOUNTAIN_BIKE]), 1)
    def export_with(codec: str) -> float:
        target = workdir / f"{path.stem}_{codec}.mp4"
        return timed(lambda: encode_clip(path, target, duration=10.0, fps=25.0, codec=codec), repeats)

    export = export_with("mjpeg")
    export_h264 = export_with("libx264")
    info = probe_video(path)
    return {
        "clip": path.name, "duration_s": round(info.duration, 2), "size": f"{info.width}x{info.height}",
        "full_decode_ms": round(1e3 * full_decode, 1),
        "probe_length_ms": round(1e3 * probe, 2),
        "classifier_frames": len(first),
        "classifier_ms": round(1e3 * filter_total, 1),
        "classifier_decode_ms": round(1e3 * decode_n, 1),
        "classifier_preprocess_ms": round(1e3 * preprocess, 1),
        "classifier_model_ms": round(1e3 * model, 1),
        "export_ms": round(1e3 * export, 1),
        "export_libx264_ms": round(1e3 * export_h264, 1),
        "probe_vs_full_decode": round(probe / full_decode, 4),
        "classifier_vs_full_decode": round(filter_total / full_decode, 2),
        "export_vs_full_decode": round(export / full_decode, 2),
    }


def bench_end_to_end(classifier_dir: Path, frames: int, workdir: Path, copies: int) -> dict:
    candidates = workdir / "candidates"
    candidates.mkdir()
    bikes = next(p for p in sample_clip_paths() if p.name == "bikes.mp4")
    for i in range(copies):
        shutil.copyfile(bikes, candidates / f"mountain bike {i}.mp4")
    start = time.perf_counter()
    result = curate(candidates, workdir / "out", CurationSettings(classifier=classifier_dir, num_frames=frames, progress=False))
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    rerun = curate(candidates, workdir / "out", CurationSettings(classifier=classifier_dir, num_frames=frames, progress=False))
    rerun_elapsed = time.perf_counter() - start
    return {
        "videos": copies, "kept": result.kept, "seconds": round(elapsed, 2),
        "ms_per_video": round(1e3 * elapsed / copies, 1),
        "rerun_seconds": round(rerun_elapsed, 2), "rerun_executed": rerun.executed,
    }


def bench_executors(classifier_dir: Path, frames: int, workdir: Path, copies: int, workers: int) -> dict:
    """videos/s of `curate` with the local executor and with Ray Data, on the same fresh candidates."""
    import ray

    candidates = workdir / "executor_candidates"
    candidates.mkdir()
    bikes = next(p for p in sample_clip_paths() if p.name == "bikes.mp4")
    for i in range(copies):
        shutil.copyfile(bikes, candidates / f"mountain bike {i}.mp4")
    settings = CurationSettings(classifier=classifier_dir, num_frames=frames, num_workers=workers, progress=False)
    start = time.perf_counter()
    local = curate(candidates, workdir / "local", settings)
    local_s = time.perf_counter() - start
    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - start
    try:
        start = time.perf_counter()
        on_ray = curate(candidates, workdir / "ray", replace(settings, executor="ray"))
        ray_s = time.perf_counter() - start
    finally:
        ray.shutdown()
    if on_ray.kept != local.kept:
        raise RuntimeError(f"the executors disagree: local kept {local.kept}, ray {on_ray.kept}")
    return {
        "videos": copies, "workers": workers, "kept": local.kept,
        "local_videos_per_s": round(copies / local_s, 3), "ray_videos_per_s": round(copies / ray_s, 3),
        "ray_init_s": round(init_s, 2), "ray_vs_local": round(local_s / ray_s, 3),
    }


def bench_cross_video(classifier: ClassifierFilter, frames: int, videos: int, batch_size: int, repeats: int) -> dict:
    """Classifier frames/s (model only, on decoded pixels): each video's frames alone vs. batches across videos."""
    bikes = next(p for p in sample_clip_paths() if p.name == "bikes.mp4")
    classifier.batch_size = batch_size
    pixels = [classifier.decode(bikes)[:frames] for _ in range(videos)]
    total = sum(len(p) for p in pixels)
    per_video = timed(lambda: [classifier.predict_pixels([p]) for p in pixels], repeats)
    cross = timed(lambda: classifier.predict_pixels(pixels), repeats)
    return {
        "videos": videos, "frames_per_video": frames, "batch_size": batch_size,
        "per_video_frames_per_s": round(total / per_video, 1), "cross_video_frames_per_s": round(total / cross, 1),
        "cross_vs_per_video": round(per_video / cross, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no_ray", action="store_true", help="skip the Ray executor (when Ray is not installed)")
    args = parser.parse_args()
    model_name, frames, repeats, copies, titles = (
        ("resnet18", 16, 2, 2, 2_000) if args.quick else ("resnet50", 100, 3, 3, 20_000)
    )
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        classifier_dir = save_classifier(workdir / "classifier", model_name)
        classifier = ClassifierFilter(classifier_dir, imagenet1k_taxonomy(), num_frames=frames)
        matcher = TitleMatcher(imagenet1k_taxonomy())
        title_list = random_titles(titles)
        match_s = timed(lambda: [matcher.match(t) for t in title_list], 1)
        matched = sum(1 for t in title_list if matcher.match(t))
        clips = sample_clip_paths() if not args.quick else sample_clip_paths()[:2]
        per_clip = []
        for path in clips:
            per_clip.append(bench_clip(path, classifier, frames, repeats, workdir))
            print(json.dumps(per_clip[-1]), flush=True)
        end_to_end = bench_end_to_end(classifier_dir, frames, workdir, copies)
        print(json.dumps({"end_to_end": end_to_end}), flush=True)
        cross = bench_cross_video(classifier, frames, videos=8, batch_size=4 * frames, repeats=repeats)
        print(json.dumps({"cross_video_batching": cross}), flush=True)
        executors = None
        if not args.no_ray:
            executors = bench_executors(classifier_dir, frames, workdir, copies=4 if args.quick else 16, workers=2)
            print(json.dumps({"executors": executors}), flush=True)
    bikes = next(c for c in per_clip if c["clip"] == "bikes.mp4")
    summary = {
        "bench": "curation",
        "quick": args.quick,
        "classifier": model_name,
        "classifier_frames": frames,
        "device": str(classifier.device),
        "threads": torch.get_num_threads(),
        "match_us_per_title": round(1e6 * match_s / len(title_list), 1),
        "titles_matched_fraction": round(matched / len(title_list), 3),
        "bikes_full_decode_ms": bikes["full_decode_ms"],
        "bikes_probe_length_ms": bikes["probe_length_ms"],
        "bikes_classifier_ms": bikes["classifier_ms"],
        "bikes_export_ms": bikes["export_ms"],
        "bikes_classifier_vs_full_decode": bikes["classifier_vs_full_decode"],
        "bikes_export_vs_full_decode": bikes["export_vs_full_decode"],
        "end_to_end_ms_per_video": end_to_end["ms_per_video"],
        "rerun_seconds": end_to_end["rerun_seconds"],
        "classifier_per_video_frames_per_s": cross["per_video_frames_per_s"],
        "classifier_cross_video_frames_per_s": cross["cross_video_frames_per_s"],
        "classifier_cross_vs_per_video": cross["cross_vs_per_video"],
        **({f"executors_{k}": v for k, v in executors.items()} if executors else {}),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
