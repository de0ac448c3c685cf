"""Decoding at timestamps on the real sample clips, edge-case videos, and the fuzz set of bad files."""

from __future__ import annotations

import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vito_hf.data.decoding import (
    CorruptVideoError,
    EmptyVideoError,
    NotAVideoError,
    NoVideoStreamError,
    VideoDecodeError,
    VideoNotFoundError,
    VideoPermissionError,
    decode_all_frames,
    decode_frames_at,
    iter_frames,
    probe_video,
    select_frame_indices,
)
from sample_clips import sample_clip_paths

CLIPS = sample_clip_paths()


def write_video(path: Path, images, times=None, codec="png", rotation=None, pix_fmt="rgb24") -> Path:
    """Write RGB ``images`` at presentation ``times`` (seconds; default 25 fps)."""
    rate = 25 if times is None else 1000
    ticks = range(len(images)) if times is None else [int(round(t * 1000)) for t in times]
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.height, stream.width = images[0].shape[:2] if len(images) else (16, 16)
        stream.pix_fmt = pix_fmt
        if rotation is not None:
            stream.set_display_rotation(rotation)
        out.start_encoding()
        for image, tick in zip(images, ticks):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=pix_fmt)
            frame.pts = tick
            frame.time_base = Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def flat_frames(values, size=(12, 20)) -> list[np.ndarray]:
    return [np.full((*size, 3), v, dtype=np.uint8) for v in values]


@pytest.fixture(scope="module")
def full_decodes():
    return {path: decode_all_frames(path) for path in CLIPS}


@pytest.mark.parametrize("path", CLIPS, ids=[p.name for p in CLIPS])
def test_frames_at_timestamps_equal_full_decode(path, full_decodes):
    times, frames = full_decodes[path]
    rng = np.random.default_rng(0)
    duration = times[-1]
    requested = np.concatenate(
        [
            rng.uniform(0, duration, 12),
            rng.choice(times, 6) + 1e-5,
            rng.choice(times[1:], 4) - 1e-3,
            [-2.0, duration + 30.0],
        ]
    )
    got = decode_frames_at(path, requested)
    expected = frames[select_frame_indices(times, requested)]
    assert got.dtype == np.uint8 and got.shape == expected.shape
    for i, t in enumerate(requested):
        assert np.array_equal(got[i], expected[i]), f"{path.name}: frame at t={t:.4f} differs from a full decode"
    single = rng.uniform(0, duration)
    assert np.array_equal(decode_frames_at(path, [single])[0], frames[select_frame_indices(times, [single])[0]])


def test_selection_rule_is_last_frame_at_or_before():
    times = np.array([0.0, 0.1, 0.15, 0.5])
    assert list(select_frame_indices(times, [-1, 0, 0.099, 0.1, 0.14, 0.2, 0.5, 9])) == [0, 0, 0, 1, 1, 2, 3, 3]


def test_order_and_duplicates_follow_the_request(full_decodes):
    path = CLIPS[0]
    times, frames = full_decodes[path]
    got = decode_frames_at(path, [3.0, 1.0, 3.0])
    assert np.array_equal(got[0], got[2])
    assert np.array_equal(got[1], frames[select_frame_indices(times, [1.0])[0]])
    assert not np.array_equal(got[0], got[1])


def test_bytes_and_path_decode_identically():
    path = CLIPS[1]
    requested = [0.3, 2.2, 3.9]
    assert np.array_equal(decode_frames_at(path.read_bytes(), requested), decode_frames_at(path, requested))
    assert probe_video(path.read_bytes()).num_frames == probe_video(path).num_frames


def test_probe_of_real_clip():
    info = probe_video(CLIPS[0])
    assert (info.width, info.height, info.num_frames, info.codec) == (640, 272, 250, "h264")
    assert info.duration == pytest.approx(10.0) and info.fps == pytest.approx(25.0)
    assert info.rotation == 0 and info.num_frames_exact


def test_variable_frame_rate_uses_presentation_times(tmp_path):
    times = [0.0, 0.1, 0.15, 0.5, 0.52, 1.3]
    path = write_video(tmp_path / "vfr.mov", flat_frames([10, 50, 90, 130, 170, 210]), times)
    requested = [0.0, 0.12, 0.16, 0.49, 0.51, 0.53, 1.0, 1.3, 5.0]
    values = decode_frames_at(path, requested)[:, 0, 0, 0]
    assert list(values) == [10, 50, 90, 90, 130, 170, 170, 210, 210]
    decoded_times, _ = decode_all_frames(path)
    assert np.allclose(decoded_times, times)


def test_odd_size_decodes_exactly(tmp_path):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (27, 35, 3), dtype=np.uint8) for _ in range(5)]
    path = write_video(tmp_path / "odd.mov", images)
    info = probe_video(path)
    assert (info.width, info.height, info.num_frames) == (35, 27, 5)
    got = decode_frames_at(path, [0.0, 0.08, 0.16])
    for image, frame in zip([images[0], images[2], images[4]], got):
        assert np.array_equal(image, frame)


def test_rotation_metadata_is_applied(tmp_path):
    image = np.zeros((8, 16, 3), dtype=np.uint8)
    image[:2, :4] = 255  # top-left marker of a wide frame
    path = write_video(tmp_path / "rot.mov", [image, image], rotation=90)
    info = probe_video(path)
    assert info.rotation == 90 and (info.width, info.height) == (8, 16)
    rotated = decode_frames_at(path, [0.0])[0]
    assert np.array_equal(rotated, np.rot90(image, 1))
    assert np.array_equal(decode_frames_at(path, [0.0], apply_rotation=False)[0], image)


@pytest.mark.parametrize("codec", ["msmpeg4", "cinepak", "mpeg4"])
def test_legacy_codecs(tmp_path, codec):
    rng = np.random.default_rng(2)
    images = [np.clip(rng.normal(120 + 8 * i, 30, (48, 64, 3)), 0, 255).astype(np.uint8) for i in range(12)]
    pix_fmt = "rgb24" if codec == "cinepak" else "yuv420p"
    path = write_video(tmp_path / f"{codec}.avi", images, codec=codec, pix_fmt=pix_fmt)
    times, frames = decode_all_frames(path)
    assert len(frames) == 12
    requested = [0.0, 0.13, 0.3, 0.44]
    assert np.array_equal(decode_frames_at(path, requested), frames[select_frame_indices(times, requested)])


def test_sparse_timestamps_of_tree_avi(full_decodes):
    tree = next((p for p in CLIPS if p.name == "tree.avi"), None)
    if tree is None:
        pytest.skip("opencv-doc clips not fetched (python examples/sample_clips.py)")
    times, _ = full_decodes[tree]
    gaps = np.diff(times)
    assert gaps.max() > 1.5 * gaps.min()  # uneven: the property this clip is here for
    info = probe_video(tree)
    assert info.codec == "cinepak" and info.num_frames == len(times) == 68  # its header claims 444
    assert info.fps == pytest.approx(68 / info.duration)


def test_iter_frames_yields_the_first_frames(full_decodes):
    path = CLIPS[0]
    _, frames = full_decodes[path]
    first = list(iter_frames(path, max_frames=7))
    assert len(first) == 7 and all(np.array_equal(a, b) for a, b in zip(first, frames[:7]))
    assert len(list(iter_frames(CLIPS[1]))) == 120


def test_timestamps_must_be_finite_and_present():
    with pytest.raises(ValueError):
        decode_frames_at(CLIPS[1], [])
    with pytest.raises(ValueError):
        decode_frames_at(CLIPS[1], [float("nan")])


def test_one_frame_video(tmp_path):
    path = write_video(tmp_path / "one.mov", flat_frames([77]))
    assert probe_video(path).num_frames == 1
    assert list(decode_frames_at(path, [0.0, 0.5, 10.0])[:, 0, 0, 0]) == [77, 77, 77]


def test_truncated_file_keeps_its_good_frames(tmp_path):
    from vito_hf.curation.clip_export import encode_clip

    clip = encode_clip(CLIPS[1], tmp_path / "clip.mp4", duration=4.0, short_side=64)
    data = Path(clip.path).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    times, frames = decode_all_frames(clip.path)
    early = decode_frames_at(cut, [0.2, 0.6])
    assert np.array_equal(early, frames[select_frame_indices(times, [0.2, 0.6])])
    late = decode_frames_at(cut, [3.9])[0]
    assert any(np.array_equal(late, f) for f in frames[: int(len(frames) * 0.7)])


def _audio_only(path: Path) -> Path:
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("aac", rate=16000)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _zero_frames(path: Path) -> Path:
    """A video stream that holds no frame (AVI keeps the empty stream; MP4 drops it)."""
    return write_video(path, [], codec="mpeg4", pix_fmt="yuv420p")


def _bad_files(tmp: Path) -> dict[str, tuple[object, type]]:
    bikes = CLIPS[0].read_bytes()
    (tmp / "empty.mp4").write_bytes(b"")
    (tmp / "truncated.mp4").write_bytes(bikes[: len(bikes) // 2])
    (tmp / "random.mp4").write_bytes(np.random.default_rng(3).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    (tmp / "notes.mp4").write_text("this is a text file, not a video\n" * 20)
    (tmp / "folder.mp4").mkdir()
    return {
        "empty": (tmp / "empty.mp4", EmptyVideoError),
        "truncated": (tmp / "truncated.mp4", CorruptVideoError),
        "random bytes": (tmp / "random.mp4", NotAVideoError),
        "random bytes in memory": ((tmp / "random.mp4").read_bytes(), NotAVideoError),
        "text named .mp4": (tmp / "notes.mp4", NotAVideoError),
        "audio only": (_audio_only(tmp / "audio.m4a"), NoVideoStreamError),
        "zero frames": (_zero_frames(tmp / "zero.avi"), EmptyVideoError),
        "no streams": (_zero_frames(tmp / "zero.mp4"), EmptyVideoError),
        "directory": (tmp / "folder.mp4", NotAVideoError),
        "missing": (tmp / "missing.mp4", VideoNotFoundError),
    }


def test_fuzz_set_raises_typed_errors_and_never_crashes(tmp_path):
    for name, (source, error) in _bad_files(tmp_path).items():
        for call in (probe_video, lambda s: decode_frames_at(s, [0.5]), lambda s: list(iter_frames(s, 5))):
            with pytest.raises(error) as info:
                call(source)
            assert isinstance(info.value, VideoDecodeError), name
            message = str(info.value)
            assert len(message) > 30 and ";" in message, f"{name}: message should say what to do: {message}"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to drop to another user")
def test_permission_denied_for_an_unprivileged_user():
    # Root reads any file, so a forked child drops to the 'nobody' user before opening it.
    folder = Path(tempfile.mkdtemp(prefix="vito-perm-"))
    try:
        folder.chmod(0o755)
        secret = folder / "secret.mp4"
        secret.write_bytes(CLIPS[1].read_bytes())
        secret.chmod(0o000)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            outcome = b"no error"
            try:
                os.setgid(65534)
                os.setuid(65534)
                probe_video(secret)
            except VideoPermissionError as exc:
                outcome = f"typed: {exc}".encode()
            except BaseException as exc:
                outcome = f"other: {type(exc).__name__}: {exc}".encode()
            os.write(write_end, outcome)
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            outcome = pipe.read().decode()
        os.waitpid(pid, 0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert outcome.startswith("typed:"), outcome
    assert "permission denied" in outcome and "chmod" in outcome


MATROSKA_CASES = {
    # name: (file name, encoder, times in seconds or None for 25 fps, second video stream)
    "vp9-webm": ("vp9.webm", "libvpx-vp9", None, False),
    "ffv1-mkv": ("ffv1.mkv", "ffv1", None, False),
    "hevc-mkv": ("hevc.mkv", "libx265", None, False),
    "vfr-mkv": ("vfr.mkv", "libx264", [0.0, 0.02, 0.1, 0.13, 0.4, 0.45, 0.47, 0.9, 1.0, 1.31, 1.33, 1.8], False),
    "two-streams-mkv": ("two.mkv", "libx264", None, True),
}


def write_matroska(path: Path, images, encoder: str, times=None, second_stream=False) -> Path:
    """Encode real RGB frames with `encoder` into a Matroska/WebM file (1 ms time base; 25 fps unless `times`)."""
    times = times or [i / 25 for i in range(len(images))]
    with av.open(str(path), mode="w") as out:
        streams = []
        for scale in (1, 2) if second_stream else (1,):
            stream = out.add_stream(encoder, rate=25)
            stream.height, stream.width = images[0].shape[0] // scale, images[0].shape[1] // scale
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, 1000)
            if encoder == "libx265":
                stream.options = {"x265-params": "log-level=error"}
            streams.append((scale, stream))
        for image, t in zip(images, times):
            for scale, stream in streams:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[::scale, ::scale]), format="rgb24")
                frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
                out.mux(stream.encode(frame))
        for _, stream in streams:
            out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def real_frames():
    """Twelve real frames of bikes.mp4, cut to 96x128 so the encoders take milliseconds."""
    return [frame[:96, :128].copy() for frame in iter_frames(CLIPS[0], max_frames=12)]


@pytest.mark.parametrize("case", MATROSKA_CASES, ids=list(MATROSKA_CASES))
def test_probe_counts_the_frames_of_matroska_and_webm(tmp_path, real_frames, case):
    """Matroska's index (cues) lists keyframes only and its header holds no frame count: the probe must not
    report the cue count as an exact frame count (it reported 1, exact, for every file here)."""
    name, encoder, times, second_stream = MATROSKA_CASES[case]
    try:
        av.codec.Codec(encoder, "w")
    except av.codec.codec.UnknownCodecError:
        pytest.skip(f"PyAV's bundled FFmpeg has no {encoder} encoder")
    path = write_matroska(tmp_path / name, real_frames, encoder, times, second_stream)
    decoded_times, _ = decode_all_frames(path)
    assert len(decoded_times) == len(real_frames)

    info = probe_video(path)
    assert (info.num_frames, info.num_frames_exact) == (len(real_frames), True)
    assert (info.width, info.height) == (128, 96)
    assert info.fps == pytest.approx(info.num_frames / info.duration)

    estimate = probe_video(path, count_frames=False)
    assert not estimate.num_frames_exact
    assert estimate.num_frames == round(estimate.duration * 25)
