"""Reading the samples of a shard store's tars: the rows `vito_hf.data.build_shard_stream` yields.

Kept apart from the `datasets` builder module on purpose: `datasets` swaps that module's ``open``, ``Path`` and
``os.path`` for its remote-aware versions when it streams a folder store, which would put a URL parser in front of
every tar this module opens.
"""

from __future__ import annotations

import json
import logging
import tarfile
from collections.abc import Iterator

import fsspec

from ..clip_store import COLUMNS, SHARD_METADATA_FIELD, SHARD_VIDEO_FIELD
from .decoding import tar_member_source
from .store_location import is_url
from .tar_members import iter_tar_members

logger = logging.getLogger(__name__)


def tar_samples(shard: str) -> Iterator[tuple[str, dict[str, bytes | str]]]:
    """``(key, {field: data})`` of each sample in the tar at `shard` (a local path or an fsspec URL), in order.

    A sample is a run of files that share a key, WebDataset's rule: the file name up to the first dot of its
    base name (``000000007.mp4`` and ``000000007.json``; files without a dot are skipped). A local tar's videos
    are `tar_member_source` references, which the decoder reads in place (only the packets of the frames it
    decodes, as from a loose file); the metadata, and every file of a remote tar, come as bytes in one read
    each (tarfile's stream mode, which webdataset's reader uses, reads 10 KB at a time: ten times the CPU).
    """
    local = not is_url(shard)
    key, sample = None, {}
    with open(shard, "rb") if local else fsspec.open(shard, "rb").open() as handle:
        for member in iter_tar_members(handle):
            folder, slash, base = member.name.rpartition("/")
            stem, dot, field = base.partition(".")
            if not dot:
                continue
            if folder + slash + stem != key:
                if sample:
                    yield key, sample
                key, sample = folder + slash + stem, {}
            if field in sample:
                raise ValueError(f"{member.name} appears twice in its sample")
            if local and field == SHARD_VIDEO_FIELD:
                sample[field] = tar_member_source(shard, member.offset, member.size)
            else:
                handle.seek(member.offset)
                sample[field] = handle.read(member.size)
    if sample:
        yield key, sample


def shard_examples(shards: list[str]) -> Iterator[dict]:
    """The rows of each tar in `shards`. A damaged sample is skipped; a tar that breaks off is left at that
    point; both with a warning, never an error."""
    for shard in shards:
        count = 0
        try:
            for key, sample in tar_samples(shard):
                try:
                    row = json.loads(sample[SHARD_METADATA_FIELD])
                    example = {name: row.get(name) for name in COLUMNS}
                    video = sample[SHARD_VIDEO_FIELD]
                    in_place = isinstance(video, str)
                    example["video"] = {"path": video if in_place else row["file_name"], "bytes": None if in_place else video}
                except (KeyError, TypeError, ValueError) as exc:
                    logger.warning("Skipping sample %s of %s: %s: %s", key, shard, type(exc).__name__, exc)
                    continue
                count += 1
                yield example
        except (tarfile.TarError, OSError, ValueError) as exc:
            logger.warning("Shard %s is damaged after %d clips (%s: %s); its remaining clips are skipped. "
                           "Convert the store again.", shard, count, type(exc).__name__, exc)
