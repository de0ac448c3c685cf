"""Argument errors of every command-line script (issue 7.5): caught before anything is written, one line on
stderr naming the problem, exit code 2, no traceback; flags spelled with underscores, hyphens accepted too.

Each script runs once in a subprocess (the real exit code and stderr of a fresh interpreter); the many
variants per script call its `main(argv)` in this process, which exits the same way through `parser.error`.
"""

import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from curation_helpers import clip

REPOSITORY = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(
    [*REPOSITORY.glob("training_scripts/*.py"), *REPOSITORY.glob("dataset_scripts/*.py"), REPOSITORY / "examples/run_demo.py"]
)


def run_script(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def assert_one_line_usage_error(returncode: int, stderr: str, *fragments: str) -> str:
    lines = stderr.strip().splitlines()
    assert returncode == 2, stderr[-3000:]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    assert "error:" in lines[0] and all(fragment in lines[0] for fragment in fragments), lines[0]
    return lines[0]


@pytest.mark.parametrize("script", SCRIPTS, ids=[f"{p.parent.name}/{p.name}" for p in SCRIPTS])
def test_every_cli_rejects_an_unknown_flag_in_one_line(tmp_path, script):
    completed = run_script(script, "--no_such_flag", "1", cwd=tmp_path)
    assert_one_line_usage_error(completed.returncode, completed.stderr)  # names the flag or a missing argument
    assert list(tmp_path.iterdir()) == []


def test_run_pretraining_without_arguments_writes_nothing(tmp_path):
    """It wrote `trainer_output/` into the current folder and ended in a traceback about max_steps."""
    completed = run_script(REPOSITORY / "training_scripts/run_pretraining.py", cwd=tmp_path)
    assert_one_line_usage_error(completed.returncode, completed.stderr, "--output_dir", "--data_dir")
    assert list(tmp_path.iterdir()) == []


def test_demo_refuses_negative_steps(tmp_path):
    """`--max-steps -5` trained 24 steps and exited 0."""
    completed = run_script(REPOSITORY / "examples/run_demo.py", "--output-dir", "demo", "--max-steps", "-5", cwd=tmp_path)
    assert_one_line_usage_error(completed.returncode, completed.stderr, "--max_steps", "'-5' is not a positive integer")
    assert list(tmp_path.iterdir()) == []


def call_main(script: str, argv: list[str], capsys) -> str:
    """`main(argv)` of `script`; asserts it exits 2 with one line and returns that line."""
    main = runpy.run_path(str(REPOSITORY / script), run_name="cli_under_test")["main"]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return assert_one_line_usage_error(exited.value.code, capsys.readouterr().err)


@pytest.fixture
def clips(tmp_path) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copyfile(clip("carphone_pristine.mp4"), folder / "a.mp4")  # a real clip: the data check probes it
    return folder


@pytest.mark.parametrize(
    "case, expected",
    [
        (["--output_dir", "run", "--data_dir", "missing"], "--data_dir missing: no such folder"),
        (["--output_dir", "run", "--data_dir", "{empty}"], "no usable clip"),
        (["--output_dir", "run", "--data_dir", "{clips}", "--preset", "huge"], "Unknown VITO preset 'huge'"),
        (["--output_dir", "run", "--data_dir", "{clips}", "--config_overrides", "temperature"], "key=value"),
        (["--output_dir", "run", "--data_dir", "{clips}", "--max_steps", "-5"], "--max_steps must be a positive"),
        (["--output_dir", "run", "--data_dir", "{clips}", "--max_steps", "ten"], "invalid int value: 'ten'"),
        (["--output_dir", "run", "--data_dir", "{clips}", "--optimizer_name", "sgd"], "invalid choice: 'sgd'"),
        (["--output_dir", "run", "--data_dir", "{clips}", "--streaming", "--max_steps", "-1"], "set --max_steps"),
        (["--output-dir", "run", "--data-dir", "{clips}", "--model-name-or-path", "nowhere"], "is not a folder"),
        (["--output_dir", "run", "--data_dir", "{clips}", "--resume_from_checkpoint", "{empty}"],
         "is not a checkpoint folder"),
    ],
    ids=["missing-data", "empty-data", "preset", "override", "negative-steps", "non-integer", "optimizer",
         "stream-without-steps", "hyphenated-flags", "resume-from-nothing"],
)
def test_run_pretraining_argument_errors(tmp_path, clips, monkeypatch, capsys, case, expected):
    empty = tmp_path / "empty"
    empty.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = [arg.format(clips=clips, empty=empty) for arg in case]
    line = call_main("training_scripts/run_pretraining.py", argv, capsys)
    assert expected in line
    assert list(work.iterdir()) == []


@pytest.mark.parametrize(
    "case, expected",
    [
        (["curate", "--candidates", "missing", "--output_dir", "out"], "'missing' is not an existing file or folder"),
        (["curate", "--candidates", "{clips}", "--output_dir", "out", "--frames", "0"], "'0' is not a positive integer"),
        (["curate", "--candidates", "{clips}", "--output_dir", "out", "--fps", "nan"], "'nan' is not a positive number"),
        (["curate", "--candidates", "{clips}", "--output_dir", "out", "--shard", "2", "--num_shards", "2"],
         "--shard 2 must be below --num_shards 2"),
        (["curate", "--candidates", "{clips}", "--output_dir", "out", "--classifier", "./no/such/model"],
         "is not a folder"),
        (["curate", "--candidates", "{clips}", "--output-dir", "out", "--target-distribution", "{clips}/a.mp4"],
         "is not JSON"),
        (["merge", "--output_dir", "out", "--inputs", "missing"], "'missing' is not an existing folder"),
        (["curate", "--output_dir", "out"], "--candidates"),
    ],
    ids=["missing-candidates", "zero-frames", "nan-fps", "shard", "classifier-path", "target-not-json",
         "merge-inputs", "required"],
)
def test_curate_videonet_argument_errors(tmp_path, clips, monkeypatch, capsys, case, expected):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    line = call_main("dataset_scripts/curate_videonet.py", [arg.format(clips=clips) for arg in case], capsys)
    assert expected in line
    assert list(work.iterdir()) == []


def test_make_imagenet_classes_argument_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert "is not an existing file" in call_main("dataset_scripts/make_imagenet_classes.py", ["missing.whl"], capsys)
    not_a_wheel = tmp_path / "timm.whl"
    not_a_wheel.write_text("not a zip")
    line = call_main("dataset_scripts/make_imagenet_classes.py", [str(not_a_wheel), "--out", "x.tsv"], capsys)
    assert "is not a timm wheel" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timm.whl"]


def test_demo_argument_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv, expected in [
        (["--max_steps", "0"], "'0' is not a positive integer"),
        (["--batch_size", "-1"], "'-1' is not a positive integer"),
        (["--eval-limit", "many"], "'many' is not a positive integer"),
        (["--seed", "-3"], "'-3' is not an integer >= 0"),
    ]:
        assert expected in call_main("examples/run_demo.py", argv, capsys)
    assert list(tmp_path.iterdir()) == []
