"""Video data for VITO: PyAV decoding, clip export, sample footage, samplers, view augmentation, datasets."""

from .clip_export import encode_clip
from .decoding import (
    CorruptVideoError,
    EmptyVideoError,
    NotAVideoError,
    NoVideoStreamError,
    VideoDecodeError,
    VideoInfo,
    VideoNotFoundError,
    VideoPermissionError,
    decode_all_frames,
    decode_frames_at,
    iter_frames,
    probe_video,
    select_frame_indices,
)
from .sample_clips import fetch_opencv_doc_clips, sample_clip_dir, sample_clip_paths

__all__ = [
    "CorruptVideoError",
    "EmptyVideoError",
    "NoVideoStreamError",
    "NotAVideoError",
    "VideoDecodeError",
    "VideoInfo",
    "VideoNotFoundError",
    "VideoPermissionError",
    "decode_all_frames",
    "decode_frames_at",
    "encode_clip",
    "fetch_opencv_doc_clips",
    "iter_frames",
    "probe_video",
    "sample_clip_dir",
    "sample_clip_paths",
    "select_frame_indices",
]
