"""Deprecated: the clip encoder moved to `vito_hf.curation.clip_export` in 0.2; this alias goes in the next release."""

import warnings

warnings.warn(
    "vito_hf.data.clip_export moved to vito_hf.curation.clip_export; the old path will be removed in the next release",
    DeprecationWarning,
    stacklevel=2,
)

from vito_hf.curation.clip_export import SUPPORTED_CODECS, encode_clip, output_size  # noqa: E402,F401
