"""The settings that decide which videos a curation keeps and how their clips look."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..clip_export import SUPPORTED_CODECS


@dataclass(frozen=True)
class CurationSettings:
    """Outcome-deciding settings, pinned in the output folder so reruns stay consistent.

    `taxonomy` is the taxonomy's fingerprint; `classifier` None skips the classifier filter.
    `codec` "mjpeg" (default) gives the fastest random access for training (intra-only; see
    `vito_hf.data.encode_clip`); "libx264" (all-intra) gives smaller clips that browsers play.
    """

    taxonomy: str
    classifier: str | None = None
    num_frames: int = 100
    min_duration: float = 10.0
    clip_duration: float = 10.0
    fps: float = 25.0
    short_side: int | None = 256
    codec: str = "mjpeg"
    per_class_cap: int | None = 5000
    match_tags: bool = False

    def __post_init__(self) -> None:
        checks = {
            "num_frames": self.num_frames >= 1,
            "min_duration": self.min_duration >= 0,
            "clip_duration": self.clip_duration > 0,
            "fps": self.fps > 0,
            "short_side": self.short_side is None or self.short_side >= 2,
            "codec": self.codec in SUPPORTED_CODECS,
            "per_class_cap": self.per_class_cap is None or self.per_class_cap >= 1,
        }
        for field, ok in checks.items():
            if not ok:
                raise ValueError(f"{field}={getattr(self, field)!r} is out of range; see CurationSettings")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
