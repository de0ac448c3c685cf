"""Re-encode a stretch of a video into a training clip built for cheap random access.

Training reads three frames at random times per example. Their cost is set by how many frames
must be decoded to reach each one (the keyframe interval) and by the frame size, so a curated clip
is re-encoded once: constant frame rate, a bounded short side, even dimensions (4:2:0 chroma),
rotation applied, and a short keyframe interval. See :func:`encode_clip` for the chosen defaults.
"""

from __future__ import annotations

import itertools
import os
from fractions import Fraction
from pathlib import Path

import av
from av.video.reformatter import ColorRange, VideoReformatter
import numpy as np

from ..atomic_files import atomic_path
from ..data.decoding import (
    TIME_TOLERANCE,
    EmptyVideoError,
    VideoInfo,
    VideoSource,
    _FrameReader,
    _label,
    _open,
    _rotate,
    _seek_at_or_before,
    probe_video,
)

SUPPORTED_CODECS = ("libx264", "mjpeg")


def output_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """Size with the short side bounded by ``short_side`` (never upscaled), aspect kept, both even."""
    scale = 1.0 if short_side is None else min(1.0, short_side / min(width, height))

    def even(x: float) -> int:
        return max(2, int(x / 2.0 + 0.5) * 2)

    return even(width * scale), even(height * scale)


def encode_clip(
    src: VideoSource,
    dst: str | os.PathLike,
    start: float = 0.0,
    duration: float = 10.0,
    fps: float = 25.0,
    short_side: int | None = 256,
    keyframe_interval: int = 1,
    codec: str = "mjpeg",
    *,
    crf: int = 23,
    preset: str = "veryfast",
    tune: str | None = None,
    quality: int = 8,
) -> VideoInfo:
    """Write ``[start, start + duration)`` seconds of ``src`` to ``dst`` as a random-access clip.

    Frame ``k`` of the output is the source frame shown at ``start + k / fps`` (the rule of
    :mod:`vito_hf.data.decoding`), so variable-rate sources become constant-rate clips. The clip
    stops early where the source ends. ``short_side`` bounds the shorter side (``None`` keeps
    the size; sources are never upscaled); dimensions are rounded to even numbers.

    Defaults, from ``benchmarks/data_loading.py`` (3 frames at random times in a 2.56 s window
    plus their crops, 10 s clips of the real sample footage, examples per CPU-second): every
    frame must be a seek target, so clips are intra-only; a keyframe every 16 frames (H.264)
    gave 52/s against 85/s for all-intra H.264. Among intra-only formats MJPEG decodes fastest:
    153/s, against 85/s for all-intra H.264 and 106/s for H.264 tuned for fast decoding (opening
    an H.264 file alone costs about as much as decoding two MJPEG frames). That is what lifts the
    loader past 100 examples per second per core (141/s; the whole-clip baseline gives 2.5/s).
    The price is size (~1.7x all-intra H.264 at ``quality`` 8, which is also ~1.5 dB higher
    PSNR) and that browsers do not play MJPEG; pass ``codec="libx264"`` (optionally
    ``tune="fastdecode"``) for clips meant to be watched. A 256-pixel short side keeps the
    paper's 224-pixel crops (area >= 0.4 of the frame) close to native resolution while decoding
    ~2x fewer pixels than 360p. ``keyframe_interval``, ``crf``, ``preset`` and ``tune`` apply to
    H.264 (MJPEG is intra-only by nature), ``quality`` (JPEG quantiser 2-31, lower is better)
    to MJPEG.

    The file is written to a temporary name beside ``dst`` (naming this host and process, so a later
    curation run can delete what a killed process left), fsynced and renamed: readers never see a
    partial clip. Decoding is single-threaded, so identical inputs (damaged ones included) give
    identical clips. Returns the probe of the written clip.
    """
    if codec not in SUPPORTED_CODECS:
        raise ValueError(f"codec={codec!r} is not supported; use one of {SUPPORTED_CODECS}.")
    if duration <= 0 or fps <= 0:
        raise ValueError(f"duration ({duration}) and fps ({fps}) must be positive.")
    if keyframe_interval < 1:
        raise ValueError(f"keyframe_interval must be >= 1, got {keyframe_interval}.")
    if not 2 <= quality <= 31:
        raise ValueError(f"quality must be a JPEG quantiser in [2, 31], got {quality}.")
    if short_side is not None and short_side < 2:
        raise ValueError(f"short_side must be >= 2 or None, got {short_side}.")
    start = max(float(start), 0.0)
    dst = Path(dst)
    with atomic_path(dst, suffix=dst.suffix) as tmp:
        written = _encode(src, tmp, start, float(duration), float(fps), short_side, keyframe_interval, codec, crf, preset, tune, quality)
        if written == 0:
            label = _label(src) or "<in-memory video>"
            raise EmptyVideoError(
                f"{label}: no frames in [{start:.2f}, {start + duration:.2f}) s; choose a start inside the video.",
                _label(src),
            )
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    return probe_video(dst)


def _encode(src, tmp: Path, start, duration, fps, short_side, keyframe_interval, codec, crf, preset, tune, quality) -> int:
    rate = Fraction(fps).limit_denominator(1001)
    container = _open(src)
    try:
        stream = container.streams.video[0]
        # One decoding thread: with frame or slice threads, how a damaged stream is concealed depends on
        # thread timing, so identical inputs gave different clips. Curation parallelises over videos instead.
        stream.thread_type = "NONE"
        reader = _FrameReader(container, stream, _label(src))
        source_step = reader.frame_step
        pending, first_frames = _start_at(reader, start)
        with av.open(os.fspath(tmp), mode="w", options={"movflags": "+faststart"} if tmp.suffix in (".mp4", ".mov") else {}) as out:
            writer = _ClipWriter(out, rate, short_side, keyframe_interval, codec, crf, preset, tune, quality)
            end = start + duration
            next_k = 0
            previous = None
            last_time = None
            for t, frame in itertools.chain(first_frames, pending):
                last_time = t
                while next_k is not None and previous is not None and start + next_k / fps + TIME_TOLERANCE < t:
                    target = start + next_k / fps
                    if target >= end - TIME_TOLERANCE:
                        next_k = None
                        break
                    writer.write(previous)
                    next_k += 1
                if next_k is None:
                    break
                previous = frame
            if next_k is not None and previous is not None:
                shown_for = float(previous.duration * stream.time_base) if previous.duration else source_step
                stop = min(end, (last_time or 0.0) + shown_for)
                while start + next_k / fps < stop - TIME_TOLERANCE:
                    writer.write(previous)
                    next_k += 1
            writer.close()
            return writer.count
    finally:
        container.close()


def _start_at(reader: _FrameReader, start: float):
    frames, first, after = _seek_at_or_before(reader, start, reader.label or "<in-memory video>")
    return frames, [item for item in (first, after) if item is not None]


class _ClipWriter:
    """Encodes frames at a constant rate; sizes, pixel format and rotation are fixed by the first frame."""

    def __init__(self, out, rate: Fraction, short_side, keyframe_interval, codec, crf, preset, tune, quality):
        self.out = out
        self.rate = rate
        self.short_side = short_side
        self.keyframe_interval = keyframe_interval
        self.codec = codec
        self.crf = crf
        self.preset = preset
        self.tune = tune
        self.quality = quality
        self.stream = None
        self.count = 0

    def _open_stream(self, frame: av.VideoFrame) -> None:
        quarter_turns = int(round((frame.rotation or 0) / 90.0)) % 4
        width, height = (frame.height, frame.width) if quarter_turns % 2 else (frame.width, frame.height)
        self.rotation = quarter_turns * 90
        self.size = output_size(width, height, self.short_side)
        stream = self.out.add_stream(self.codec, rate=self.rate)
        stream.width, stream.height = self.size
        if self.codec == "libx264":
            stream.pix_fmt = "yuv420p"
            stream.gop_size = self.keyframe_interval
            stream.options = {
                "crf": str(self.crf),
                "preset": self.preset,
                "x264-params": f"keyint={self.keyframe_interval}:min-keyint={self.keyframe_interval}:scenecut=0:bframes=0",
                **({"tune": self.tune} if self.tune else {}),
            }
        else:
            stream.pix_fmt = "yuvj420p"
            stream.codec_context.qmin = stream.codec_context.qmax = self.quality
        self.stream = stream
        self.reformatter = VideoReformatter()
        self.color_range = ColorRange.MPEG if self.codec == "libx264" else ColorRange.JPEG

    def write(self, frame: av.VideoFrame) -> None:
        if self.stream is None:
            self._open_stream(frame)
        width, height = self.size
        if self.rotation:
            image = _rotate(frame.to_ndarray(format="rgb24"), self.rotation)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        converted = self.reformatter.reformat(
            frame,
            width,
            height,
            format=self.stream.pix_fmt,
            interpolation="AREA",
            src_color_range=frame.color_range or None,
            dst_color_range=self.color_range,
        )
        converted.pts = self.count
        converted.time_base = 1 / self.rate
        self.out.mux(self.stream.encode(converted))
        self.count += 1

    def close(self) -> None:
        if self.stream is not None:
            self.out.mux(self.stream.encode(None))
