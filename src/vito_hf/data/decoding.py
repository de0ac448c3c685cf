"""Video probing and frame decoding with PyAV: frames at chosen times without decoding whole files.

Time convention: a timestamp is in seconds from the video stream's first frame (the stream's
``start_time``), so ``0.0`` is always the first frame whatever offset the container stores.

Frame-selection rule (shared by :func:`decode_frames_at` and :func:`decode_all_frames`): the frame
shown at time ``t`` is the last frame whose presentation time is at or before ``t`` (within
:data:`TIME_TOLERANCE`). Times before the first frame give the first frame; times past the last
frame give the last frame (the clip is clamped, never padded). This is what a player displays at
``t``, and it is well defined for variable frame rates and sparse, uneven timestamps.

Errors are typed (:class:`VideoDecodeError` and subclasses); each message names the file, what was
wrong and what to do, so pipelines can skip a file with a reason and count it.
"""

from __future__ import annotations

import heapq
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Union

import av
import numpy as np

VideoSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

TIME_TOLERANCE = 1e-4
"""Seconds of slack when comparing a requested time with a frame time (absorbs float rounding)."""

_TAR_MEMBER_PREFIX = "subfile,,start,"
_MAX_SEEK_BACKOFF_S = 64.0
_NO_INDEX_SEEK_GAP_S = 1.0
_CONTAINER_SIGNATURES = (
    (4, b"ftyp"),  # MP4 / MOV / 3GP
    (0, b"RIFF"),  # AVI
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"OggS"),
    (0, b"FLV"),
)


class VideoDecodeError(Exception):
    """Base class: a video could not be read. ``path`` names it (``None`` for in-memory bytes)."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class VideoNotFoundError(VideoDecodeError):
    """The path does not exist."""


class VideoPermissionError(VideoDecodeError):
    """The file exists but this process may not read it."""


class NotAVideoError(VideoDecodeError):
    """The file is not a media file FFmpeg recognises (a text file, random bytes, a directory)."""


class NoVideoStreamError(NotAVideoError):
    """A media file without a video stream (for example audio only)."""


class EmptyVideoError(VideoDecodeError):
    """The file is empty or its video stream holds no frames."""


class CorruptVideoError(VideoDecodeError):
    """A video container whose data cannot be decoded (truncated or damaged)."""


@dataclass(frozen=True)
class VideoInfo:
    """What a probe learns about a video's first video stream.

    ``width``/``height`` are the displayed size, after ``rotation`` (counter-clockwise degrees,
    from the display matrix) is applied, as :func:`decode_frames_at` returns frames.
    ``fps`` is the average rate (frames / duration), meaningful for variable frame rates too.
    ``num_frames`` comes from the demuxer's index when the container holds a per-frame table (MP4,
    MOV, AVI), else from counting the stream's packets (Matroska, WebM, MPEG-TS: their index lists
    keyframes only); ``num_frames_exact`` is ``False`` when it was estimated from duration and rate.
    """

    duration: float
    fps: float
    num_frames: int
    width: int
    height: int
    rotation: int
    codec: str
    pixel_format: str
    keyframe_count: int
    num_frames_exact: bool
    path: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _label(source: VideoSource) -> str | None:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", None) if not isinstance(source, (bytes, bytearray, memoryview)) else None


def _sniff_is_container(head: bytes) -> bool:
    return any(head[offset : offset + len(sig)] == sig for offset, sig in _CONTAINER_SIGNATURES)


def tar_member_source(tar_path: str | os.PathLike, offset: int, size: int) -> str:
    """A video source for the ``size`` bytes at ``offset`` of ``tar_path`` (a member of an uncompressed tar).

    It is a URL of FFmpeg's ``subfile`` protocol, which reads the member in place: the decoder fetches only the
    packets it decodes, as from a loose file, instead of the whole member being copied into memory first.
    Any FFmpeg-based reader opens it; :func:`read_source_bytes` returns the member's bytes.
    """
    return f"{_TAR_MEMBER_PREFIX}{int(offset)},end,{int(offset) + int(size)},,:{os.path.abspath(tar_path)}"


def _tar_member(source: str) -> tuple[str, int, int] | None:
    """``(tar path, offset, size)`` of a :func:`tar_member_source`, else ``None``."""
    if not source.startswith(_TAR_MEMBER_PREFIX):
        return None
    bounds, _, path = source[len(_TAR_MEMBER_PREFIX) :].partition(",,:")
    start, _, end = bounds.partition(",end,")
    return path, int(start), int(end) - int(start)


def read_source_bytes(source: VideoSource, limit: int | None = None) -> bytes:
    """The encoded bytes of a path, a :func:`tar_member_source`, in-memory bytes or a file object (at most
    ``limit``). Raises ``OSError`` when a file cannot be read."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:limit])
    if not isinstance(source, (str, os.PathLike)):
        return source.read(-1 if limit is None else limit)
    member = _tar_member(source) if isinstance(source, str) else None
    path, offset, size = member or (os.fspath(source), 0, None)
    with open(path, "rb") as handle:
        handle.seek(offset)
        wanted = size if limit is None else limit if size is None else min(size, limit)
        return handle.read(-1 if wanted is None else wanted)


def _open(source: VideoSource) -> av.container.InputContainer:
    """Open ``source`` and translate every failure into a typed :class:`VideoDecodeError`."""
    label = _label(source)
    shown = label or "<in-memory video>"
    head = b""
    if isinstance(source, str) and _tar_member(source) is not None:
        # a member of a tar listed a moment ago: its bytes are looked at only if FFmpeg fails
        return _open_container(source, label, shown, lambda: _member_head(source, label, shown))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise VideoNotFoundError(f"{shown}: no such file; check the path or remove it from the list.", label)
        if path.is_dir():
            raise NotAVideoError(f"{shown}: is a directory, not a video file; pass a video file path.", label)
        try:
            with open(path, "rb") as handle:
                head = handle.read(16)
        except PermissionError as exc:
            raise VideoPermissionError(
                f"{shown}: permission denied ({exc.strerror}); make it readable (chmod a+r) "
                "or run as a user who may read it.",
                label,
            ) from exc
        except OSError as exc:
            raise CorruptVideoError(f"{shown}: cannot be read ({exc}); check the disk or copy it again.", label) from exc
        opened: object = os.fspath(path)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        head = bytes(source[:16])
        opened = io.BytesIO(source)
    else:
        opened = source
        if hasattr(source, "peek"):
            head = source.peek(16)[:16]
    if isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)) and not head:
        raise EmptyVideoError(f"{shown}: is empty (0 bytes); re-download or re-export it.", label)
    return _open_container(opened, label, shown, lambda: head)


def _member_head(source: str, label: str | None, shown: str) -> bytes:
    """The first bytes of a tar member, to tell a damaged video from a missing or unreadable tar."""
    try:
        return read_source_bytes(source, limit=16)
    except FileNotFoundError as exc:
        raise VideoNotFoundError(f"{shown}: the tar is gone; download or pack the shard again.", label) from exc
    except PermissionError as exc:
        raise VideoPermissionError(f"{shown}: permission denied on the tar; make it readable.", label) from exc
    except OSError as exc:
        raise CorruptVideoError(f"{shown}: the tar cannot be read ({exc}); check the disk.", label) from exc


def _open_container(
    opened: object, label: str | None, shown: str, read_head: Callable[[], bytes]
) -> av.container.InputContainer:
    """``av.open`` with its failures typed; on failure the source's first bytes (``read_head``) tell an empty
    or damaged video from something that is not a video."""
    try:
        container = av.open(opened, mode="r")
    except av.error.PermissionError as exc:
        raise VideoPermissionError(f"{shown}: permission denied; make it readable.", label) from exc
    except av.error.FileNotFoundError as exc:
        raise VideoNotFoundError(f"{shown}: no such file; check the path.", label) from exc
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        head = read_head()
        if not head:
            raise EmptyVideoError(f"{shown}: is empty (0 bytes); re-download or re-export it.", label) from exc
        if _sniff_is_container(head):
            raise CorruptVideoError(
                f"{shown}: looks like a video container but FFmpeg cannot parse it ({exc}); it is "
                "probably truncated or damaged: re-download or re-export it.",
                label,
            ) from exc
        raise NotAVideoError(
            f"{shown}: FFmpeg does not recognise this as a media file ({exc}); pass a video "
            "(mp4, avi, mkv, webm, mov ...) or remove it from the list.",
            label,
        ) from exc
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        container.close()
        if not kinds:
            raise EmptyVideoError(f"{shown}: the container holds no streams; re-export it or remove it.", label)
        raise NoVideoStreamError(
            f"{shown}: has no video stream (streams: {', '.join(kinds)}); pass a file with video.", label
        )
    return container


def _video_stream(container: av.container.InputContainer, thread_type: str | None) -> av.video.stream.VideoStream:
    stream = container.streams.video[0]
    if thread_type:
        stream.thread_type = thread_type
    return stream


def _origin_seconds(stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    quarter_turns = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def _to_rgb(frame: av.VideoFrame, apply_rotation: bool) -> np.ndarray:
    image = frame.to_ndarray(format="rgb24")
    return _rotate(image, frame.rotation) if apply_rotation and frame.rotation else image


class _FrameReader:
    """Decodes one open stream in presentation order, tolerating damaged packets.

    Decoders of B-frame streams with a misdeclared reorder depth (box.mp4 of opencv-doc) emit
    frames slightly out of order, so frames pass through a small min-heap on ``pts`` first.
    """

    def __init__(self, container, stream, label: str | None):
        self.container = container
        self.stream = stream
        self.label = label
        self.time_base = stream.time_base
        self.origin = _origin_seconds(stream)
        self.frame_step = float(1 / stream.average_rate) if stream.average_rate else 0.04
        ctx = stream.codec_context
        self.reorder = int(ctx.reorder_depth or 1) + 2 if ctx.has_b_frames else 0
        self.bad_packets = 0
        self.last_time: float | None = None
        self.moved = False
        self.keyframes, self.frame_times = _index_times(stream, self.origin, trust_frames=not ctx.has_b_frames)

    def frames(self) -> Iterator[tuple[float, av.VideoFrame]]:
        """Yield ``(seconds_from_origin, frame)`` in presentation order from the current position on."""
        heap: list[tuple[float, int, av.VideoFrame]] = []
        for sequence, item in enumerate(self._decoded()):
            heapq.heappush(heap, (item[0], sequence, item[1]))
            if len(heap) > self.reorder:
                t, _, frame = heapq.heappop(heap)
                yield t, frame
        while heap:
            t, _, frame = heapq.heappop(heap)
            yield t, frame

    def _decoded(self) -> Iterator[tuple[float, av.VideoFrame]]:
        for packet in self.container.demux(self.stream):
            if packet.is_corrupt:  # e.g. the cut-off last frame of a truncated file
                self.bad_packets += 1
                continue
            try:
                decoded = packet.decode()
            except (av.error.InvalidDataError, av.error.UndefinedError, ValueError):
                self.bad_packets += 1
                continue
            for frame in decoded:
                yield self._time_of(frame), frame

    def _time_of(self, frame: av.VideoFrame) -> float:
        if frame.pts is not None:
            t = float(frame.pts * self.time_base) - self.origin
        elif self.last_time is not None:
            t = self.last_time + self.frame_step
        else:
            t = 0.0
        self.last_time = t
        return t

    def no_frames_error(self) -> VideoDecodeError:
        """The error for a stream that yielded no frame: empty if its header says so, else corrupt."""
        shown = self.label or "<in-memory video>"
        if not self.stream.frames and not self.bad_packets:
            return EmptyVideoError(f"{shown}: the video stream holds no frames; re-export it or remove it.", self.label)
        return CorruptVideoError(
            f"{shown}: no frame could be decoded ({self.bad_packets} bad packets); the file is damaged or "
            "truncated: re-download or re-export it.",
            self.label,
        )

    def seek(self, t: float) -> None:
        seconds = Fraction(max(t, 0.0)).limit_denominator(10**6) + Fraction(self.origin).limit_denominator(10**6)
        self.container.seek(int(seconds / self.time_base), stream=self.stream, backward=True, any_frame=False)
        self.last_time = None
        self.moved = True


def _index_times(stream, origin: float, trust_frames: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Keyframe times and, when exact, all frame times, from the demuxer's index.

    Index timestamps are decode times; they equal presentation times only without B-frames, and
    list every frame only when their count matches the header's (not so for sparse AVIs).
    Keyframe times serve only to decide when seeking pays, so approximate ones are harmless.
    """
    try:
        entries = stream.index_entries
        stamps = np.asarray([e.timestamp for e in entries], dtype=np.float64)
        is_key = np.asarray([e.is_keyframe for e in entries], dtype=bool)
    except (AttributeError, av.error.FFmpegError):
        return np.empty(0), None
    times = stamps * float(stream.time_base) - origin
    exact = trust_frames and len(times) > 0 and len(times) == int(stream.frames or 0) and bool(np.all(np.diff(times) > 0))
    return times[is_key] if len(times) else np.empty(0), (times if exact else None)


def _count_packets(container: av.container.InputContainer, stream, rewind: bool) -> tuple[int, float] | None:
    """Frames of ``stream`` counted by demuxing (no decoding), and the seconds from its first frame to the end
    of its last one: for containers whose index is not a frame table. ``rewind``: seek to the start first
    (``None`` when the source cannot seek)."""
    if rewind:
        try:
            container.seek(0)
        except (av.error.FFmpegError, OSError):
            return None
    count, first, end = 0, None, None
    for packet in container.demux(stream):
        if not packet.size or packet.pts is None:
            continue
        count += 1
        first = packet.pts if first is None else min(first, packet.pts)
        end = max(end if end is not None else packet.pts, packet.pts + (packet.duration or 0))
    return (count, float((end - first) * stream.time_base)) if count else None


def probe_video(source: VideoSource, *, decode_first_frame: bool = True, count_frames: bool = True) -> VideoInfo:
    """Describe a video's first video stream.

    With ``decode_first_frame`` (default) the first frame is decoded too, which proves the stream
    decodes and reads the rotation exactly; a file that opens but yields no frame raises
    :class:`EmptyVideoError` (header says zero frames) or :class:`CorruptVideoError`.

    Containers without a per-frame table (Matroska, WebM, MPEG-TS, Ogg) store no frame count: with
    ``count_frames`` (default) the packets are demuxed, without decoding, to count them exactly; without it
    the count is estimated from duration and rate and ``num_frames_exact`` is ``False``.
    """
    label = _label(source)
    shown = label or "<in-memory video>"
    container = _open(source)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        time_base = stream.time_base
        keyframes, _ = _index_times(stream, _origin_seconds(stream), trust_frames=False)
        if stream.duration is not None and stream.duration > 0:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        try:
            indexed = len(stream.index_entries)
        except (AttributeError, av.error.FFmpegError):
            indexed = 0
        width, height, rotation = ctx.width, ctx.height, 0
        if decode_first_frame:
            reader = _FrameReader(container, stream, label)
            first = next((frame for _, frame in reader.frames()), None)
            if first is None:
                raise reader.no_frames_error()
            width, height, rotation = first.width, first.height, int(first.rotation or 0)
            if int(round(rotation / 90.0)) % 2:
                width, height = height, width
        # With a header count the index is a frame table (it lists the packets actually stored; AVI headers
        # may also count dropped frames). Without one, as in Matroska, the index holds keyframes only.
        num_frames = (indexed or int(stream.frames)) if stream.frames else 0
        exact = num_frames > 0
        counted = _count_packets(container, stream, rewind=decode_first_frame) if not exact and count_frames else None
        if counted is not None:
            num_frames, exact = counted[0], True
            duration = counted[1] or duration
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not exact and rate and duration:
            num_frames = int(round(duration * float(rate)))
        fps = num_frames / duration if duration > 0 and num_frames > 0 else float(rate or 0.0)
        if num_frames == 0:
            if not decode_first_frame:
                raise EmptyVideoError(f"{shown}: the video stream holds no frames; re-export it or remove it.", label)
            num_frames, exact = 1, False
        return VideoInfo(
            duration=duration,
            fps=fps,
            num_frames=num_frames,
            width=width,
            height=height,
            rotation=rotation,
            codec=ctx.name,
            pixel_format=ctx.format.name if ctx.format else "unknown",
            keyframe_count=int(len(keyframes)),
            num_frames_exact=exact,
            path=label,
        )
    finally:
        container.close()


def select_frame_indices(frame_times: np.ndarray, timestamps: Sequence[float]) -> np.ndarray:
    """Index, for each requested time, of the last frame at or before it (clamped to the clip)."""
    times = np.asarray(frame_times, dtype=np.float64)
    wanted = np.asarray(timestamps, dtype=np.float64) + TIME_TOLERANCE
    return np.clip(np.searchsorted(times, wanted, side="right") - 1, 0, len(times) - 1)


def decode_all_frames(
    source: VideoSource, *, apply_rotation: bool = True, thread_type: str | None = "AUTO"
) -> tuple[np.ndarray, np.ndarray]:
    """Decode every frame: ``(times [N] seconds, frames uint8 [N, H, W, 3])`` in presentation order.

    The reference (and the whole-clip baseline of the loader benchmark); use
    :func:`decode_frames_at` to read a few frames.
    """
    label = _label(source)
    container = _open(source)
    try:
        reader = _FrameReader(container, _video_stream(container, thread_type), label)
        pairs = sorted(((t, _to_rgb(f, apply_rotation)) for t, f in reader.frames()), key=lambda p: p[0])
    finally:
        container.close()
    if not pairs:
        raise reader.no_frames_error()
    return np.asarray([t for t, _ in pairs]), np.stack([_conform(img, pairs[0][1].shape) for _, img in pairs])


def _conform(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Resize (nearest) a frame whose size changed mid-stream to the first frame's size."""
    if image.shape == shape:
        return image
    rows = np.linspace(0, image.shape[0] - 1, shape[0]).round().astype(int)
    cols = np.linspace(0, image.shape[1] - 1, shape[1]).round().astype(int)
    return image[rows][:, cols]


def decode_frames_at(
    source: VideoSource,
    timestamps: Sequence[float],
    *,
    apply_rotation: bool = True,
    thread_type: str | None = None,
) -> np.ndarray:
    """Decode the frames shown at ``timestamps`` (seconds from the first frame): uint8 ``[T, H, W, 3]``.

    Output order follows ``timestamps`` (duplicates allowed). Times are visited in sorted order;
    for each one the reader either decodes forward or seeks to the preceding keyframe
    (``backward=True, any_frame=False``), whichever the demuxer's keyframe index says is cheaper:
    it seeks when a keyframe lies between the current position and the target. All-intra clips
    therefore cost one seek and one frame per timestamp; long-GOP files one seek per window.
    Formats without an index seek when the target is more than a second ahead. If a seek lands
    after the target (imprecise indices), it backs off to earlier positions until it does not.
    Frames equal those of :func:`decode_all_frames` picked with :func:`select_frame_indices`.

    ``thread_type`` is PyAV's decoder threading ("AUTO", "SLICE", "FRAME" or ``None`` for the
    default); frame threading only adds latency for a few frames per seek, so it is off by default.
    """
    label = _label(source)
    shown = label or "<in-memory video>"
    if len(timestamps) == 0:
        raise ValueError("timestamps is empty; pass at least one time in seconds.")
    wanted = np.asarray(timestamps, dtype=np.float64)
    if not np.all(np.isfinite(wanted)):
        raise ValueError(f"timestamps must be finite seconds, got {list(timestamps)}.")
    order = np.unique(wanted)
    container = _open(source)
    try:
        stream = _video_stream(container, thread_type)
        reader = _FrameReader(container, stream, label)
        picked = _decode_sorted(reader, order, shown)
        images = {t: _to_rgb(frame, apply_rotation) for t, frame in picked.items()}
    finally:
        container.close()
    first_shape = images[order[0]].shape
    return np.stack([_conform(images[t], first_shape) for t in wanted])


def _decode_sorted(reader: _FrameReader, targets: np.ndarray, shown: str) -> dict:
    """Frame (as ``av.VideoFrame``) shown at each sorted target time.

    When the index lists every frame time, the frame a target needs is known in advance and
    decoding stops on it; otherwise one frame past the target is decoded to know it is the last.
    """
    picked: dict[float, av.VideoFrame] = {}
    frames: Iterator | None = None
    previous: tuple[float, av.VideoFrame] | None = None
    pending: tuple[float, av.VideoFrame] | None = None
    known = reader.frame_times
    for target in targets:
        limit = target + TIME_TOLERANCE
        position = (pending or previous or (None,))[0]
        if frames is None or _should_seek(position, target, reader.keyframes):
            frames, previous, pending = _seek_at_or_before(reader, target, shown)
        expected = known[max(np.searchsorted(known, limit, side="right") - 1, 0)] if known is not None else None
        if pending is not None and pending[0] <= limit:
            previous, pending = pending, None
        reached = expected is not None and previous is not None and previous[0] >= expected - TIME_TOLERANCE
        if pending is None and not reached:
            for t, frame in frames:
                if t <= limit:
                    previous = (t, frame)
                    if expected is not None and t >= expected - TIME_TOLERANCE:
                        break
                else:
                    pending = (t, frame)
                    break
        chosen = previous or pending
        if chosen is None:
            raise reader.no_frames_error()
        picked[float(target)] = chosen[1]
    return picked


def _should_seek(position: float | None, target: float, keyframes: np.ndarray) -> bool:
    if position is None:
        return True
    if len(keyframes) == 0:
        return target - position > _NO_INDEX_SEEK_GAP_S
    after = keyframes[keyframes > position + TIME_TOLERANCE]
    return bool(len(after)) and after[0] <= target + TIME_TOLERANCE


def _seek_at_or_before(reader: _FrameReader, target: float, shown: str):
    """Seek so the first decoded frame is at or before ``target`` (or is the stream's first frame)."""
    backoff = 0.0
    while True:
        position = max(target - backoff, 0.0)
        try:
            reader.seek(position)
        except av.error.FFmpegError as exc:
            if position <= 0.0 and not reader.moved:
                frames = reader.frames()
                first = next(frames, None)
                if first is not None and first[0] > target + TIME_TOLERANCE:
                    return frames, None, first
                return frames, first, None
            if position <= 0.0:
                raise CorruptVideoError(f"{shown}: cannot seek in this file ({exc}); re-export it.", reader.label) from exc
            backoff = max(1.0, backoff * 2)
            continue
        frames = reader.frames()
        first = next(frames, None)
        if first is None:
            if position <= 0.0:
                return frames, None, None
        elif first[0] <= target + TIME_TOLERANCE:
            return frames, first, None
        elif position <= 0.0 or backoff >= _MAX_SEEK_BACKOFF_S:
            return frames, None, first
        backoff = max(1.0, backoff * 2)


def iter_frames(
    source: VideoSource,
    max_frames: int | None = None,
    *,
    apply_rotation: bool = True,
    thread_type: str | None = "AUTO",
) -> Iterator[np.ndarray]:
    """Yield frames uint8 ``[H, W, 3]`` from the start in presentation order, at most ``max_frames``.

    For scanning the beginning of a video (curation's classifier filter). Raises the typed errors
    of :func:`probe_video` on open, and :class:`CorruptVideoError` if not a single frame decodes.
    """
    label = _label(source)
    container = _open(source)
    try:
        reader = _FrameReader(container, _video_stream(container, thread_type), label)
        count = 0
        for _, frame in reader.frames():
            if max_frames is not None and count >= max_frames:
                break
            yield _to_rgb(frame, apply_rotation)
            count += 1
        if count == 0 and max_frames != 0:
            raise reader.no_frames_error()
    finally:
        container.close()
