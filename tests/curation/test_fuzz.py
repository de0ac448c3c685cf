"""A fuzz set of bad files: curation never crashes and reports every file with a typed reason."""

import os
import shutil

import av
import numpy as np
import pytest
from curation_helpers import clip, read_jsonl, tiny_classifier, write_jsonl

from vito_hf.curation import CurationSettings, curate, taxonomy_from_records

TAXONOMY = taxonomy_from_records(["mountain bike", "car"])


def _faststart_copy(source, target):
    """Remux with the index (moov) first, so truncating it keeps a readable header."""
    with av.open(str(source)) as src, av.open(str(target), "w", options={"movflags": "+faststart"}) as dst:
        stream_in = src.streams.video[0]
        stream_out = dst.add_stream_from_template(stream_in)
        for packet in src.demux(stream_in):
            if packet.dts is not None:
                packet.stream = stream_out
                dst.mux(packet)


def _write_video(path, frames):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 128, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_audio_only(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def fuzz_manifest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    bikes = clip("bikes.mp4")
    data = bikes.read_bytes()
    shutil.copyfile(bikes, folder / "good.mp4")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "truncated.mp4").write_bytes(data[: len(data) * 2 // 5])
    (folder / "random.mp4").write_bytes(np.random.default_rng(0).bytes(65536))
    (folder / "text.mp4").write_text("just text\n")
    (folder / "x.mp4").mkdir()
    _write_audio_only(folder / "audio.mp4")
    _write_video(folder / "zero.mkv", frames=0)
    _write_video(folder / "one.mp4", frames=1)
    _faststart_copy(bikes, folder / "fast.mp4")
    fast = (folder / "fast.mp4").read_bytes()
    (folder / "header_only.mp4").write_bytes(fast[: fast.find(b"mdat") + 1000])
    (folder / "half.mp4").write_bytes(fast[: len(fast) // 2])
    expected = {
        "good.mp4": ("kept", None),
        "one.mp4": ("kept", None),
        "empty.mp4": ("probe", "EmptyVideoError"),
        "truncated.mp4": ("probe", "CorruptVideoError"),
        "header_only.mp4": ("probe", "CorruptVideoError"),
        "zero.mkv": ("probe", "CorruptVideoError"),
        "random.mp4": ("probe", "NotAVideoError"),
        "text.mp4": ("probe", "NotAVideoError"),
        "x.mp4": ("probe", "NotAVideoError"),
        "audio.mp4": ("probe", "NoVideoStreamError"),
        "missing.mp4": ("probe", "VideoNotFoundError"),
        "half.mp4": ("export", "truncated"),
        "https://example.org/v.mp4": ("candidates", "remote_url"),
    }
    if os.geteuid() != 0:
        (folder / "locked.mp4").write_bytes(data)
        (folder / "locked.mp4").chmod(0)
        expected["locked.mp4"] = ("probe", "VideoPermissionError")
    rows = [{"path" if "://" not in name else "url": name, "title": f"mountain bike {i}"} for i, name in enumerate(expected)]
    manifest = write_jsonl(folder / "manifest.jsonl", rows)
    with open(manifest, "a") as f:
        f.write("{broken json\n")
    expected[f"manifest.jsonl line {len(rows) + 1}"] = ("candidates", "bad_entry")
    return manifest, expected


def test_bad_files_are_skipped_with_reasons_and_nothing_crashes(fuzz_manifest, tmp_path):
    manifest, expected = fuzz_manifest
    classifier = tiny_classifier(tmp_path / "cls", ["mountain bike", "car"], top1=0)
    output = tmp_path / "out"
    result = curate(
        manifest, output, CurationSettings(
            taxonomy=TAXONOMY, classifier=classifier, num_frames=4, min_duration=0.0, clip_duration=10.0,
            num_workers=2, progress=False,
        ),
    )
    report = result.report
    assert report["totals"]["candidates"] == len(expected)
    kept = {row["source"] for row in read_jsonl(output / "metadata.jsonl")}
    rejected = {row["source"]: row for row in read_jsonl(output / "report" / "rejected.jsonl")}
    assert kept | set(rejected) == set(expected) and not kept & set(rejected)
    outcome = {source: ("kept", None) for source in kept}
    outcome.update({source: (r["stage"], r["reason_code"]) for source, r in rejected.items()})
    assert outcome == expected
    assert all(r["reason"] and not r["reason_code"].startswith("unexpected") for r in rejected.values())
    reasons = report["rejection_reasons"]
    assert sum(sum(codes.values()) for codes in reasons.values()) == len(rejected)
    assert reasons["probe"]["NotAVideoError"] == 3
    clips = {p.name for p in (output / "clips").rglob("*") if p.is_file()}
    assert len(clips) == 2 and not any(name.startswith(".") for name in clips)
    rows = {row["source"]: row for row in read_jsonl(output / "metadata.jsonl")}
    assert rows["one.mp4"]["num_frames"] == 1
    assert rows["good.mp4"]["num_frames"] == 250
