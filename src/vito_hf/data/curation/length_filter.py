"""The length filter: the paper drops videos shorter than 10 s, so every clip spans its full length."""

from __future__ import annotations

from ..decoding import VideoInfo

_SLACK_S = 1e-3


def length_rejection(info: VideoInfo, min_duration: float) -> str | None:
    """Why the video is too short, or None when it lasts at least `min_duration` seconds."""
    if info.duration + _SLACK_S >= min_duration:
        return None
    return f"too short: {info.duration:.2f} s < {min_duration:g} s"
