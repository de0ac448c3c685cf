"""encode_clip on the real clips: constant rate, bounded even size, keyframes, content, atomic writes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vito_hf.curation.clip_export import encode_clip, output_size
from vito_hf.data.decoding import (
    EmptyVideoError,
    NotAVideoError,
    decode_all_frames,
    decode_frames_at,
    probe_video,
    select_frame_indices,
)
from sample_clips import sample_clip_paths

BIKES, CARPHONE = sample_clip_paths()[:2]


def _downsized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(*size, interpolation="AREA")
    return frame.to_ndarray(format="rgb24").astype(np.float32)


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


@pytest.fixture(scope="module")
def bikes_clip(tmp_path_factory):
    dst = tmp_path_factory.mktemp("export") / "clips" / "bikes.mp4"
    return encode_clip(BIKES, dst, duration=4.0, short_side=128), dst


def test_default_clip_is_constant_rate_bounded_even_and_all_intra(bikes_clip):
    info, dst = bikes_clip
    assert dst.is_file() and info.path == str(dst)
    assert (info.width, info.height) == (302, 128)  # 640x272 scaled to short side 128, even width
    assert info.fps == pytest.approx(25.0) and info.num_frames == 100
    assert info.codec == "mjpeg" and info.keyframe_count == info.num_frames
    times, _ = decode_all_frames(dst)
    assert np.allclose(np.diff(times), 0.04)


def test_clip_frames_show_the_source_at_their_times(bikes_clip):
    info, dst = bikes_clip
    source_times, source_frames = decode_all_frames(BIKES)
    clip = decode_frames_at(dst, [0.52, 1.24, 3.0])  # 1.24: just after a shot cut at 1.2 s
    size = (info.width, info.height)
    for t, frame in zip([0.52, 1.24, 3.0], clip):
        index = select_frame_indices(source_times, [t])[0]
        right = _mae(frame, _downsized(source_frames[index], size))
        other = _mae(frame, _downsized(source_frames[max(index - 3, 0)], size))
        assert right < 4.0 and right < other


def test_keyframe_interval_and_codecs(tmp_path):
    gop = encode_clip(CARPHONE, tmp_path / "gop.mp4", duration=2.0, keyframe_interval=16, codec="libx264")
    assert gop.codec == "h264" and gop.num_frames == 50 and gop.keyframe_count == 4  # frames 0, 16, 32, 48
    intra = encode_clip(CARPHONE, tmp_path / "intra.mp4", duration=1.0, codec="libx264", tune="fastdecode")
    assert intra.codec == "h264" and intra.keyframe_count == intra.num_frames == 25
    times, frames = decode_all_frames(tmp_path / "intra.mp4")
    assert np.array_equal(decode_frames_at(tmp_path / "intra.mp4", [0.5]), frames[select_frame_indices(times, [0.5])])
    with pytest.raises(ValueError, match="codec"):
        encode_clip(CARPHONE, tmp_path / "x.mp4", codec="prores")


def test_small_sources_are_not_upscaled_and_sizes_are_even():
    assert output_size(176, 144, 256) == (176, 144)
    assert output_size(175, 143, 256) == (176, 144)
    assert output_size(1920, 1080, 256) == (456, 256)
    assert output_size(1080, 1920, 256) == (256, 456)
    assert output_size(641, 273, None) == (642, 274)


def test_window_and_end_of_source(tmp_path):
    window = encode_clip(BIKES, tmp_path / "w.mp4", start=3.3, duration=2.0, fps=10.0, short_side=64)
    assert window.num_frames == 20 and window.fps == pytest.approx(10.0)
    tail = encode_clip(BIKES, tmp_path / "tail.mp4", start=8.5, duration=10.0, short_side=64)
    assert tail.num_frames == 38  # 8.5 s + k/25 stays before the source's end at 10 s
    with pytest.raises(EmptyVideoError):
        encode_clip(BIKES, tmp_path / "late.mp4", start=20.0, short_side=64)
    assert not (tmp_path / "late.mp4").exists()


def test_variable_rate_source_becomes_constant_rate(tmp_path):
    src = tmp_path / "vfr.mov"
    times = [0.0, 0.1, 0.15, 0.5, 0.52]
    with av.open(str(src), mode="w") as out:
        stream = out.add_stream("png", rate=1000)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "rgb24"
        for value, t in zip([20, 60, 100, 140, 180], times):
            frame = av.VideoFrame.from_ndarray(np.full((16, 32, 3), value, np.uint8), format="rgb24")
            frame.pts, frame.time_base = int(t * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    info = encode_clip(src, tmp_path / "cfr.mp4", fps=20.0, short_side=None)
    assert info.num_frames == 11  # 0.00 .. 0.50 at 0.05 s; the source ends 0.04 s after 0.52 s
    means = decode_all_frames(tmp_path / "cfr.mp4")[1].mean(axis=(1, 2, 3))
    expected = [20, 20, 60, 100, 100, 100, 100, 100, 100, 100, 140]
    assert np.allclose(means, expected, atol=3)


def test_rotation_is_baked_in(tmp_path):
    src = tmp_path / "rot.mov"
    image = np.zeros((32, 64, 3), np.uint8)
    image[:8, :16] = 255
    with av.open(str(src), mode="w") as out:
        stream = out.add_stream("png", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "rgb24"
        stream.set_display_rotation(90)
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    info = encode_clip(src, tmp_path / "upright.mp4", short_side=None)
    assert info.rotation == 0 and (info.width, info.height) == (32, 64)
    frame = decode_frames_at(tmp_path / "upright.mp4", [0.0])[0]
    assert _mae(frame, np.rot90(image, 1)) < 6


def test_writes_are_atomic_and_failures_leave_nothing(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video at all, just text for the fuzz set\n")
    with pytest.raises(NotAVideoError):
        encode_clip(bad, tmp_path / "out" / "clip.mp4")
    assert not (tmp_path / "out" / "clip.mp4").exists()
    encode_clip(CARPHONE, tmp_path / "out" / "clip.mp4", duration=0.5, short_side=32)
    leftovers = [p.name for p in (tmp_path / "out").iterdir()]
    assert leftovers == ["clip.mp4"]
    assert probe_video(tmp_path / "out" / "clip.mp4").num_frames == 13


def test_bytes_source(tmp_path):
    info = encode_clip(Path(CARPHONE).read_bytes(), tmp_path / "b.mp4", duration=0.4, short_side=32)
    assert info.num_frames == 10


def test_a_damaged_file_exports_to_identical_bytes_every_time(tmp_path):
    """Threaded decoding concealed the damage differently from run to run (3 different clips out of 6)."""
    import hashlib
    import random

    data = bytearray(BIKES.read_bytes())
    rng = random.Random(0)
    for _ in range(40):  # overwrite 40 runs of 64 bytes past the header with noise
        position = rng.randrange(len(data) // 4, len(data) - 64)
        data[position : position + 64] = bytes(rng.randrange(256) for _ in range(64))
    copies = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for copy in copies:
        copy.write_bytes(data)
    digests = set()
    for run in range(6):
        clip = tmp_path / "out" / f"clip{run}.mp4"
        encode_clip(copies[run % 2], clip, duration=10.0, short_side=128)
        digests.add(hashlib.sha256(clip.read_bytes()).hexdigest())
    assert len(digests) == 1
