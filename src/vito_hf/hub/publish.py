"""Publishing to the Hugging Face Hub: a checkpoint folder to a model repo, a curated clip store to a dataset repo.

What goes up is decided locally and can be listed without the network (`dry_run=True`): a checkpoint's
weights, config, model files, image processor, card and the run files the card is written from (no pickle, no
Trainer checkpoint); a store's card, metadata, clips and curation report, not the curation's own bookkeeping
(`state/`, per-shard records).
A store packed as WebDataset shards uploads its tars and their index in place of the loose clips.
A store that still holds an absolute local path of the machine that wrote it (in any text file or WebDataset
member it would send) is refused, the files named, with the command that rewrites it. A pushed store records
its repo id in `clip_store.json` (`hub_repo_id`, sent with it; model cards cite it in `datasets:`).
Before anything else the Hub is asked, with a short timeout, whether it answers: offline or unreachable, the
push stops in seconds with a message that says so, having changed nothing, locally or remotely.

With huggingface_hub 2.x and `hf_xet` (installed with it), `upload_folder` uploads large folders in several
commits and resumes an interrupted upload when run again, so stores of any size go through the same call.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import clip_store
from ..atomic_files import write_bytes_atomic
from ..curation.report import rewrite_card
from ..published_paths import files_with_absolute_paths
from ..hub_access import HubUnreachableError, check_hub_reachable
from .cards import ModelCardError, write_model_card

CHECKPOINT_REQUIRED = {
    "config.json": "save the model with save_pretrained",
    "configuration_vito.py": "save it with `import vito_hf` active, so save_pretrained copies the model files",
    "modeling_vito.py": "save it with `import vito_hf` active, so save_pretrained copies the model files",
    "preprocessor_config.json": "save the image processor into the folder (VitoImageProcessor.save_pretrained)",
    "README.md": "write the card first: vito_hf.hub.write_model_card(folder)",
}
CHECKPOINT_EXCLUDED = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.pickle", "checkpoint-*/*", "runs/*")
"""Pickles (Trainer's `training_args.bin`, optimizer, scheduler and RNG states: loading a pickle can run code),
Trainer's resumable checkpoints and its TensorBoard logs: what resumes or monitors a run, not the model."""
STORE_REQUIRED = {
    "README.md": "finish the curation (it writes the dataset card)",
    "metadata.jsonl": "finish the curation (it writes metadata.jsonl)",
}
STORE_EXCLUDED = ("state/*", "shards/shard-*-of-*/*")
"""Curation bookkeeping (per-video state records, per-shard records): what resumes a curation, not data."""
SHARD_STORE_REQUIRED = {
    "README.md": "convert a curated store, which has a card (curation writes it)",
    clip_store.SHARD_INDEX_FILE: "finish packing the shards (the index is written last)",
}
SHARD_STORE_EXCLUDED = (*STORE_EXCLUDED, f"{clip_store.CLIPS_DIR}/*")
"""In a shard store the loose clips are curation's working copy: the tars hold them."""


class PublishError(ValueError):
    """The folder is not ready to publish; the message says what is missing and how to make it."""


@dataclass
class UploadPlan:
    """The files a push uploads, relative to `folder` (POSIX paths, sorted)."""

    folder: Path
    repo_id: str
    repo_type: str
    files: list[str]

    @property
    def total_bytes(self) -> int:
        return sum((self.folder / name).stat().st_size for name in self.files)


def _folder_files(folder: Path, excluded: tuple[str, ...] = ()) -> list[str]:
    """Every regular file under `folder` except hidden ones (temporaries, caches) and `excluded` patterns."""
    files = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in relative.split("/")) or not path.is_file():
            continue
        if any(fnmatch.fnmatch(relative, pattern) for pattern in excluded):
            continue
        files.append(relative)
    return sorted(files)


def _literal_pattern(name: str) -> str:
    """`name` as an fnmatch pattern that matches only itself (upload_folder's allow_patterns are patterns)."""
    return re.sub(r"([\[\]*?])", r"[\1]", name)


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PublishError(f"{repo_id!r} is not a Hub repo id ({error}); write it as `user/name`.") from error


def _check_folder(folder: Path, required: dict[str, str], what: str) -> None:
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder: pass the {what} to publish.")
    missing = [f"{name} ({how})" for name, how in required.items() if not (folder / name).is_file()]
    if missing:
        raise PublishError(f"{folder} is not a complete {what}; missing: " + "; ".join(missing) + ".")


def plan_checkpoint_upload(folder: str | os.PathLike, repo_id: str) -> UploadPlan:
    """The files of a saved VITO folder to upload to model repo `repo_id` (checked locally, no network)."""
    folder = Path(folder)
    _check_repo_id(repo_id)
    _check_folder(folder, CHECKPOINT_REQUIRED, "checkpoint folder")
    files = _folder_files(folder, CHECKPOINT_EXCLUDED)
    if not any(name.endswith(".safetensors") for name in files):
        raise PublishError(f"{folder} holds no .safetensors weights: save the model with save_pretrained.")
    return UploadPlan(folder, repo_id, "model", files)


def plan_store_upload(folder: str | os.PathLike, repo_id: str) -> UploadPlan:
    """The files of a curated clip store to upload to dataset repo `repo_id` (checked locally, no network).

    A shard store sends its tars, their index, card, report and metadata table, not the loose clips; a shard
    the index lists but the folder lacks stops the push before anything is sent."""
    folder = Path(folder)
    _check_repo_id(repo_id)
    if folder.is_dir() and clip_store.is_shard_store(folder):
        _check_folder(folder, SHARD_STORE_REQUIRED, "shard store")
        try:
            index = clip_store.read_shard_index(folder)
        except (clip_store.ClipStoreVersionError, FileNotFoundError) as error:
            raise PublishError(str(error)) from error
        files = _folder_files(folder, SHARD_STORE_EXCLUDED)
        listed = {shard["file"] for shard in index["shards"]}
        files = [name for name in files if not name.endswith(".tar") or name in listed]  # not stray tars
    else:
        _check_folder(folder, STORE_REQUIRED, "curated clip store")
        files = _folder_files(folder, STORE_EXCLUDED)
    _refuse_local_paths(folder, files)
    return UploadPlan(folder, repo_id, "dataset", files)


def _refuse_local_paths(folder: Path, files: list[str]) -> None:
    found = files_with_absolute_paths(folder, files)
    if found:
        shown = "; ".join(f"{name} ({paths[0]!r})" for name, paths in list(found.items())[:10])
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        raise PublishError(
            f"{folder} holds absolute local paths of the machine that wrote it, which a push would publish: "
            f"{shown}{more}. Rewrite them relative with `python dataset_scripts/curate_videonet.py relativize "
            f"--output_dir {folder}` (or rerun the curation), then push again."
        )


def execute_upload(
    plan: UploadPlan, *, private: bool | None = None, revision: str | None = None,
    commit_message: str | None = None, token: str | None = None, prepare: Callable[[], None] | None = None,
) -> str:
    """Create the repo if needed and upload exactly `plan.files`; returns the commit URL. `prepare` runs once
    the Hub answered, before the repo is created (a failure there leaves the Hub untouched)."""
    from huggingface_hub import HfApi

    try:
        check_hub_reachable()
    except HubUnreachableError as error:
        raise HubUnreachableError(
            f"{error}. Check the network, HF_ENDPOINT and HF_HUB_OFFLINE, and push again; nothing was uploaded."
        ) from error
    if prepare is not None:
        prepare()
    api = HfApi(token=token)
    api.create_repo(plan.repo_id, repo_type=plan.repo_type, private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=plan.repo_id,
        repo_type=plan.repo_type,
        folder_path=plan.folder,
        allow_patterns=[_literal_pattern(name) for name in plan.files],
        revision=revision,
        commit_message=commit_message or f"Upload {plan.folder.name} with vito_hf",
    )
    return commit.commit_url


def push_checkpoint(folder: str | os.PathLike, repo_id: str, *, dry_run: bool = False, **options) -> UploadPlan | str:
    """Upload a saved VITO folder (weights, config, model files, image processor, card, run files) to model
    repo `repo_id`; the card is first rewritten for that repo (its name, model-index and loading code).
    `dry_run` returns the `UploadPlan` instead, changing nothing; otherwise the commit URL."""
    plan = plan_checkpoint_upload(folder, repo_id)
    if dry_run:
        return plan

    def card_for_the_repo() -> None:
        try:
            write_model_card(plan.folder, model_id=repo_id)
        except ModelCardError as error:
            raise PublishError(f"{plan.folder}'s card cannot be written: {error}") from error

    return execute_upload(plan, prepare=card_for_the_repo, **options)


def push_clip_store(folder: str | os.PathLike, repo_id: str, *, dry_run: bool = False, **options) -> UploadPlan | str:
    """Upload a curated clip store (dataset card, metadata, clips, curation report) to dataset repo `repo_id`,
    recording `repo_id` in its `clip_store.json` and card snippets (both restored if the upload fails). `dry_run` returns the
    `UploadPlan` instead, changing nothing; otherwise the commit URL."""
    plan = plan_store_upload(folder, repo_id)
    if dry_run:
        return plan
    touched = [plan.folder / clip_store.STORE_FILE, plan.folder / "README.md"]
    before = {path: path.read_bytes() if path.is_file() else None for path in touched}

    def name_the_repo() -> None:
        clip_store.record_hub_repo_id(plan.folder, repo_id)
        rewrite_card(plan.folder)  # its snippets load the repo

    try:
        return execute_upload(plan, prepare=name_the_repo, **options)
    except BaseException:
        for path, content in before.items():  # not pushed: the store names no repo it is not in
            if content is None:
                path.unlink(missing_ok=True)
            elif not path.is_file() or path.read_bytes() != content:
                write_bytes_atomic(path, content)
        raise
