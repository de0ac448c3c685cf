"""The one-command evaluation: same suites and results.json on a VITO folder and a transformers ResNet folder."""

import json
import runpy
from pathlib import Path

import pytest
from huggingface_hub import EvalResult
from transformers import AutoModel

from evaluation_helpers import save_tiny_resnet, save_tiny_vito
from vito_hf.evaluation import model_content_hash
from vito_hf.evaluation.orchestrator import (
    SUITES,
    EvaluationError,
    parse_suite_options,
    run_evaluation,
    suite_function,
)

SCRIPT = Path(__file__).resolve().parents[2] / "training_scripts" / "run_evaluation.py"
FAST_OPTIONS = [
    'probe.datasets=["digits"]', "probe.limit=60", "finetune.limit=40", "finetune.max_steps=3",
    "finetune.batch_size=8",
]


def run_cli(argv: list[str]) -> int:
    return runpy.run_path(str(SCRIPT), run_name="run_evaluation")["main"](argv)


def failing_suite(model, image_processor, *, output_dir, quick=False, seed=0):
    raise RuntimeError("this suite always fails")


def check_results(output_dir: Path, folder: Path, model_type: str) -> dict:
    results = json.loads((output_dir / "results.json").read_text())
    assert results["format_version"] == 1
    assert results["model"] == {
        "name_or_path": str(folder),
        "model_type": model_type,
        "content_hash": model_content_hash(AutoModel.from_pretrained(folder)),
    }
    assert results["settings"]["suites"] == ["probe", "finetune"] and results["settings"]["quick"] is True
    assert list(results["suites"]) == ["probe", "finetune"]
    for suite in results["suites"].values():
        assert set(suite) == {"dataset", "settings", "protocol", "results", "metrics", "pictures", "details"}
        for metric in suite["metrics"]:
            EvalResult(**metric)  # a model card can turn every entry into model-index metadata
            assert 0.0 <= metric["metric_value"] <= 1.0
        for picture in suite["pictures"]:
            assert (output_dir / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert suite["protocol"] and all(isinstance(value, str) for value in suite["protocol"].values())
    probe = results["suites"]["probe"]
    assert probe["pictures"] == ["probe/probe_table.png"]
    assert set(probe["results"]["digits"]) == {"dataset", "model", "random_init", "raw_pixels"}
    assert probe["dataset"]["digits"]["splits"]["test"]["num_rows"] == 60
    assert [m["task_name"] for m in probe["metrics"]] == ["frozen-feature kNN probe", "frozen-feature linear probe"]
    assert probe["protocol"]["features"] == "pooler_output"
    assert results["suites"]["finetune"]["results"]["image"]["steps"] == 3
    return results


@pytest.mark.slow
def test_the_command_runs_the_same_on_a_vito_and_a_resnet_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VITO_HF_FEATURE_CACHE", str(tmp_path / "cache"))
    vito, resnet = save_tiny_vito(tmp_path / "vito"), save_tiny_resnet(tmp_path / "resnet")
    options = [arg for option in FAST_OPTIONS for arg in ("--option", option)]
    # Pooled features: VITO's attention pooling (all scales) and ResNet's global average of its last stage (16).
    dims = {"vito": AutoModel.from_pretrained(vito).num_features, "resnet": 16}
    for folder, model_type in ((vito, "vito"), (resnet, "resnet")):
        out = tmp_path / f"eval-{model_type}"
        argv = ["--model", str(folder), "--suites", "probe,finetune", "--output-dir", str(out), "--quick", *options]
        assert run_cli(argv) == 0
        results = check_results(out, folder, model_type)
        assert results["suites"]["probe"]["results"]["digits"]["model"]["feature_dim"] == dims[model_type]
    assert "results:" in capsys.readouterr().out


def test_random_init_keeps_the_architecture_and_changes_the_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("VITO_HF_FEATURE_CACHE", str(tmp_path / "cache"))
    folder = save_tiny_vito(tmp_path / "vito", seed=3)
    options = {"probe": {"datasets": ["digits"], "limit": 40, "baselines": False}}
    trained = run_evaluation(folder, ["probe"], tmp_path / "a", quick=True, suite_options=options)
    random = run_evaluation(folder, ["probe"], tmp_path / "b", quick=True, suite_options=options, random_init=True)
    assert random["settings"]["random_init"] is True and trained["settings"]["random_init"] is False
    assert random["model"]["model_type"] == trained["model"]["model_type"] == "vito"
    assert random["model"]["content_hash"] != trained["model"]["content_hash"]
    rows = [r["suites"]["probe"]["results"]["digits"]["model"] for r in (trained, random)]
    assert rows[0]["feature_dim"] == rows[1]["feature_dim"]
    assert rows[0] != rows[1]
    # Random init is reproducible: the same seed gives the same weights.
    again = run_evaluation(folder, ["probe"], tmp_path / "c", quick=True, suite_options=options, random_init=True)
    assert again["model"]["content_hash"] == random["model"]["content_hash"]


def test_a_failing_suite_is_recorded_and_the_others_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("VITO_HF_FEATURE_CACHE", str(tmp_path / "cache"))
    folder = save_tiny_resnet(tmp_path / "resnet")
    registry = {"probe": SUITES["probe"], "broken": f"{__name__}:failing_suite"}
    options = {"probe": {"datasets": ["digits"], "limit": 30, "baselines": False}}
    with pytest.raises(EvaluationError, match="broken"):
        run_evaluation(folder, ["broken", "probe"], tmp_path / "out", suite_options=options, registry=registry)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert list(results["suites"]) == ["probe"]
    assert results["settings"]["errors"] == {"broken": "RuntimeError: this suite always fails"}


def test_registry_and_arguments_are_checked_before_anything_runs(tmp_path):
    assert SUITES["shape-bias"] == "vito_hf.evaluation.suites.shape_bias:run_shape_bias_suite"
    assert suite_function("probe").__name__ == "run_probe_suite"
    assert suite_function("finetune").__name__ == "run_finetune_suite"
    with pytest.raises(EvaluationError, match="unknown suite 'nope'"):
        suite_function("nope")
    with pytest.raises(EvaluationError, match="cannot be imported"):
        suite_function("missing", {"missing": "vito_hf.evaluation.no_such_module:run_missing_suite"})
    with pytest.raises(EvaluationError, match="has no function"):
        suite_function("typo", {"typo": "vito_hf.evaluation.suites.probe:run_prob_suite"})
    with pytest.raises(EvaluationError, match="cannot load a model"):
        run_evaluation(tmp_path / "absent", ["probe"], tmp_path / "out")
    assert run_cli(["--model", str(tmp_path), "--suites", "probe,nope", "--output-dir", str(tmp_path / "o")]) == 1
    assert parse_suite_options(['probe.datasets=["digits"]', "finetune.video_dir=clips/", "probe.limit=5"]) == {
        "probe": {"datasets": ["digits"], "limit": 5}, "finetune": {"video_dir": "clips/"},
    }
    with pytest.raises(EvaluationError, match="SUITE.KEY=VALUE"):
        parse_suite_options(["limit=5"])


def test_suites_are_the_modules_of_the_suites_package_and_listed_in_help(capsys, monkeypatch):
    import vito_hf.evaluation.suites as package

    modules = sorted(p.stem for p in Path(package.__file__).parent.glob("*.py") if not p.stem.startswith("_"))
    assert sorted(SUITES) == sorted(m.replace("_", "-") for m in modules)
    assert set(SUITES) == {"probe", "finetune", "propagation", "corruptions", "shape-bias", "saliency"}
    monkeypatch.setenv("COLUMNS", "400")  # one line per option: no name is broken at its hyphen
    with pytest.raises(SystemExit):
        run_cli(["--help"])
    assert f"comma-separated, from: {', '.join(SUITES)}" in capsys.readouterr().out


def test_a_new_module_is_a_new_suite(tmp_path, monkeypatch):
    from vito_hf.evaluation.suites import discover_suites

    (tmp_path / "extra_suites").mkdir()
    (tmp_path / "extra_suites" / "__init__.py").write_text("")
    (tmp_path / "extra_suites" / "colour_constancy.py").write_text(
        "def run_colour_constancy_suite(model, image_processor, *, output_dir, quick=False, seed=0, gain=1.0):\n"
        "    return gain\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = discover_suites("extra_suites", [str(tmp_path / "extra_suites")])
    assert registry == {"colour-constancy": "extra_suites.colour_constancy:run_colour_constancy_suite"}
    assert suite_function("colour-constancy", registry)(None, None, output_dir=tmp_path, gain=2.0) == 2.0


@pytest.mark.parametrize("name", sorted(SUITES))
def test_every_suite_names_its_options_and_takes_no_others(name):
    import inspect

    parameters = inspect.signature(suite_function(name)).parameters.values()
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters), f"{name} would swallow misspelled options"
    assert {"output_dir", "quick", "seed"} <= {p.name for p in parameters}


def test_a_misspelled_option_is_refused_before_anything_runs(tmp_path):
    options = {"probe": {"datasets": ["digits"], "limt": 40}}
    with pytest.raises(EvaluationError, match="suite 'probe' has no option 'limt'; its options are: datasets, limit"):
        run_evaluation(tmp_path / "absent", ["probe"], tmp_path / "out", suite_options=options)
    assert not (tmp_path / "out").exists()
    options = {"shape-bias": {"cue_conflict_dir": "stimuli/"}}
    with pytest.raises(EvaluationError, match="has no option 'cue_conflict_dir'.*cue_conflict_root"):
        run_evaluation(tmp_path / "absent", ["shape-bias"], tmp_path / "out", suite_options=options)
