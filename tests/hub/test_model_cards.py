"""Model cards written from a real run: curation of real clips -> tiny pretraining -> frozen-feature probe ->
results.json (the evaluation command) -> card; the card round-trips through ModelCard.load with the run's own numbers."""

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from curation_helpers import clip, tiny_classifier
from huggingface_hub import EvalResult, ModelCard

from vito_hf import load_preset
from vito_hf.curation import CurationSettings, curate, imagenet1k_taxonomy
from vito_hf.hub import ModelCardError, update_card_with_results, write_model_card, write_pretraining_card
from vito_hf.hub.cards import _data_section, _model_section
from vito_hf.training import DataArguments, ModelArguments
from vito_hf.training.pretraining import run_pretraining
from vito_hf.training.run_summary import describe_training_data
from training_helpers import cpu_args

MOUNTAIN_BIKE = 671


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("card_run")
    candidates = root / "candidates"
    candidates.mkdir()
    for name, source in [("Mountain bikes downtown.mp4", "bikes.mp4"), ("off-roader street race.mp4", "bikes.mp4"),
                         ("mountain bike phone call.mp4", "carphone_pristine.mp4"), ("category theory.mp4", "bikes.mp4")]:
        shutil.copyfile(clip(source), candidates / name)
    labels = [c.name for c in imagenet1k_taxonomy()]
    classifier = tiny_classifier(root / "classifier", labels, top1=MOUNTAIN_BIKE)
    store = root / "store"
    curate(candidates, store, CurationSettings(classifier=classifier, num_frames=4, min_duration=5.0,
                                               clip_duration=2.0, short_side=48, progress=False))
    outputs = run_pretraining(
        ModelArguments(preset="tiny"),
        DataArguments(data_dir=str(store), image_size=32, window_seconds=1.0, photometric_in_worker=True,
                      cache_dir=str(root / "cache")),
        cpu_args(root / "run", max_steps=3, per_device_train_batch_size=2, optimizer_name="adamw", learning_rate=1e-3),
    )
    encoder = outputs.encoder_dir
    write_pretraining_card(encoder, already_finished=outputs.already_finished)
    card_after_pretraining = (encoder / "README.md").read_text()
    # The evaluation command writes results.json and, the folder's card being vito_hf's, updates the card.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training_scripts"))
    from run_evaluation import main as run_evaluation_main

    assert run_evaluation_main([
        "--model", str(encoder), "--suites", "probe", "--output_dir", str(root / "eval"), "--quick",
        "--option", 'probe.datasets=["digits"]', "--option", "probe.limit=150",
    ]) == 0
    results = json.loads((root / "eval" / "results.json").read_text())
    return dict(root=root, store=store, outputs=outputs, encoder=encoder, results=results,
                card_after_pretraining=card_after_pretraining)


def table_rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|") and not line.startswith("|---")]


def test_pretraining_writes_the_card_of_the_encoder_it_saves(run):
    card = run["card_after_pretraining"]
    assert "No evaluation recorded yet" in card and "model-index" not in card
    summary = json.loads((run["encoder"] / "pretraining_summary.json").read_text())
    assert summary["optimization"]["steps"] == run["outputs"].global_step == 3
    logged = [entry["loss"] for entry in run["outputs"].log_history if "loss" in entry]
    assert summary["outcome"]["final_loss"] == logged[-1]


def test_card_round_trips_with_model_index_equal_to_results_json(run):
    card = ModelCard.load(run["encoder"] / "README.md")
    expected = [EvalResult(**m) for m in run["results"]["suites"]["probe"]["metrics"]]
    assert card.data.eval_results == expected
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "image-feature-extraction"
    assert card.data.license == "apache-2.0"
    reloaded = ModelCard(card.content)
    assert reloaded.data.to_dict() == card.data.to_dict()
    for metric in expected:  # the readable table shows the same numbers
        assert f"| {metric.metric_name} | {metric.metric_value:.4f} |" in card.text


def test_card_curation_numbers_equal_the_store_report(run):
    report = json.loads((run["store"] / "report" / "report.json").read_text())
    text = ModelCard.load(run["encoder"] / "README.md").text
    rows = table_rows(text)
    for stage in report["stages"]:
        row = next(r for r in rows if r[0] == stage["stage"] and len(r) == 5)
        assert [int(v) for v in row[1:4]] == [stage["in"], stage["passed"], stage["rejected"]]
    kept = [c for c in report["classes"] if c["kept"]]
    assert kept and all(any(r[:2] == [c["name"], c["id"]] and int(r[3]) == c["kept"] for r in rows) for c in kept)
    totals = report["totals"]
    assert f"{totals['kept']} kept of {totals['candidates']} candidates ({totals['rejected']} rejected" in text
    assert f"| min_duration | `{report['settings']['min_duration']}` |" in text


def test_card_recipe_comes_from_the_run(run):
    text = ModelCard.load(run["encoder"] / "README.md").text
    rows = {r[0]: r[1] for r in table_rows(text) if len(r) == 2}
    summary = json.loads((run["encoder"] / "pretraining_summary.json").read_text())
    assert rows["optimizer steps"] == "3 of 3"
    assert rows["global batch (clips)"].startswith("2 = 2 per device x 1 process(es)")
    assert rows["optimizer"] == "adamw" and rows["learning rate"] == "0.001"
    assert rows["sampling window"] == "1.0 s" and rows["view size"] == "32 px"
    assert float(rows["final logged loss"]) == summary["outcome"]["final_loss"]
    assert re.fullmatch(r"\d+ s", rows["wall time (training)"])
    assert rows["preset"] == "tiny"
    assert "trust_remote_code=True" in text and "Parthasarathy" in text and "2210.06433" in text


def test_card_command_rewrites_and_copies_the_card(run, tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training_scripts"))
    from write_model_card import main

    assert main([str(run["encoder"]), "--copy-to", str(tmp_path / "card.md")]) == 0
    assert (tmp_path / "card.md").read_text() == (run["encoder"] / "README.md").read_text()
    assert ModelCard.load(tmp_path / "card.md").data.eval_results  # the evaluation is kept on a rewrite
    with pytest.raises(SystemExit) as exit:
        main([str(tmp_path)])
    assert exit.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_damaged_store_report_is_named_in_the_card_not_raised(run, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(run["store"], store)
    (store / "report" / "report.json").write_text('{"totals": {"kept": 2}')
    data = describe_training_data(store)
    assert data["curated"] is False and data["clips"] == 2
    assert data["report_error"].startswith("report/report.json unreadable (JSONDecodeError")
    assert "curation summary is not known: report/report.json unreadable" in _data_section({"data": data}, None, None)


def test_update_refuses_results_of_another_format(run, tmp_path):
    bad = dict(run["results"], format_version=2)
    (tmp_path / "results.json").write_text(json.dumps(bad))
    before = (run["encoder"] / "README.md").read_text()
    with pytest.raises(ModelCardError, match="format_version 2"):
        update_card_with_results(run["encoder"], tmp_path / "results.json")
    assert (run["encoder"] / "README.md").read_text() == before
    (tmp_path / "baseline.json").write_text(json.dumps(dict(run["results"], settings={"random_init": True})))
    with pytest.raises(ModelCardError, match="randomly initialised baseline"):
        update_card_with_results(run["encoder"], tmp_path / "baseline.json")
    other = dict(run["results"], model=dict(run["results"]["model"], name_or_path=str(run["store"])))
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(ModelCardError, match="not .*encoder"):
        update_card_with_results(run["encoder"], tmp_path / "other.json")
    assert (run["encoder"] / "README.md").read_text() == before
    with pytest.raises(ModelCardError, match="no config.json"):
        write_model_card(tmp_path)


def test_model_section_says_which_pooling_the_encoder_uses():
    """The pooling ablation's card must not describe attention-pooling MLPs the model does not have."""
    attention = table_rows(_model_section(load_preset("tiny").to_dict(), None, None, None))
    average = table_rows(_model_section(load_preset("tiny", pooling="average").to_dict(), None, None, None))
    assert ["attention pooling", "on ['stage3', 'stage4'], MLP widths [[64], [128]], 1 head(s)"] in attention
    assert ["average pooling", "on ['stage3', 'stage4'] (the paper's pooling ablation)"] in average
    assert not any(row[0] == "attention pooling" for row in average)


def test_published_copy_of_the_results_holds_no_absolute_local_path(run):
    """The evaluation ran on the encoder's absolute path; the copy beside the weights (pushed with them) shows
    folders by name only, and the card's model-index names evaluation sets by Hub ids where they have one."""
    assert run["results"]["model"]["name_or_path"] == str(run["encoder"])  # the evaluation's own file keeps it
    published = (run["encoder"] / "evaluation_results.json").read_text()
    assert str(run["root"]) not in published and "/tmp" not in published
    assert json.loads(published)["model"]["name_or_path"] == "encoder"
    assert [r.dataset_type for r in ModelCard.load(run["encoder"] / "README.md").data.eval_results] == ["digits"] * 2


def test_card_links_the_store_repo_names_the_model_index_after_the_repo_and_keeps_only_standard_keys(run, tmp_path):
    store, encoder = tmp_path / "store", tmp_path / "encoder"
    shutil.copytree(run["store"], store)
    shutil.copytree(run["encoder"], encoder)
    info = json.loads((store / "clip_store.json").read_text())
    (store / "clip_store.json").write_text(json.dumps(dict(info, hub_repo_id="someone/videonet-clips")))
    summary = json.loads((encoder / "pretraining_summary.json").read_text())
    summary["data"] = describe_training_data(store)  # what a run on the pushed store records
    assert summary["data"]["hub_repo_id"] == "someone/videonet-clips"
    (encoder / "pretraining_summary.json").write_text(json.dumps(summary))
    write_model_card(encoder, model_id="someone/vito-tiny")
    card = ModelCard.load(encoder / "README.md")
    assert card.data.datasets == ["someone/videonet-clips"]
    metadata = card.data.to_dict()
    assert metadata["model-index"][0]["name"] == "someone/vito-tiny"
    assert set(metadata) <= {"library_name", "license", "pipeline_tag", "tags", "datasets", "base_model",
                             "model-index"}, metadata.keys()
    assert "[`someone/videonet-clips`](https://huggingface.co/datasets/someone/videonet-clips)" in card.text
    write_model_card(encoder)  # regenerated without options: the repo id and the dataset link are kept
    assert ModelCard.load(encoder / "README.md").data.to_dict() == metadata


def test_a_plain_folder_of_mpg_videos_is_counted_in_the_card(tmp_path):
    """One video-extension list (the clip store's): MPEG-1 program streams (.mpg) count as videos."""
    import av
    import numpy as np

    folder = tmp_path / "videos" / "street"
    folder.mkdir(parents=True)
    for name in ("a.mpg", "b.MPEG", "notes.txt"):
        if name.endswith(".txt"):
            (folder / name).write_text("not a video")
            continue
        with av.open(str(folder / name), "w", format="mpeg") as container:
            stream = container.add_stream("mpeg1video", rate=25)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for index in range(10):
                frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 20, np.uint8), format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
    data = describe_training_data(tmp_path / "videos")
    assert data["video_files"] == 2 and data["curated"] is False
    assert "2 video files of the folder `videos`" in _data_section({"data": data}, None, None)
