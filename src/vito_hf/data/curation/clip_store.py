"""Where curated clips go and how they are written into the dataset folder.

A kept video becomes `clips/<class id>/<video id>.mp4` (POSIX, relative to the
dataset root, as the metadata's `file_name`). The clip is the first
`clip_duration` seconds, the stretch the classifier filter looked at, encoded
by `vito_hf.data.encode_clip` with every frame a keyframe, for cheap random access. It is written under a
temporary name that says which host and process made it, fsynced, and renamed,
so a killed run leaves no partial clip under a final name, and the next run
can delete the leftovers.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..clip_export import encode_clip
from ..decoding import VideoInfo
from .state import temporary_path

CLIPS_DIR = "clips"


def clip_file_name(class_id: str, video_id: str) -> str:
    return f"{CLIPS_DIR}/{class_id}/{video_id}.mp4"


def export_clip(
    source: str | os.PathLike,
    output_dir: str | os.PathLike,
    file_name: str,
    *,
    clip_duration: float = 10.0,
    fps: float = 25.0,
    short_side: int | None = 256,
    codec: str = "mjpeg",
) -> VideoInfo:
    """Encode the start of `source` to `output_dir/file_name` atomically; returns the clip's probe."""
    final = Path(output_dir) / file_name
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(final, suffix=final.suffix)
    try:
        info = encode_clip(source, tmp, start=0.0, duration=clip_duration, fps=fps, short_side=short_side, codec=codec)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return info
