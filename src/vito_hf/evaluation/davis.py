"""The DAVIS-2017 folder layout: reading sequences for label propagation and writing sequences in that layout.

    <root>/JPEGImages/<resolution>/<sequence>/00000.jpg ...
    <root>/Annotations/<resolution>/<sequence>/00000.png ...   (palette PNGs: pixel value = object id, 0 = background)
    <root>/ImageSets/2017/<split>.txt                          (one sequence name per line)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..atomic_files import write_atomic


def davis_palette() -> list[int]:
    """The 256-colour palette of DAVIS annotations (PASCAL VOC's: bits of the index spread over R, G, B)."""
    palette = []
    for index in range(256):
        red = green = blue = 0
        value = index
        for shift in range(7, -1, -1):
            red |= (value & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        palette += [red, green, blue]
    return palette


@dataclass(frozen=True)
class DavisSequence:
    """One sequence: its frames (JPEG) and annotations (palette PNG), both sorted by file name."""

    name: str
    frames: tuple[Path, ...]
    annotations: tuple[Path, ...]

    def read_frames(self) -> np.ndarray:
        """uint8 ``[T, H, W, 3]`` RGB frames."""
        return np.stack([np.asarray(Image.open(path).convert("RGB")) for path in self.frames])

    def read_annotations(self) -> np.ndarray:
        """int64 ``[T_annotated, H, W]`` object ids (the palette index of each pixel)."""
        return np.stack([read_label_map(path) for path in self.annotations])


def read_label_map(path: str | os.PathLike) -> np.ndarray:
    """The object ids of a palette PNG (mode ``P``) or a grayscale PNG, as an int64 ``[H, W]`` array."""
    with Image.open(path) as image:
        if image.mode not in ("P", "L", "I", "I;16"):
            raise ValueError(
                f"{path} is a {image.mode} image; DAVIS annotations are palette (P) or grayscale PNGs whose pixel "
                "values are object ids"
            )
        return np.asarray(image).astype(np.int64)


def read_davis(
    root: str | os.PathLike, *, split: str = "val", resolution: str = "480p", sequences: Iterable[str] | None = None
) -> list[DavisSequence]:
    """The sequences of ``ImageSets/2017/<split>.txt`` (or the named ``sequences``) under a DAVIS-2017 root."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"DAVIS root {root} does not exist; pass the folder holding JPEGImages/ and Annotations/")
    if sequences is None:
        listing = root / "ImageSets" / "2017" / f"{split}.txt"
        if not listing.is_file():
            raise FileNotFoundError(
                f"{listing} is missing: a DAVIS-2017 root lists its {split!r} sequences there (one name per line)"
            )
        sequences = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    result = []
    for name in sequences:
        frame_dir = root / "JPEGImages" / resolution / name
        annotation_dir = root / "Annotations" / resolution / name
        frames = tuple(sorted(frame_dir.glob("*.jpg")))
        annotations = tuple(sorted(annotation_dir.glob("*.png")))
        if not frames:
            raise FileNotFoundError(f"sequence {name!r}: no JPEG frames in {frame_dir}")
        if not annotations or annotations[0].stem != frames[0].stem:
            raise FileNotFoundError(
                f"sequence {name!r}: the first frame {frames[0].name} has no annotation {frames[0].stem}.png "
                f"in {annotation_dir}; label propagation starts from it"
            )
        result.append(DavisSequence(name, frames, annotations))
    if not result:
        raise ValueError(f"no sequences listed for split {split!r} under {root}")
    return result


def folder_fingerprint(root: str | os.PathLike) -> str:
    """SHA-256 over the relative paths and contents of every file under ``root`` (the dataset's identity)."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def write_label_map(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Save object ids ``[H, W]`` (0..255) as a palette PNG with the DAVIS palette."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.min() < 0 or labels.max() > 255:
        raise ValueError(f"labels must be a 2-D array of object ids 0..255, got shape {labels.shape}")
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(davis_palette())
    write_atomic(path, lambda p: image.save(p, format="PNG"))


def write_davis_sequence(
    root: str | os.PathLike,
    name: str,
    frames: np.ndarray,
    labels: np.ndarray,
    *,
    split: str = "val",
    resolution: str = "480p",
    quality: int = 90,
) -> DavisSequence:
    """Write uint8 RGB ``frames [T, H, W, 3]`` as JPEG and ``labels [T, H, W]`` as palette PNG in the DAVIS layout.

    The sequence is appended to ``ImageSets/2017/<split>.txt`` unless listed there already.
    """
    frames, labels = np.asarray(frames), np.asarray(labels)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    if labels.shape != frames.shape[:3]:
        raise ValueError(f"labels must be [T, H, W] = {frames.shape[:3]}, got {labels.shape}")
    root = Path(root)
    frame_dir = root / "JPEGImages" / resolution / name
    annotation_dir = root / "Annotations" / resolution / name
    for index, (frame, label_map) in enumerate(zip(frames, labels)):
        image = Image.fromarray(frame)
        write_atomic(frame_dir / f"{index:05d}.jpg", lambda p, im=image: im.save(p, format="JPEG", quality=quality))
        write_label_map(annotation_dir / f"{index:05d}.png", label_map)
    listing = root / "ImageSets" / "2017" / f"{split}.txt"
    names = listing.read_text().split() if listing.is_file() else []
    if name not in names:
        text = "".join(f"{n}\n" for n in names + [name])
        write_atomic(listing, lambda p: Path(p).write_text(text))
    return read_davis(root, resolution=resolution, sequences=[name])[0]
