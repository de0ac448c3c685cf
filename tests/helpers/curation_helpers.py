"""Shared pieces of the curation tests: the real sample clips and a tiny classifier whose top-1 we choose."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import torch
from transformers import ResNetConfig, ResNetForImageClassification
from transformers.models.convnext import ConvNextImageProcessorPil

from sample_clips import sample_clip_paths


def clip(name: str) -> Path:
    """A real sample clip by file name: bikes.mp4 (10 s, 25 fps) or carphone_pristine.mp4 (4 s)."""
    return next(p for p in sample_clip_paths() if p.name == name)


def tiny_classifier(
    folder: Path, labels: list[str], top1: int | None, *, processor: bool = True, image_size: int = 32,
    frame_dependent: bool = False,
) -> Path:
    """Save a real ResNet classifier of a few kilobytes whose top-1 is always label `top1`.

    Its last linear layer has zero weights and a one-hot bias, so every frame predicts `top1`.
    With `frame_dependent`, the layer keeps its random weights (and `top1` None): predictions
    then vary with the frame.
    """
    config = ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
        image_size=image_size,
    )
    model = ResNetForImageClassification(config)
    with torch.no_grad():
        head = model.classifier[1]
        if not frame_dependent:
            head.weight.zero_()
        head.bias.zero_()
        if top1 is not None:
            head.bias[top1] = 4.0
    model.save_pretrained(folder)
    if processor:
        ConvNextImageProcessorPil(
            size={"shortest_edge": image_size}, crop_pct=1.0,
            image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
        ).save_pretrained(folder)
    return folder


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _processes() -> dict[int, tuple[str, int, int, int]]:
    """Every process on the machine: pid -> (state, parent pid, process group, session), from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended while we looked
            continue
        state, ppid, pgrp, session = stat[stat.rindex(")") + 2 :].split()[:4]
        table[int(entry.name)] = (state, int(ppid), int(pgrp), int(session))
    return table


def _job(root: int, table: dict) -> set[int]:
    """`root`, its descendants, and whatever still runs in its process group or session."""
    job = {root} | {pid for pid, (_, _, pgrp, session) in table.items() if root in (pgrp, session)}
    grew = True
    while grew:
        children = {pid for pid, (_, ppid, _, _) in table.items() if ppid in job}
        grew = not children <= job
        job |= children
    return {pid for pid in job if pid in table and table[pid][0] != "Z"}


def kill_job(root: int, timeout: float = 60.0) -> None:
    """SIGKILL a job started with `start_new_session=True` and every process it spawned, and return once
    none of them runs.

    Killing the process group is not enough for Ray: its workers can sit outside the group, and one that
    outlives the kill by a moment still saves a video's record. So the job is frozen first (SIGSTOP until
    no new process appears; a stopped process cannot spawn), then killed whole.
    """
    stopped: set[int] = set()
    while new := _job(root, _processes()) - stopped:
        for pid in new:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        stopped |= new
    for pid in stopped:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(table_entry[0] != "Z" for pid, table_entry in _processes().items() if pid in stopped):
        assert time.monotonic() < deadline, f"processes of the killed job still run after {timeout} s"
        time.sleep(0.05)
