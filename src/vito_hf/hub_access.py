"""Whether the Hugging Face Hub answers, and what to read a repo from when it does not: the local cache.

huggingface_hub retries an unreachable endpoint for about 25 seconds per file before it falls back to its cache
(and raises a generic error when the file is not cached). A short check first lets a reader decide in seconds:
the Hub answers (download or refresh the cache), the repo is cached (read it from there, `local_files_only`),
or neither (a `HubUnreachableError` that says why and what to do). Offline mode (`HF_HUB_OFFLINE=1`) counts as
unreachable without asking. A leaf module: reading (data, evaluation) and publishing (hub) both use it.
"""

from __future__ import annotations

import os
import re
import threading
import urllib.error
import urllib.request

REACHABILITY_TIMEOUT_SECONDS = 5.0
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


class HubUnreachableError(ConnectionError):
    """The Hub cannot be reached (offline mode, no network, wrong endpoint) and the cache cannot stand in."""


def is_hub_repo_id(name: str | os.PathLike) -> bool:
    """`name` has the form of a Hub repo id (`owner/name`) and is not an existing local path."""
    return bool(REPO_ID.fullmatch(str(name))) and not os.path.exists(name)


def check_hub_reachable(timeout: float = REACHABILITY_TIMEOUT_SECONDS) -> str:
    """The Hub endpoint, if it answers an HTTP request within `timeout` seconds (name lookup included); else
    `HubUnreachableError` saying why. Any HTTP answer, even an error status, means the Hub is there."""
    from huggingface_hub import constants

    endpoint = constants.ENDPOINT
    if constants.HF_HUB_OFFLINE:
        raise HubUnreachableError("The Hugging Face Hub is unreachable: offline mode is on (HF_HUB_OFFLINE=1)")
    outcome: list[BaseException | None] = []

    def ask() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
            outcome.append(None)
        except urllib.error.HTTPError:
            outcome.append(None)
        except (OSError, ValueError) as error:  # URLError, refused, timed out, bad endpoint URL
            outcome.append(error)

    # A thread bounds the whole check, name resolution included (urlopen's timeout does not cover it).
    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(timeout)
    error = outcome[0] if outcome else TimeoutError(f"no answer within {timeout:g} s")
    if error is not None:
        raise HubUnreachableError(
            f"The Hugging Face Hub is unreachable at {endpoint} ({type(error).__name__}: {error})"
        ) from error
    return endpoint


def read_from_cache_only(repo_id: str, *, repo_type: str = "model") -> bool:
    """True when `repo_id` must be read from the local cache (`local_files_only=True`) because the Hub does not
    answer; False when the Hub answers. Neither answering nor cached: `HubUnreachableError`, in seconds."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        check_hub_reachable()
        return False
    except HubUnreachableError as unreachable:
        try:
            snapshot_download(repo_id, repo_type=repo_type, local_files_only=True)
        except LocalEntryNotFoundError:
            raise HubUnreachableError(
                f"{unreachable}, and the {repo_type} repo {repo_id!r} is not in the local cache "
                f"({constants.HF_HUB_CACHE}). "
                f"Download it where the Hub is reachable (`hf download {repo_id}"
                f"{'' if repo_type == 'model' else f' --repo-type {repo_type}'}`) with the same cache, or pass a "
                "local folder."
            ) from unreachable
        return True
