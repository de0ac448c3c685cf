"""training_scripts/push_to_hub.py: exact dry-run listings, a fast clear failure with the Hub unreachable
(offline mode, a closed port, a server that never answers) with the folder unchanged, one-line argument errors."""

import hashlib
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from curation_helpers import clip

from vito_hf import VitoImageProcessor, VitoModel, load_preset
from vito_hf.hub import write_model_card

from vito_hf.curation import CurationSettings, curate

SCRIPT = Path(__file__).resolve().parents[2] / "training_scripts" / "push_to_hub.py"
sys.path.insert(0, str(SCRIPT.parent))
from push_to_hub import main  # noqa: E402


def push(capsys, *args) -> tuple[int, str, str]:
    """The command in this process (dry runs and argument errors touch no network): status, stdout, stderr."""
    try:
        status = main([str(a) for a in args])
    except SystemExit as exit:
        status = exit.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def folder_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(path.relative_to(folder).as_posix().encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def all_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoint")
    torch.manual_seed(0)
    VitoModel(load_preset("tiny")).save_pretrained(folder)
    VitoImageProcessor(size={"shortest_edge": 73}, crop_size={"height": 64, "width": 64}).save_pretrained(folder)
    write_model_card(folder)
    return folder


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    candidates = tmp_path_factory.mktemp("candidates")
    (candidates / "Mountain bikes downtown.mp4").symlink_to(clip("bikes.mp4"))
    output = tmp_path_factory.mktemp("store")
    curate(candidates, output, CurationSettings(classifier=None, min_duration=5.0, clip_duration=2.0, short_side=48,
                                                progress=False))
    return output


def test_dry_run_lists_exactly_the_checkpoint_files(checkpoint, capsys):
    status, out, err = push(capsys, "model", checkpoint, "--repo-id", "someone/vito-tiny", "--dry-run")
    assert status == 0, err
    assert out.split() == all_files(checkpoint)
    assert {"README.md", "config.json", "model.safetensors", "modeling_vito.py", "configuration_vito.py",
            "image_processing_vito.py", "preprocessor_config.json"} <= set(out.split())
    assert "nothing uploaded" in err


def test_dry_run_lists_the_store_data_without_curation_bookkeeping(store, capsys):
    status, out, err = push(capsys, "dataset", store, "--repo-id", "someone/clips", "--dry-run")
    assert status == 0, err
    listed = out.split()
    bookkeeping = re.compile(r"state/.*|shards/shard-\d+-of-\d+/.*")
    expected = [name for name in all_files(store) if not bookkeeping.fullmatch(name)]
    assert listed == expected
    assert {"README.md", "metadata.jsonl", "report/report.json"} <= set(listed)
    assert any(name.startswith("clips/") and name.endswith(".mp4") for name in listed)
    assert any(name.startswith("shards/") for name in all_files(store))  # there was bookkeeping to leave out
    assert any(name.startswith("state/") for name in all_files(store))


def timed_push(*args, env):
    """The push command's `main` in a fresh process with `env`, timed from the call (after the imports, which
    take seconds of their own on a loaded 2-core machine: torch and transformers)."""
    code = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(SCRIPT.parent)!r})\n"
        "from push_to_hub import main\n"
        "started = time.perf_counter()\n"
        f"status = main({[str(a) for a in args]!r})\n"
        "print(f'ELAPSED {time.perf_counter() - started:.3f}')\n"
        "sys.exit(status)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ, **env), timeout=120)
    elapsed = [float(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("ELAPSED ")]
    return result, elapsed[0] if elapsed else None


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("kind", ["offline", "closed port", "silent server"])
def test_unreachable_hub_fails_fast_with_the_folder_unchanged(checkpoint, kind):
    silent = None
    if kind == "offline":
        env = {"HF_HUB_OFFLINE": "1"}
    elif kind == "closed port":
        env = {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}", "HF_HUB_OFFLINE": "0"}
    else:  # accepts TCP connections (kernel backlog) but never answers: only the timeout ends the wait
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        env = {"HF_ENDPOINT": f"http://127.0.0.1:{silent.getsockname()[1]}", "HF_HUB_OFFLINE": "0"}
    before = folder_hash(checkpoint)
    try:
        result, seconds = timed_push("model", checkpoint, "--repo-id", "someone/vito-tiny", env=env)
    finally:
        if silent is not None:
            silent.close()
    assert result.returncode == 1, result.stderr
    assert "Hugging Face Hub is unreachable" in result.stderr and "nothing was uploaded" in result.stderr
    assert ("HF_HUB_OFFLINE=1" in result.stderr) == (kind == "offline")
    assert seconds is not None and seconds < 10
    assert folder_hash(checkpoint) == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["model", "{checkpoint}"], "the following arguments are required: --repo_id"),
        (["model", "{checkpoint}", "--repo-id", "not a repo id!"], "is not a Hub repo id"),
        (["model", "{missing}", "--repo-id", "someone/x"], "is not a folder"),
        (["dataset", "{checkpoint}", "--repo-id", "someone/x", "--dry-run"], "metadata.jsonl (finish the curation"),
        (["weights", "{checkpoint}", "--repo-id", "someone/x"], "invalid choice: 'weights'"),
    ],
)
def test_argument_errors_are_one_line_with_status_2(checkpoint, tmp_path, capsys, args, message):
    args = [a.format(checkpoint=checkpoint, missing=tmp_path / "missing") for a in args]
    status, out, err = push(capsys, *args)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert out == ""


def test_dry_run_of_a_trainer_output_folder_lists_no_pickle_and_no_checkpoint(checkpoint, tmp_path, capsys):
    """A Trainer's output folder (run_finetune's) also holds `training_args.bin` (a pickle: loading it can run
    code), resumable checkpoints (optimizer and RNG states, pickles too) and logs: none of them goes up."""
    import shutil

    from transformers import TrainingArguments

    folder = tmp_path / "classifier"
    shutil.copytree(checkpoint, folder)
    torch.save(TrainingArguments(output_dir=str(folder), report_to="none"), folder / "training_args.bin")
    (folder / "checkpoint-2").mkdir()
    torch.save({"state": {}}, folder / "checkpoint-2" / "optimizer.pt")
    torch.save(torch.get_rng_state(), folder / "checkpoint-2" / "rng_state.pth")
    (folder / "checkpoint-2" / "trainer_state.json").write_text("{}")
    status, out, err = push(capsys, "model", folder, "--repo-id", "someone/vito-tiny-classifier", "--dry-run")
    assert status == 0, err
    assert out.split() == all_files(checkpoint)  # exactly what the model needs, as before the training files
    assert not [name for name in out.split() if name.endswith((".bin", ".pt", ".pth")) or "checkpoint-" in name]
