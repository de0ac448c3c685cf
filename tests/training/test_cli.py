"""The pretraining CLI and the demo, end to end on real clips (few steps, small images).

- `training_scripts/run_pretraining.py` on a folder of real clips writes an encoder folder that `AutoModel`
  loads in a fresh process (remote code), the pretraining model (online + EMA target) that
  `AutoModelForPreTraining` loads, checkpoints and the curves PNG; rerunning the command resumes from the
  newest checkpoint instead of starting over; rerunning a finished run changes no file; a smaller --max_steps
  is refused.
- `examples/run_demo.py` curates the real sample clips, pretrains, saves and probes, and reports where; a rerun
  says what it reuses and keeps the figures of the run that trained.
"""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import torch
from transformers import AutoModelForPreTraining

from training_helpers import write_real_clips

from vito_hf import load_preset
from vito_hf.training.pretraining import parse_config_overrides

REPOSITORY = Path(__file__).resolve().parents[2]
SCRIPT = REPOSITORY / "training_scripts" / "run_pretraining.py"


def run_cli(clips: Path, output_dir: Path, max_steps: int, returncode: int = 0) -> subprocess.CompletedProcess:
    command = [
        sys.executable, str(SCRIPT), "--output_dir", str(output_dir), "--data_dir", str(clips),
        "--cache_dir", str(output_dir.parent / "cache"), "--preset", "tiny", "--image_size", "32",
        "--window_seconds", "1.0", "--repeat_clips", "2", "--max_steps", str(max_steps),
        "--per_device_train_batch_size", "4", "--optimizer_name", "adamw", "--learning_rate", "1e-3",
        "--save_steps", "2", "--logging_steps", "1", "--use_cpu", "--disable_tqdm", "true", "--seed", "1",
    ]
    completed = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    assert completed.returncode == returncode, completed.stderr[-4000:]
    return completed


def folder_fingerprint(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under `folder` with its modification time and content hash: equal only if nothing changed."""
    return {
        str(path.relative_to(folder)): (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


def test_cli_writes_an_encoder_automodel_loads_and_resumes(tmp_path):
    clips = write_real_clips(tmp_path / "clips")
    output_dir = tmp_path / "run"
    completed = run_cli(clips, output_dir, max_steps=3)
    assert "steps trained: 3" in completed.stdout
    encoder = output_dir / "encoder"
    assert (encoder / "model.safetensors").is_file() and (encoder / "preprocessor_config.json").is_file()
    assert (output_dir / "training_curves.png").stat().st_size > 10_000
    assert (output_dir / "checkpoint-2").is_dir() and (output_dir / "checkpoint-3").is_dir()  # every 2, and the end

    # A fresh process where vito_hf cannot be imported loads the encoder through remote code.
    probe = (
        "import sys, torch; sys.modules['vito_hf'] = None\n"
        "from transformers import AutoModel, AutoImageProcessor\n"
        f"model = AutoModel.from_pretrained({str(encoder)!r}, trust_remote_code=True)\n"
        f"processor = AutoImageProcessor.from_pretrained({str(encoder)!r}, trust_remote_code=True)\n"
        "out = model(torch.zeros(2, 3, 32, 32)).pooler_output\n"
        "print(type(model).__name__, tuple(out.shape), processor.crop_size['height'])\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.strip().endswith("VitoModel (2, 192) 32")

    # The pretraining model keeps online and EMA target apart (after 3 steps they differ).
    pretraining = AutoModelForPreTraining.from_pretrained(output_dir / "pretraining")
    online, target = pretraining.vito.state_dict(), pretraining.target["vito"].state_dict()
    assert online.keys() == target.keys()
    assert any(not torch.equal(online[name], target[name]) for name in online)

    # Same command with a longer run: resumes from the newest checkpoint and trains only the missing step.
    completed = run_cli(clips, output_dir, max_steps=4)
    assert f"continuing from step 3 ({output_dir / 'checkpoint-3'}) to step 4" in completed.stdout
    assert f"steps trained: 4 (resumed from {output_dir / 'checkpoint-3'})" in completed.stdout
    state = json.loads((output_dir / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4


def readme_demo_output() -> list[str]:
    """The lines of the README's "What the demo does and prints" block."""
    section = (REPOSITORY / "README.md").read_text().split("## What the demo does and prints", 1)[1]
    return [line for line in section.split("```", 2)[1].splitlines() if line.strip()]


def line_shape(line: str) -> str:
    """A printed line with its numbers, paths and evaluation set masked: what two demo runs print alike."""
    for pattern, mask in [
        (r"\b(fashion-mnist|digits)\b", "<images>"), (r"\S*/\S*|\bNone\b", "<path>"), (r"none logged", "#"),
        (r"\d+(\.\d+)?", "#"),
    ]:
        line = re.sub(pattern, mask, line)
    return " ".join(line.split())


def test_demo_curates_pretrains_saves_and_probes(tmp_path, capsys):
    import run_demo as demo

    settings = dict(max_steps=3, batch_size=8, eval_datasets=("digits",), eval_limit=200, progress=False)
    result = demo.run_demo(tmp_path / "demo", **settings)
    report = result.curation_report
    assert report["totals"]["kept"] >= 1  # bikes.mp4 (10 s) always passes; shorter clips are rejected
    assert result.train_steps == 3 and result.reused == []
    (evaluation,) = result.evaluations
    for name in ("model", "random_init", "raw_pixels"):
        assert 0.0 <= evaluation[name]["knn_top1"] <= 1.0
    assert json.loads(result.results_path.read_text())["train_steps"] == 3
    text = demo.summary(result)
    assert str(result.encoder_dir) in text and "random init" in text
    # The README shows what the demo prints: every line of its block has the shape of a printed line.
    printed = {line_shape(line) for line in text.splitlines()}
    assert [line for line in readme_demo_output() if line_shape(line) not in printed] == []

    # Issue 7.4: a rerun said nothing of what it reused and recorded the 0.6 s of the rerun as training time.
    run_files = folder_fingerprint(result.run_dir)
    again = demo.run_demo(tmp_path / "demo", **settings)
    assert (again.train_steps, again.train_seconds, again.final_loss) == (3, result.train_seconds, result.final_loss)
    assert json.loads(again.results_path.read_text())["train_seconds"] == result.train_seconds
    assert "the pretraining run finished at step 3" in again.reused
    assert any(item.startswith("curation of") for item in again.reused)
    assert "Reused from an earlier run" in demo.summary(again)
    assert again.evaluations == result.evaluations
    assert folder_fingerprint(result.run_dir) == run_files

    # A smaller --max_steps is refused before anything is written, in one line with exit code 2.
    with pytest.raises(ValueError, match="reached step 3, beyond --max_steps 2"):
        demo.run_demo(tmp_path / "demo", **{**settings, "max_steps": 2})
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        demo.main(["--output_dir", str(tmp_path / "demo"), "--max_steps", "2"])
    error = capsys.readouterr().err.strip().splitlines()
    assert exited.value.code == 2 and len(error) == 1 and "beyond --max_steps 2" in error[0]
    assert folder_fingerprint(result.run_dir) == run_files


def test_one_seed_gives_one_run_whatever_ran_before(tmp_path):
    """The model is built before Trainer seeds the RNGs: run_pretraining seeds first, so the weights do not
    depend on how much of the global RNG stream earlier code used."""
    from safetensors.torch import load_file

    from vito_hf.training import DataArguments, ModelArguments
    from vito_hf.training.pretraining import run_pretraining
    from training_helpers import cpu_args

    clips = write_real_clips(tmp_path / "clips")
    weights = []
    for run, draws in enumerate((0, 1000)):
        torch.rand(draws)  # earlier work that used the global RNG
        outputs = run_pretraining(
            ModelArguments(preset="tiny"),
            DataArguments(data_dir=str(clips), cache_dir=str(tmp_path / "cache"), image_size=32, window_seconds=1.0),
            cpu_args(tmp_path / f"run{run}", max_steps=2, optimizer_name="adamw", learning_rate=1e-3, seed=3),
        )
        weights.append(load_file(str(outputs.encoder_dir / "model.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


def test_rerunning_a_finished_run_changes_nothing(tmp_path):
    """Issue 7.3: the same command on a finished run trained one more step and overwrote every result. Four
    steps of three per epoch end mid-epoch, where Trainer's resume trains past max_steps."""
    clips = write_real_clips(tmp_path / "clips")
    output_dir = tmp_path / "run"
    run_cli(clips, output_dir, max_steps=4)
    before = folder_fingerprint(output_dir)

    again = run_cli(clips, output_dir, max_steps=4)
    assert "already finished at step 4" in again.stdout and "steps trained" not in again.stdout
    assert folder_fingerprint(output_dir) == before

    shorter = run_cli(clips, output_dir, max_steps=3, returncode=2)
    assert len(shorter.stderr.strip().splitlines()) == 1 and "Traceback" not in shorter.stderr
    assert "reached step 4, beyond --max_steps 3" in shorter.stderr
    assert folder_fingerprint(output_dir) == before

    # Stopped after its last checkpoint, before saving its results: they are saved from checkpoint-4, untrained.
    shutil.rmtree(output_dir / "pretraining")
    finished = run_cli(clips, output_dir, max_steps=4)
    assert "steps trained: 4" in finished.stdout
    assert not (output_dir / "checkpoint-5").exists()
    assert json.loads((output_dir / "pretraining" / "trainer_state.json").read_text())["global_step"] == 4
    after = folder_fingerprint(output_dir)
    assert after["pretraining/model.safetensors"][1] == before["pretraining/model.safetensors"][1]
    assert folder_fingerprint(output_dir / "checkpoint-4") == {
        name[len("checkpoint-4/"):]: value for name, value in before.items() if name.startswith("checkpoint-4/")
    }


def test_plan_resume_compares_the_folder_with_max_steps(tmp_path):
    """Which step a run folder reached decides a rerun, before anything is built: finished, continue, finish
    saving, refuse (a shorter run), or start over (no checkpoint), each said in words."""
    from vito_hf.training.checkpoints import plan_resume

    def state(folder: Path, step: int) -> None:
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))

    run = tmp_path / "run"
    state(run / "checkpoint-4", 4)
    for name in ("model.safetensors", "optimizer.pt", "scheduler.pt"):
        (run / "checkpoint-4" / name).write_bytes(b"")
    results = run / "pretraining"

    saving = plan_resume(run, 4, results_dir=results)
    assert (saving.checkpoint, saving.finished) == (run / "checkpoint-4", False) and "saving the results" in saving.message
    state(results, 4)
    finished = plan_resume(run, 4, results_dir=results)
    assert finished.finished and finished.message.startswith("already finished at step 4")
    longer = plan_resume(run, 6, results_dir=results)
    assert (longer.checkpoint, longer.start_step, longer.finished) == (run / "checkpoint-4", 4, False)
    assert longer.message.startswith("continuing from step 4")
    with pytest.raises(ValueError, match="reached step 4, beyond --max_steps 3"):
        plan_resume(run, 3, results_dir=results)
    shutil.rmtree(run / "checkpoint-4")
    restart = plan_resume(run, 6, results_dir=results)
    assert (restart.checkpoint, restart.start_step) == (None, 0) and "no checkpoint of the run finished at step 4" in restart.message


def test_config_overrides_keep_the_commas_of_json_values():
    overrides = parse_config_overrides(
        'temperature=0.2, pooled_stages=["stage4"],attention_hidden_sizes=[[4096,2048]],pooling=average,'
        'id2label={"0": "a, b", "1": "c"}'
    )
    assert overrides == {
        "temperature": 0.2, "pooled_stages": ["stage4"], "attention_hidden_sizes": [[4096, 2048]],
        "pooling": "average", "id2label": {"0": "a, b", "1": "c"},
    }
    config = load_preset("resnet50", **{k: v for k, v in overrides.items() if k != "id2label"})
    assert config.pooled_stages == ["stage4"] and config.attention_hidden_sizes == [[4096, 2048]]
    with pytest.raises(ValueError, match="key=value"):
        parse_config_overrides("temperature=0.2,[1,2]")
