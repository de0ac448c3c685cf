"""Benchmark: the evaluation suites' image path against the bare forward pass, and the corruptions suite before and
after batched preprocessing.

1. Per preset (``tiny`` at 64 px, as the study evaluates it; ``small`` at 224 px, 112 with ``--quick``): the time
   per image of what a suite does with its images (uint8 Fashion-MNIST test items resized to the input size with
   ``rgb_at_size``, then ``extract_features``: preparation on a worker thread, forward, pooled features), against
   the bare forward on the very same ``pixel_values`` batches prepared beforehand. Goal: suite / forward <= 1.2.
   Both preprocessing paths are timed: batched tensors (the default) and the image processor image by image
   (``use_image_processor()``, the path before); reported too: the probe suite's path from a `datasets` split, and
   ``extract_features`` alone on images already at the input size (what the corruptions suite does with each of its
   corrupted copies, most of its images).
2. The corruptions suite (``quick``, the tiny preset, every corruption at severity 3, the carphone shift) end to
   end, before (``use_image_processor()``) and after, with the corruption cache warm (filled by an untimed first
   run, whose time is reported as the cold run), so the difference is the preparation of the images.

Each path is timed in pairs with the bare forward inside one process (order flipped every pair), after a warm-up;
figures are medians, the ratios medians of per-pair ratios; the A/A ratio (the bare forward against itself) is the
noise floor. Like every CPU benchmark here it runs under glibc's allocator settings of ``allocator.py`` (re-executing
itself with them); ``--glibc-defaults`` measures without them: there each suite call re-faults its freshly mapped
buffers (thousands of page faults per call, reported as ``page_faults_per_call``), which the bare forward on
batches made beforehand does not. The model is randomly initialised (speed does not depend on the weights);
the two paths' features are checked equal before anything is timed. The last line printed is one JSON object.

    python benchmarks/evaluation.py            # tiny and small presets, 512 images, suite run 4 times
    python benchmarks/evaluation.py --quick    # tiny and small (112 px), 256 images, suite run twice

Each preset repeats as many times as fit 1.5 s of its bare forward (5 s in full runs; at least 3, at most 41):
``repeats`` in the JSON.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from allocator import MALLOC_ENV, malloc_tuned, minor_page_faults, reexec_with_malloc_tuning

if __name__ == "__main__" and not {"--glibc-defaults", "--help", "-h"} & set(sys.argv):
    reexec_with_malloc_tuning()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vito_hf import VitoModel, load_preset  # noqa: E402
from vito_hf.evaluation import evaluation_processor, extract_features, load_image_dataset  # noqa: E402
from vito_hf.evaluation.batched_inputs import use_image_processor  # noqa: E402
from vito_hf.evaluation.suites.corruptions import run_corruptions_suite  # noqa: E402
from vito_hf.evaluation.features import images_to_pixel_values  # noqa: E402
from vito_hf.evaluation.image_inputs import rgb_at_size  # noqa: E402

RATIO_GOAL = 1.2
"""Suite time per image over bare-forward time per image, at most."""


def timed(function, faults: list[int] | None = None) -> float:
    """Seconds one call of ``function`` takes; its page faults appended to ``faults``."""
    before = minor_page_faults()
    start = time.perf_counter()
    function()
    seconds = time.perf_counter() - start
    if faults is not None:
        faults.append(minor_page_faults() - before)
    return seconds


def median_ratio(functions: dict, baseline: str, repeats: int,
                 faults: dict[str, list[int]] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds of each function and its median ratio to ``baseline``, each measured in its own pairs with
    the baseline (``AB`` then ``BA``), so every timed call follows the baseline or the function it is compared
    with: a heavy third path run just before would otherwise slow whichever call comes next (its threads still
    spinning, its buffers unmapped) and skew that ratio. Each call's page faults are appended to ``faults[name]``."""
    seconds = {name: [] for name in functions}
    faults = faults if faults is not None else {}
    ratios = {}
    for name, function in functions.items():
        if name == baseline:
            continue
        pairs = []
        for repeat in range(repeats):
            order = (baseline, name) if repeat % 2 == 0 else (name, baseline)
            timings = {key: timed(functions[key], faults.setdefault(key, [])) for key in order}
            pairs.append(timings[name] / timings[baseline])
            for key in timings:
                seconds[key].append(timings[key])
        ratios[name] = statistics.median(pairs)
    return {name: statistics.median(values) for name, values in seconds.items()}, ratios


def repetitions(function, budget_s: float, least: int, most: int = 41) -> int:
    """How many repetitions fit ``budget_s`` seconds of ``function`` (odd, between ``least`` and ``most``): a tiny
    model's forward over the quick run's one batch takes ~40 ms, too short for three repetitions to outlast noise."""
    count = int(budget_s / max(timed(function), 1e-6))
    return max(least, min(most, count)) | 1


def preset_paths(preset: str, image_size: int, items: np.ndarray, dataset, batch_size: int, repeats: int | None,
                 budget_s: float, device: str):
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

    at_size = rgb_at_size(items, image_size)

    def encode_at_size() -> torch.Tensor:  # images already at the input size, as the corruptions suite encodes them
        return extract_features(model, at_size, image_size=image_size, batch_size=batch_size)

    def suite_path_processor() -> torch.Tensor:
        with use_image_processor():
            return suite_path()

    def dataset_path() -> torch.Tensor:
        return extract_features(model, dataset, image_processor=processor, batch_size=batch_size)

    def dataset_path_processor() -> torch.Tensor:
        with use_image_processor():
            return dataset_path()

    reference = bare_forward()
    for function in (suite_path, encode_at_size, suite_path_processor):
        if not torch.allclose(function(), reference, atol=1e-5):
            raise SystemExit(f"{function.__name__} and the bare forward disagree")
    if not torch.equal(dataset_path(), dataset_path_processor()):
        raise SystemExit("the dataset path differs between the batched and the processor preprocessing")
    def bare_forward_again() -> torch.Tensor:  # A/A: the noise floor of the ratios on this machine
        return bare_forward()

    functions = {"bare_forward": bare_forward, "bare_forward_again": bare_forward_again, "suite_batched": suite_path,
                 "encode_at_size": encode_at_size,
                 "suite_processor": suite_path_processor, "dataset_batched": dataset_path,
                 "dataset_processor": dataset_path_processor}
    repeats = repeats or repetitions(bare_forward, budget_s, least=3)
    faults: dict[str, list[int]] = {}
    seconds, ratios = median_ratio(functions, "bare_forward", repeats, faults)
    per_image = {name: round(1e3 * value / len(items), 4) for name, value in seconds.items()}
    return {
        "image_size": image_size,
        "repeats": repeats,
        "ms_per_image": per_image,
        "suite_over_forward": round(ratios["suite_batched"], 3),
        "suite_over_forward_processor_path": round(ratios["suite_processor"], 3),
        "encode_at_size_over_forward": round(ratios["encode_at_size"], 3),
        "dataset_over_forward": round(ratios["dataset_batched"], 3),
        "dataset_over_forward_processor_path": round(ratios["dataset_processor"], 3),
        "a_a_ratio": round(ratios["bare_forward_again"], 3),
        "page_faults_per_call": {name: int(statistics.median(faults[name]))
                                 for name in ("bare_forward", "suite_batched", "encode_at_size")},
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
    parser.add_argument("--repeats", type=int, default=None,
                        help="repetitions per preset (default: as many as fit 1.5 s of bare forward, 5 s in full runs)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--glibc-defaults", action="store_true",
                        help="measure under glibc's default allocator settings instead of allocator.MALLOC_ENV")
    args = parser.parse_args()
    num_images = args.images or (256 if args.quick else 512)
    budget_s = 1.5 if args.quick else 5.0
    dataset = load_image_dataset("fashion-mnist", limit=num_images, seed=0).test
    items = np.stack([np.asarray(image) for image in dataset["image"]])
    sizes = {"tiny": 64, "small": 112 if args.quick else 224}
    presets = {preset: preset_paths(preset, size, items, dataset, args.batch_size, args.repeats, budget_s,
                                   args.device)
               for preset, size in sizes.items()}
    corruptions = corruptions_before_after(2 if args.quick else 4, args.device)
    result = {
        "benchmark": "evaluation_suites",
        "device": str(args.device),
        "threads": torch.get_num_threads(),
        "malloc_env": MALLOC_ENV if malloc_tuned() else "glibc defaults",
        "images": len(items),
        "batch_size": args.batch_size,
        "ratio_goal": RATIO_GOAL,
        "presets": presets,
        "meets_goal": all(p["meets_goal"] for p in presets.values()),
        "corruptions_suite": corruptions,
    }
    for preset, numbers in presets.items():
        print(f"{preset} @ {numbers['image_size']} px: suite/forward {numbers['suite_over_forward']} "
              f"(image processor path {numbers['suite_over_forward_processor_path']}), "
              f"encode at size/forward {numbers['encode_at_size_over_forward']}, "
              f"dataset/forward {numbers['dataset_over_forward']} "
              f"(image processor path {numbers['dataset_over_forward_processor_path']}); A/A {numbers['a_a_ratio']}; "
              f"ms/image {numbers['ms_per_image']}; page faults per call {numbers['page_faults_per_call']}")
    print(f"corruptions suite: before {corruptions['before_s']} s, after {corruptions['after_s']} s "
          f"(cold cache {corruptions['cold_cache_s']} s)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
