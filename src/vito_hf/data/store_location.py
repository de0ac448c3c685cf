"""Where a clip store named by `--data_dir` is read from: a local folder, a Hub dataset, or an fsspec URL.

`locate_store` turns what a user passes into a local folder or the URL of a shard store to stream:

- a local path is a local folder;
- ``hf://datasets/<user>/<name>[@<revision>]``, or a plain repo id ``<user>/<name>`` that is not a local path, is a
  Hub dataset. A shard store (``webdataset/index.json`` in the repo) is streamed tar by tar through
  ``huggingface_hub``'s file system, pinned to the commit it had when the run started; any other store is
  downloaded once with ``huggingface_hub.snapshot_download`` (progress bars, the shared Hugging Face cache,
  resumed when interrupted) and read as a local folder. Offline (``HF_HUB_OFFLINE=1``, or the Hub not answering
  `vito_hf.hub_access`'s short check) a dataset already in the cache is read from there; one that is not raises
  `HubUnreachableError` at once, saying what to do;
- any other fsspec URL (``s3://``, ``gs://``, ``memory://`` ...) must hold a shard store, which is streamed the same
  way as from the Hub: this is also how the Hub path is tested without a network.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import fsspec
from huggingface_hub import HfApi, constants, snapshot_download
from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

from ..clip_store import SHARD_DIR, SHARD_INDEX_FILE, check_shard_index
from ..hub_access import REPO_ID, HubUnreachableError, check_hub_reachable, is_hub_repo_id

HUB_URL_PREFIX = "hf://"
HUB_TIMEOUT_S = 8.0
"""Seconds the Hub, once it answers, may take to describe a dataset."""


def is_url(data_dir: str | os.PathLike) -> bool:
    return "://" in os.fspath(data_dir)


def locate_store(data_dir: str | os.PathLike) -> Path | str:
    """The local folder of `data_dir`, or the URL of the shard store to stream (see the module's docstring).

    Raises `FileNotFoundError` for a Hub dataset that does not exist, `HubUnreachableError` offline.
    """
    if isinstance(data_dir, os.PathLike):
        return Path(data_dir)
    if data_dir.startswith(HUB_URL_PREFIX):
        return _hub_store(*parse_hub_url(data_dir))
    if data_dir.startswith("file://"):
        return Path(data_dir[len("file://") :])
    if is_url(data_dir):
        return data_dir.rstrip("/")
    if is_hub_repo_id(data_dir):
        return _hub_store(data_dir, None)
    return Path(data_dir)


def parse_hub_url(url: str) -> tuple[str, str | None]:
    """``(repo id, revision)`` of ``hf://datasets/<user>/<name>[@<revision>]``."""
    path = url[len(HUB_URL_PREFIX) :].strip("/")
    kind, _, repo = path.partition("/")
    repo_id, _, revision = repo.partition("@")
    if kind != "datasets" or not REPO_ID.fullmatch(repo_id):
        raise ValueError(
            f"{url}: a Hub clip store is named hf://datasets/<user>/<name> (optionally @<revision>), "
            "the root of a dataset repository."
        )
    return repo_id, revision or None


@functools.lru_cache(maxsize=None)
def _hub_store(repo_id: str, revision: str | None) -> Path | str:
    """Asked once per process (failures are not kept), so every reader of a run sees the same commit."""
    try:
        check_hub_reachable()
    except HubUnreachableError as unreachable:
        return _cached_snapshot(repo_id, revision, unreachable)
    try:
        info = HfApi().dataset_info(repo_id, revision=revision or "main", timeout=HUB_TIMEOUT_S)
    except GatedRepoError as err:
        raise PermissionError(f"{repo_id}: the dataset is gated; accept its terms on the Hub and log in (hf auth "
                              f"login). ({err})") from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as err:
        raise FileNotFoundError(
            f"{repo_id}: no such local folder, and no such dataset{f' revision {revision}' if revision else ''} on "
            f"the Hub ({constants.ENDPOINT}) that this account may read; check the name, or log in (hf auth login) "
            f"for a private one. ({type(err).__name__})"
        ) from None
    except Exception as err:  # noqa: BLE001 - huggingface_hub's transport errors share no public base class
        unreachable = HubUnreachableError(f"The Hugging Face Hub at {constants.ENDPOINT} did not describe the dataset "
                                          f"({type(err).__name__}: {err})")
        return _cached_snapshot(repo_id, revision, unreachable)
    if SHARD_INDEX_FILE in {sibling.rfilename for sibling in info.siblings or []}:
        return f"{HUB_URL_PREFIX}datasets/{repo_id}@{info.sha}"
    return Path(snapshot_download(repo_id, repo_type="dataset", revision=revision))


def _cached_snapshot(repo_id: str, revision: str | None, unreachable: HubUnreachableError) -> Path:
    try:
        return Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, local_files_only=True))
    except LocalEntryNotFoundError:
        raise HubUnreachableError(
            f"{repo_id}: {unreachable}, and this dataset is not in the local Hugging Face cache "
            f"({constants.HF_HUB_CACHE}). Run again where the Hub answers (a shard store is then streamed, a folder "
            f"store downloaded); or download it beforehand (`hf download {repo_id} --repo-type dataset`, into this "
            "HF_HOME); or pass a local folder."
        ) from None


def read_remote_shard_index(url: str) -> dict:
    """The checked shard index of the shard store at fsspec `url` (see `vito_hf.clip_store.check_shard_index`)."""
    fs, root = fsspec.core.url_to_fs(url)
    index_path = f"{root}/{SHARD_INDEX_FILE}"
    try:
        text = fs.cat_file(index_path).decode("utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{url}: no {SHARD_INDEX_FILE}; only a shard store can be read from a URL.") from None
    present = {f"{SHARD_DIR}/{Path(name).name}" for name in fs.ls(f"{root}/{SHARD_DIR}", detail=False)}
    return check_shard_index(text, url, present.__contains__)
