# Copyright 2026 The vito_hf authors. Licensed under the Apache License, Version 2.0.
"""Video processor for `VitoForVideoClassification`: PyAV decoding, uniform frame sampling, the image
processor's per-frame preprocessing.

transformers' `BaseVideoProcessor` needs torchvision (and its default decoder torchcodec), neither of which
installs beside the CPU torch wheel; this one builds on the backend-free `VideoProcessorMixin` with the PIL
backend and decodes with PyAV through `transformers.video_utils.load_video`, so
`pipeline("video-classification")` runs with PyAV alone.
"""

import os

import numpy as np
from transformers.image_processing_backends import PilBackend
from transformers.image_processing_utils import BatchFeature
from transformers.video_processing_utils import VideoProcessorMixin
from transformers.video_utils import VideoMetadata, is_valid_video, load_video, make_batched_videos

from .image_processing_vito import VitoImageProcessor


class VitoVideoProcessor(VideoProcessorMixin, PilBackend):
    """Samples `num_frames` frames per video, one at the middle of each of `num_frames` equal segments (the
    clip-level evaluation of TSN and of the paper's UCF-101 protocol), and preprocesses each frame as
    `VitoImageProcessor` does. Returns `pixel_values` of shape `(batch, num_frames, 3, height, width)`.

    Videos may be file paths (decoded with PyAV), arrays `(frames, height, width, 3)`, or lists of frames.
    """

    model_input_names = ["pixel_values"]
    resample = VitoImageProcessor.resample
    image_mean = VitoImageProcessor.image_mean
    image_std = VitoImageProcessor.image_std
    size = VitoImageProcessor.size
    default_to_square = VitoImageProcessor.default_to_square
    crop_size = VitoImageProcessor.crop_size
    do_resize = True
    do_center_crop = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = True
    num_frames = 8

    @classmethod
    def like(cls, image_processor: VitoImageProcessor, num_frames: int | None = None) -> "VitoVideoProcessor":
        """A video processor that samples `num_frames` frames (default: the class's) and prepares each as
        `image_processor` prepares an image."""
        return cls(
            size=image_processor.size, crop_size=getattr(image_processor, "crop_size", None),
            do_center_crop=getattr(image_processor, "do_center_crop", cls.do_center_crop),
            image_mean=image_processor.image_mean, image_std=image_processor.image_std,
            num_frames=num_frames or cls.num_frames,
        )

    def sample_frames(self, metadata: VideoMetadata, num_frames: int | None = None, **kwargs) -> np.ndarray:
        """Indices of the middle frame of each of `num_frames` equal segments; a video shorter than
        `num_frames` repeats frames."""
        num_frames = num_frames or self.num_frames
        total = metadata.total_num_frames
        if not total:
            raise ValueError(
                "The video's frame count is unknown (its container does not record it): decode the frames "
                "yourself and pass them as an array of shape (frames, height, width, 3)."
            )
        return ((np.arange(num_frames) + 0.5) * total / num_frames).astype(int)

    def _decode_and_sample_videos(self, videos, video_metadata=None, do_sample_frames=None, sample_indices_fn=None):
        if isinstance(videos, (str, os.PathLike)) or (
            isinstance(videos, (list, tuple)) and videos and isinstance(videos[0], (str, os.PathLike))
        ):
            paths = [videos] if isinstance(videos, (str, os.PathLike)) else list(videos)
            decoded = [
                load_video(str(path), backend="pyav", sample_indices_fn=sample_indices_fn if do_sample_frames else None)
                for path in paths
            ]
            return [frames for frames, _ in decoded], [metadata for _, metadata in decoded]
        videos = make_batched_videos(videos)
        metadata = [VideoMetadata(total_num_frames=len(video)) for video in videos]
        if do_sample_frames and is_valid_video(videos[0]):
            indices = [sample_indices_fn(metadata=meta) for meta in metadata]
            videos = [video[index] for video, index in zip(videos, indices)]
        return videos, metadata

    def _prepare_input_videos(self, videos, do_convert_rgb=None, input_data_format=None, device=None):
        return [
            [
                self.process_image(frame, do_convert_rgb=do_convert_rgb, input_data_format=input_data_format)
                for frame in video
            ]
            for video in videos
        ]

    def _preprocess(self, videos, return_tensors=None, **kwargs) -> BatchFeature:
        kwargs.setdefault("do_pad", False)
        kwargs.setdefault("pad_size", None)
        clips = [
            np.stack(PilBackend._preprocess(self, images=frames, return_tensors=None, **kwargs)["pixel_values"])
            for frames in videos
        ]
        return BatchFeature(data={"pixel_values": clips}, tensor_type=return_tensors)


__all__ = ["VitoVideoProcessor"]
