"""The study's data, written from :mod:`.scenes`: training videos, held-out still images, held-out masked sequences.

- Training videos: Fashion-MNIST *training* items in motion over the training backgrounds, written as real H.264
  files with a candidates manifest (titles name the item's class) and a taxonomy, so they go through the normal
  curation -> clip store -> dataset path.
- Still images: Fashion-MNIST *test* items, each at a random pose of its own scene over a *held-out* background,
  saved as a ``datasets`` train/test pair (both splits test items; the probes fit on one and score the other).
- Masked sequences: test items in motion over held-out backgrounds in the DAVIS-2017 layout, the item (1) and an
  occluder (2) as objects, for label propagation.

Every writer is deterministic under its seed and writes each file under a temporary name, then renames it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import datasets
import numpy as np

from ..atomic_files import atomic_path, write_atomic, write_bytes_atomic
from ..evaluation.davis import write_davis_sequence
from ..evaluation.image_datasets import load_labelled_images
from ..evaluation.labelled_images import FASHION_MNIST_CLASSES
from .scenes import SceneStyle, backgrounds, draw_scene, render_clip

TAXONOMY = {
    "t-shirt": ["tee", "top"],
    "trouser": ["trousers", "pants", "jeans"],
    "pullover": ["sweater", "jumper"],
    "dress": ["gown"],
    "coat": ["jacket"],
    "sandal": ["sandals"],
    "shirt": ["blouse"],
    "sneaker": ["sneakers", "trainer"],
    "bag": ["handbag", "purse"],
    "ankle boot": ["boot", "boots"],
}
"""Curation classes in Fashion-MNIST's label order (the names the video titles use)."""
CLASS_NAMES = tuple(TAXONOMY)


def fashion_items(split: str, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` class-balanced Fashion-MNIST items of ``split`` (uint8 ``[N, 28, 28]``, labels)."""
    data = load_labelled_images("fashion-mnist", limit=count, seed=seed)
    part = getattr(data, split)
    if len(part) < count:
        raise ValueError(f"Fashion-MNIST's {split} split has {len(part)} items, fewer than the {count} asked for")
    return part.images, part.labels


def _write_video(path: Path, frames: np.ndarray, fps: float) -> None:
    with atomic_path(path, suffix=path.suffix) as temporary, av.open(os.fspath(temporary), mode="w") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_training_videos(
    output_dir: str | os.PathLike,
    *,
    num_videos: int,
    seconds: float = 4.0,
    fps: float = 25.0,
    size: int = 64,
    seed: int = 0,
    style: SceneStyle = SceneStyle(),
) -> tuple[Path, Path]:
    """Write ``num_videos`` training videos (class-balanced) under ``output_dir/videos``; returns the paths of the
    candidates manifest (JSONL: path, title, id) and of the taxonomy (JSON) to curate them with. Videos already
    written are kept (the scene of video ``k`` depends on ``seed`` and ``k`` only)."""
    output_dir = Path(output_dir)
    video_dir = output_dir / "videos"
    video_dir.mkdir(parents=True, exist_ok=True)
    items, labels = fashion_items("train", num_videos, seed)
    scenery = backgrounds("train")
    rows = []
    for index in range(num_videos):
        path = video_dir / f"item-{index:05d}.mp4"
        if not path.is_file():
            scene = draw_scene(items, labels, index, scenery, np.random.default_rng([seed, index]), style)
            frames, _ = render_clip(scene, num_frames=int(round(seconds * fps)), fps=fps, size=size)
            _write_video(path, frames, fps)
        name = CLASS_NAMES[labels[index]]
        rows.append({"path": str(path.resolve()), "title": f"A {name} moving across the scene", "id": path.stem})
    manifest, taxonomy = output_dir / "candidates.jsonl", output_dir / "taxonomy.json"
    write_bytes_atomic(manifest, "".join(json.dumps(row) + "\n" for row in rows).encode())
    write_bytes_atomic(taxonomy, (json.dumps(TAXONOMY, indent=1) + "\n").encode())
    return manifest, taxonomy


def write_still_images(
    output_dir: str | os.PathLike,
    *,
    num_train: int,
    num_test: int,
    size: int = 64,
    seed: int = 0,
    style: SceneStyle = SceneStyle(),
) -> Path:
    """Save still images of Fashion-MNIST test items over held-out backgrounds as a ``datasets`` DatasetDict
    (``train``: ``num_train`` images, ``test``: ``num_test`` others; columns ``image``, ``label``). A folder
    already saved there is kept."""
    output_dir = Path(output_dir)
    if (output_dir / "dataset_dict.json").is_file():
        return output_dir
    items, labels = fashion_items("test", num_train + num_test, seed)
    order = np.random.default_rng([seed, 1]).permutation(len(items))
    scenery = backgrounds("held_out")
    images = []
    for index in range(len(items)):
        rng = np.random.default_rng([seed, 2, index])
        scene = draw_scene(items, labels, index, scenery, rng, style, occlusion_probability=0.0)
        frame, _ = scene.render(float(rng.uniform(0, 4)), size)
        images.append(frame)
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=list(FASHION_MNIST_CLASSES))}
    )

    def split(indices: np.ndarray) -> datasets.Dataset:
        return datasets.Dataset.from_dict(
            {"image": [images[i] for i in indices], "label": [int(labels[i]) for i in indices]}, features=features
        )

    splits = datasets.DatasetDict(train=split(order[:num_train]), test=split(order[num_train:]))
    return write_atomic(output_dir, lambda temporary: splits.save_to_disk(os.fspath(temporary)))


def write_masked_sequences(
    root: str | os.PathLike,
    *,
    num_sequences: int,
    num_frames: int = 24,
    fps: float = 25.0,
    size: int = 128,
    seed: int = 0,
    style: SceneStyle = SceneStyle(),
) -> Path:
    """Write ``num_sequences`` sequences of test items over held-out backgrounds in the DAVIS-2017 layout under
    ``root`` (``items-<k>``; objects: 1 the item, 2 an occluder crossing in front of it)."""
    root = Path(root)
    items, labels = fashion_items("test", max(num_sequences, 10), seed + 1)
    scenery = backgrounds("held_out")
    for index in range(num_sequences):
        scene = draw_scene(items, labels, index, scenery, np.random.default_rng([seed, 3, index]), style,
                           occlusion_probability=1.0)
        frames, masks = render_clip(scene, num_frames=num_frames, fps=fps, size=size)
        write_davis_sequence(root, f"items-{index}", frames, masks)
    return root
