"""Benchmark: the evaluation suites' image path against the bare forward pass, and the corruptions suite before and
after batched preprocessing.

1. Per preset (``tiny`` at 64 px, as the study evaluates it; ``small`` at 224 px, 112 with ``--quick``): the time
   per image of what a suite does with its images (uint8 Fashion-MNIST test items resized to the input size with
   ``rgb_at_size``, then ``extract_features``: preparation on a worker thread, forward, pooled features), against
   the bare forward on the very same ``pixel_values`` batches prepared beforehand. Goal: suite / forward <= 1.2.
   Both preprocessing paths are timed: batched tensors (the default) and the image processor image by image
   (``use_image_processor()``, the path before), and the probe suite's path from a `datasets` split is reported too.
2. The corruptions suite (``quick``, the tiny preset, every corruption at severity 3, the carphone shift) end to
   end, before (``use_image_processor()``) and after, with the corruption cache warm (filled by an untimed first
   run, whose time is reported as the cold run), so the difference is the preparation of the images.

A/B runs alternate inside one process, order flipped every repetition, after a warm-up; figures are medians, the
ratios medians of per-repetition ratios. The model is randomly initialised (speed does not depend on the weights);
the two paths' features are checked equal before anything is timed. The last line printed is one JSON object.

    python benchmarks/evaluation.py            # tiny and small presets, 512 images, 5 repetitions, suite run 4 times
    python benchmarks/evaluation.py --quick    # tiny and small (112 px), 256 images, 3 repetitions, suite run twice
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vito_hf import VitoModel, load_preset
from vito_hf.evaluation import evaluation_processor, extract_features, load_image_dataset
from vito_hf.evaluation.batched_inputs import use_image_processor
from vito_hf.evaluation.suites.corruptions import run_corruptions_suite
from vito_hf.evaluation.features import images_to_pixel_values
from vito_hf.evaluation.image_inputs import rgb_at_size

RATIO_GOAL = 1.2
"""Suite time per image over bare-forward time per image, at most."""


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def median_ratio(functions: dict, baseline: str, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds of each function and median per-repetition ratio to ``baseline``, order rotated each time."""
    names = list(functions)
    seconds = {name: [] for name in names}
    for repeat in range(repeats):
        order = names[repeat % len(names):] + names[: repeat % len(names)]
        order = order if repeat % 2 == 0 else order[::-1]
        for name in order:
            seconds[name].append(timed(functions[name]))
    ratios = {name: statistics.median(a / b for a, b in zip(seconds[name], seconds[baseline])) for name in names}
    return {name: statistics.median(values) for name, values in seconds.items()}, ratios


def preset_paths(preset: str, image_size: int, items: np.ndarray, dataset, batch_size: int, repeats: int, device: str):
    torch.manual_seed(0)
    model = VitoModel(load_preset(preset)).eval().to(device)
    processor = evaluation_processor(image_size)
    batches = [images_to_pixel_values(rgb_at_size(items[start : start + batch_size], image_size), image_size)
               .to(device) for start in range(0, len(items), batch_size)]

    def bare_forward() -> torch.Tensor:
        with torch.inference_mode():
            outputs = [model(pixel_values=batch).pooler_output for batch in batches]
        return torch.cat(outputs).float().cpu()

    def suite_path() -> torch.Tensor:
        return extract_features(model, rgb_at_size(items, image_size), image_size=image_size, batch_size=batch_size)

    def suite_path_processor() -> torch.Tensor:
        with use_image_processor():
            return suite_path()

    def dataset_path() -> torch.Tensor:
        return extract_features(model, dataset, image_processor=processor, batch_size=batch_size)

    def dataset_path_processor() -> torch.Tensor:
        with use_image_processor():
            return dataset_path()

    reference = bare_forward()
    for function in (suite_path, suite_path_processor):
        if not torch.allclose(function(), reference, atol=1e-5):
            raise SystemExit(f"{function.__name__} and the bare forward disagree")
    if not torch.equal(dataset_path(), dataset_path_processor()):
        raise SystemExit("the dataset path differs between the batched and the processor preprocessing")
    def bare_forward_again() -> torch.Tensor:  # A/A: the noise floor of the ratios on this machine
        return bare_forward()

    functions = {"bare_forward": bare_forward, "bare_forward_again": bare_forward_again, "suite_batched": suite_path,
                 "suite_processor": suite_path_processor, "dataset_batched": dataset_path,
                 "dataset_processor": dataset_path_processor}
    seconds, ratios = median_ratio(functions, "bare_forward", repeats)
    per_image = {name: round(1e3 * value / len(items), 4) for name, value in seconds.items()}
    return {
        "image_size": image_size,
        "ms_per_image": per_image,
        "suite_over_forward": round(ratios["suite_batched"], 3),
        "suite_over_forward_processor_path": round(ratios["suite_processor"], 3),
        "dataset_over_forward": round(ratios["dataset_batched"], 3),
        "dataset_over_forward_processor_path": round(ratios["dataset_processor"], 3),
        "a_a_ratio": round(ratios["bare_forward_again"], 3),
        "meets_goal": ratios["suite_batched"] <= RATIO_GOAL,
    }


def corruptions_before_after(repeats: int, device: str) -> dict:
    torch.manual_seed(0)
    model = VitoModel(load_preset("tiny")).eval().to(device)
    with tempfile.TemporaryDirectory() as folder:
        options = dict(quick=True, severities=(3,), cache_dir=Path(folder) / "cache")

        def run(name: str) -> dict:
            return run_corruptions_suite(model, None, output_dir=Path(folder) / name, **options)

        results = {}
        cold = timed(lambda: results.setdefault("cold", run("cold")))

        def after() -> None:
            results["after"] = run("after")

        def before() -> None:
            with use_image_processor():
                results["before"] = run("before")

        seconds, ratios = median_ratio({"before": before, "after": after}, "before", repeats)
    if results["before"].results != results["after"].results:
        raise SystemExit("the corruptions suite's results differ between the two preprocessing paths")
    after = results["after"]
    cells = len(after.settings["corruptions"]) * len(after.settings["severities"])
    encoded = (after.dataset["train_size"] + after.dataset["test_size"] * (1 + cells)
               + 2 * after.results["natural_shift"]["frames"])
    return {
        "settings": "quick, tiny preset, 64 px, 19 corruptions x severity 3, carphone shift, cache warm",
        "cold_cache_s": round(cold, 2),
        "before_s": round(seconds["before"], 2),
        "after_s": round(seconds["after"], 2),
        "after_over_before": round(ratios["after"], 3),
        "images_encoded": encoded,
        "after_ms_per_encoded_image": round(1e3 * seconds["after"] / encoded, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    num_images = args.images or (256 if args.quick else 512)
    repeats = args.repeats or (3 if args.quick else 5)
    dataset = load_image_dataset("fashion-mnist", limit=num_images, seed=0).test
    items = np.stack([np.asarray(image) for image in dataset["image"]])
    sizes = {"tiny": 64, "small": 112 if args.quick else 224}
    presets = {preset: preset_paths(preset, size, items, dataset, args.batch_size, repeats, args.device)
               for preset, size in sizes.items()}
    corruptions = corruptions_before_after(2 if args.quick else 4, args.device)
    result = {
        "benchmark": "evaluation_suites",
        "device": str(args.device),
        "threads": torch.get_num_threads(),
        "images": len(items),
        "batch_size": args.batch_size,
        "repeats": repeats,
        "ratio_goal": RATIO_GOAL,
        "presets": presets,
        "meets_goal": all(p["meets_goal"] for p in presets.values()),
        "corruptions_suite": corruptions,
    }
    for preset, numbers in presets.items():
        print(f"{preset} @ {numbers['image_size']} px: suite/forward {numbers['suite_over_forward']} "
              f"(image processor path {numbers['suite_over_forward_processor_path']}), "
              f"dataset/forward {numbers['dataset_over_forward']} "
              f"(image processor path {numbers['dataset_over_forward_processor_path']}); A/A {numbers['a_a_ratio']}; "
              f"ms/image {numbers['ms_per_image']}")
    print(f"corruptions suite: before {corruptions['before_s']} s, after {corruptions['after_s']} s "
          f"(cold cache {corruptions['cold_cache_s']} s)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
