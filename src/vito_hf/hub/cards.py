"""Model cards of VITO checkpoints, written from the files that runs leave in the checkpoint folder.

A card (`README.md`, a `huggingface_hub.ModelCard`) is rendered from `model_cards/template.md` with what the
folder holds: `config.json` and the weights (architecture, parameters), `preprocessor_config.json` (input
size), `pretraining_summary.json` (data and curation summary, recipe, hardware, losses: written by the
pretraining run), `conversion.json` (written by the converters in `modeling/`) and `evaluation_results.json`
(a copy of the evaluation's `results.json`, whose metrics become the `model-index`). No number is typed here:
what the files do not record, the card says is not recorded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.repocard_data import eval_results_to_model_index

from ..atomic_files import write_json_atomic, write_text_atomic
from ..evaluation.results import RESULTS_FORMAT_VERSION
from ..hub_access import is_hub_repo_id
from ..modeling_vito import MODEL_TAGS, pipeline_tag_of
from ..training.run_summary import SUMMARY_FILE

CARD_FILE = "README.md"
RESULTS_FILE = "evaluation_results.json"
CONVERSION_FILE = "conversion.json"
FINETUNE_RESULTS_FILE = "finetune_results.json"
TEMPLATE = Path(__file__).with_name("model_card_template.md")
METRIC_KEYS = ("task_type", "dataset_type", "dataset_name", "metric_type", "metric_value")
HUB_DATASET_IDS = {
    "fashion-mnist": "zalando-datasets/fashion_mnist",
    "fashion-mnist-c": "zalando-datasets/fashion_mnist",  # its test split, corrupted on the fly (the name says so)
    "mnist": "ylecun/mnist",
}
"""Evaluation sets that are (derived on the fly from) a Hub dataset: the model-index names them by its Hub id."""
SHOWN_CLASSES = 50


class ModelCardError(ValueError):
    """A checkpoint folder or a results file that no card can be written from; the message says what is wrong."""


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ModelCardError(f"{path} is not valid JSON ({error}); rewrite it from its run.") from error


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("–" if value is None else str(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.1f}%"


def _shown(value: Any) -> Any:
    """A local path by its last component: a card should not publish the author's folders."""
    return Path(value).name if isinstance(value, str) and Path(value).is_absolute() else value


def _without_local_paths(data: Any) -> Any:
    """`data` (parsed JSON) with every absolute local path shown by its last component: the copy of a results file
    that is published beside the weights."""
    if isinstance(data, Mapping):
        return {key: _without_local_paths(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_without_local_paths(value) for value in data]
    return _shown(data)


def hub_dataset_type(dataset_type: str) -> str:
    """The model-index `dataset.type` of an evaluation set: its Hub id where it has one, a Hub id as it is, else
    its short name (never a local path)."""
    if dataset_type in HUB_DATASET_IDS:
        return HUB_DATASET_IDS[dataset_type]
    return dataset_type if is_hub_repo_id(dataset_type) else Path(dataset_type).name or dataset_type


def hub_model_id(name_or_path: str | os.PathLike | None) -> str | None:
    """The Hub repo id of a model: `name_or_path` itself if it is one, else the id recorded in the card of that
    local folder (its model-index name), else None (a local model the Hub cannot link to)."""
    if name_or_path is None:
        return None
    if is_hub_repo_id(name_or_path):
        return str(name_or_path)
    card = Path(name_or_path) / CARD_FILE
    if card.is_file():
        recorded = ModelCard.load(card).data.model_name
        if recorded and is_hub_repo_id(recorded):
            return recorded
    return None


def count_parameters(folder: Path) -> int | None:
    """Parameters in the folder's safetensors weights (read from the headers, no tensor is loaded)."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for file in files:
        with safe_open(file, framework="pt") as weights:
            for name in weights.keys():
                if name.endswith(("running_mean", "running_var", "num_batches_tracked")):
                    continue  # batch-norm statistics are buffers, not parameters
                shape = weights.get_slice(name).get_shape()
                count = 1
                for size in shape:
                    count *= size
                total += count
    return total


class VitoModelCardData(ModelCardData):
    """`ModelCardData` whose `model-index` keeps one entry per metric, in order.

    huggingface_hub groups metrics that share task type, dataset and split under the first one's task and
    dataset names, which would rename e.g. a linear-probe metric after the kNN metric beside it; one entry per
    metric keeps every name, and `ModelCard.load` reads the list back unchanged.
    """

    def _to_dict(self, data_dict):
        super()._to_dict(data_dict)
        if self.eval_results is not None:
            data_dict["model-index"] = [{
                "name": self.model_name,
                "results": [eval_results_to_model_index(self.model_name, [result])[0]["results"][0]
                            for result in self.eval_results],
            }]


class VitoModelCard(ModelCard):
    """A `ModelCard` that parses and writes its metadata as `VitoModelCardData`."""

    card_data_class = VitoModelCardData


# ---- results.json ------------------------------------------------------------------------------------


def validate_results(results: Mapping[str, Any], source: str = "results.json") -> Mapping[str, Any]:
    """Check the shape the evaluation writes (`RESULTS_FORMAT_VERSION`, suites with `metrics` lists of EvalResult keys)."""
    if results.get("format_version") != RESULTS_FORMAT_VERSION:
        raise ModelCardError(
            f"{source} has format_version {results.get('format_version')!r}; this vito_hf reads version "
            f"{RESULTS_FORMAT_VERSION}: rerun the evaluation with this version."
        )
    suites = results.get("suites")
    if not isinstance(suites, Mapping):
        raise ModelCardError(f"{source} has no 'suites' mapping.")
    for name, suite in suites.items():
        for index, metric in enumerate(suite.get("metrics", ())):
            absent = [key for key in METRIC_KEYS if key not in metric]
            if absent:
                raise ModelCardError(f"{source}: suite {name!r} metric {index} lacks {absent}.")
    return results


def eval_results(results: Mapping[str, Any]) -> list[EvalResult]:
    """The `model-index` entries: every suite's metrics, in suite order."""
    return [
        EvalResult(**{**metric, "dataset_type": hub_dataset_type(metric["dataset_type"])})
        for suite in results["suites"].values() for metric in suite.get("metrics", ())
    ]


# ---- sections ----------------------------------------------------------------------------------------


def _model_section(config: Mapping, processor: Mapping | None, summary: Mapping | None, parameters: int | None) -> str:
    backbone = config.get("backbone_config", {})
    architecture = (config.get("architectures") or ["VitoModel"])[0]
    if config.get("pooling", "attention") == "average":
        pooling = ["average pooling", f"on {config.get('pooled_stages')} (the paper's pooling ablation)"]
    else:
        widths, heads = config.get("attention_hidden_sizes"), config.get("attention_num_heads", 1)
        pooling = ["attention pooling", f"on {config.get('pooled_stages')}, MLP widths {widths}, {heads} head(s)"]
    rows = [
        ["architecture", f"`{architecture}` (`model_type: {config.get('model_type')}`)"],
        ["backbone", f"{backbone.get('model_type')} {backbone.get('layer_type', '')}, depths {backbone.get('depths')}, "
                     f"widths {backbone.get('hidden_sizes')}".replace("  ", " ")],
        pooling,
        ["backbone padding", config.get("backbone_padding", "pytorch")],
        ["parameters", None if parameters is None else f"{parameters:,}"],
    ]
    if summary is not None:
        model = summary.get("model", {})
        rows.append(["preset", model.get("preset") or f"initialised from `{_shown(model.get('initialised_from'))}`"])
    if config.get("id2label"):
        rows.append(["labels", f"{len(config['id2label'])} classes"])
    if processor is not None:
        crop = processor.get("crop_size") or {}
        rows.append(["input", f"resize short side to {processor.get('size', {}).get('shortest_edge')}, center crop "
                              f"{crop.get('height')}x{crop.get('width')}, mean {processor.get('image_mean')}, "
                              f"std {processor.get('image_std')}"])
    return _table(["", ""], rows)


def _loading_code(architecture: str, repo: str) -> str:
    lines = [
        "from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification, pipeline",
        "",
        f'processor = AutoImageProcessor.from_pretrained("{repo}", trust_remote_code=True)',
    ]
    if architecture == "VitoForVideoClassification":
        return "\n".join([
            "from transformers import AutoModelForVideoClassification, pipeline",
            "",
            f'model = AutoModelForVideoClassification.from_pretrained("{repo}", trust_remote_code=True)',
            f'classify = pipeline("video-classification", model="{repo}", trust_remote_code=True)',
            'predictions = classify("clip.mp4")  # frames sampled and decoded with PyAV',
        ])
    if architecture == "VitoForImageClassification":
        return "\n".join(lines + [
            f'model = AutoModelForImageClassification.from_pretrained("{repo}", trust_remote_code=True)',
            'logits = model(**processor(image, return_tensors="pt")).logits',
            "",
            f'classify = pipeline("image-classification", model="{repo}", trust_remote_code=True)',
            "predictions = classify(image)",
        ])
    return "\n".join(lines + [
        f'model = AutoModel.from_pretrained("{repo}", trust_remote_code=True)',
        'features = model(**processor(image, return_tensors="pt")).pooler_output  # attention-pooled',
        "",
        f'extract = pipeline("image-feature-extraction", model="{repo}", trust_remote_code=True)',
        "features = extract(image, pool=True)",
    ])


def _data_section(
    summary: Mapping | None, conversion: Mapping | None, dataset_repo_id: str | None, base_model: str | None = None
) -> str:
    if summary is None:
        if base_model is not None and conversion is None:
            return (f"Initialised from [`{base_model}`](https://huggingface.co/{base_model}), whose card describes the "
                    "data it was pretrained on; the data of later training is under Evaluation.")
        if conversion is not None:
            return conversion.get("data") or f"Not recorded in `{conversion.get('source')}`."
        return "Not recorded: this folder holds no `pretraining_summary.json`."
    data = summary["data"]
    where = f" ([`{dataset_repo_id}`](https://huggingface.co/datasets/{dataset_repo_id}))" if dataset_repo_id else ""
    if data.get("report_error"):
        return f"The clip store `{data['name']}`{where}; its curation summary is not known: {data['report_error']}."
    if not data.get("curated"):
        return (f"{data.get('video_files')} video files of the folder `{data['name']}`{where}, used as they are "
                "(no curation report: not a curated clip store).")
    curation = data["curation"]
    totals, settings, target = curation["totals"], curation.get("settings", {}), curation.get("target", {})
    taxonomy = curation.get("taxonomy", {})
    lines = [
        f"**{data.get('pretty_name') or data['name']}**{where}: {data.get('clips', totals['kept'])} clips, curated with "
        f"`vito_hf` the way VITO's VideoNet was: {totals['kept']} kept of {totals['candidates']} candidates "
        f"({totals['rejected']} rejected, pass rate {_percent(totals['pass_rate'])}), in "
        f"{target.get('classes_with_clips')} of {taxonomy.get('num_classes')} classes (taxonomy "
        f"`{_shown(taxonomy.get('source'))}`); total variation distance of the class histogram to the target "
        f"distribution ({target.get('distribution')}): {target.get('total_variation_distance')}.",
        "",
        "Filters and thresholds:",
        "",
        _table(["setting", "value"], [[key, f"`{_shown(value)}`"] for key, value in sorted(settings.items())]),
        "",
        "Stages:",
        "",
        _table(["stage", "in", "passed", "rejected", "pass rate"],
               [[s["stage"], s["in"], s["passed"], s["rejected"], _percent(s["pass_rate"])] for s in curation["stages"]]),
    ]
    reasons = curation.get("rejection_reasons") or {}
    if reasons:
        lines += ["", "Rejections by reason: " + "; ".join(
            f"{stage}: " + ", ".join(f"{code} {count}" for code, count in codes.items()) for stage, codes in reasons.items()
        ) + "."]
    classes = sorted(curation.get("classes", ()), key=lambda c: (-c["kept"], c["index"]))
    lines += ["", "Clips per class (kept):", "",
              _table(["class", "id", "queried", "kept", "pass rate"],
                     [[c["name"], c["id"], c["queried"], c["kept"], _percent(c["pass_rate"])] for c in classes[:SHOWN_CLASSES]])]
    if len(classes) > SHOWN_CLASSES:
        lines.append(f"\n{len(classes) - SHOWN_CLASSES} more classes with clips are listed in `{SUMMARY_FILE}`.")
    return "\n".join(lines)


def _recipe_section(summary: Mapping | None, conversion: Mapping | None, processor: Mapping | None) -> str:
    if summary is None:
        if conversion is not None:
            report = conversion.get("report", {})
            lines = [
                f"Converted from `{conversion.get('source')}` (sha256 `{conversion.get('sha256')}`) by "
                f"`{conversion.get('converter')}`: {report.get('converted')} tensors converted, "
                f"{conversion.get('parameters'):,} parameters, `backbone_padding: {conversion.get('backbone_padding')}`.",
            ]
            for name in ("ignored", "defaulted"):
                if report.get(name):
                    lines.append(f"{name.capitalize()} keys: " + ", ".join(f"`{key}`" for key in report[name]) + ".")
            lines += [f"{note.capitalize()}." for note in report.get("notes", ())]
            lines.append(f"The training recipe is not recorded in `{conversion.get('source')}`.")
            return "\n\n".join(lines)
        return "Not recorded: this folder holds no `pretraining_summary.json`."
    optimization, views, outcome, hardware = (summary[key] for key in ("optimization", "views", "outcome", "hardware"))
    crop = (processor or {}).get("crop_size") or {}
    learning_rate = f"{optimization['learning_rate']:g}"
    if optimization.get("base_learning_rate") is not None:
        learning_rate += f" (base {optimization['base_learning_rate']:g} x global batch / 256)"
    momentum = optimization.get("ema_momentum_logged")
    runtime = outcome.get("train_runtime_seconds")
    wall = None if runtime is None else f"{runtime:.0f} s"
    if wall is not None and outcome.get("resumed_from") is not None:
        wall += f" (the last invocation, resumed from {outcome['resumed_from']})"
    rows = [
        ["optimizer steps", f"{optimization['steps']} of {optimization['max_steps']}"],
        ["global batch (clips)", f"{optimization['global_batch_size']} = {optimization['per_device_batch_size']} per "
                                 f"device x {optimization['processes']} process(es) x "
                                 f"{optimization['gradient_accumulation_steps']} accumulation step(s)"],
        *([["recipe", f"{optimization['recipe']} ({optimization.get('imagenet_epochs')} ImageNet epochs of 1.28 M "
                      "examples trained)"]] if optimization.get("recipe") else []),
        *([["negatives", f"{optimization['negatives_from']}: {optimization['negatives_per_micro_batch']} clips per "
                         "InfoNCE batch (gradient accumulation does not pool negatives across micro-batches)"]]
          if "negatives_from" in optimization else []),
        ["views per clip", views.get("num_views") if views.get("num_views") is not None else "not recorded by this run"],
        ["sampling window", f"{views['window_seconds']} s"],
        ["view size", f"{crop.get('height')} px" if crop else views.get("image_size")],
        ["optimizer", optimization["optimizer"]],
        ["learning rate", learning_rate],
        ["schedule", f"{optimization['lr_scheduler']}, warm-up {optimization['warmup_steps']}"],
        ["weight decay", optimization["weight_decay"]],
        ["EMA momentum (logged, first → last)", None if not momentum else f"{momentum[0]:.6g} → {momentum[1]:.6g}"],
        ["hardware", f"{hardware['processes']} x {hardware['device']} ({hardware['device_name']}), "
                     f"{hardware['cpu_count']} CPU cores, {hardware['precision']}"],
        ["software", f"torch {hardware['torch']}, transformers {hardware['transformers']}"],
        ["wall time (training)", wall],
        ["final logged loss", outcome.get("final_loss")],
    ]
    return _table(["", ""], rows) + ("\n\nThe loss is the multi-view InfoNCE summed over ordered view pairs; every "
                                     f"logged value is in `{SUMMARY_FILE}` (`outcome.losses`).")


def _evaluation_section(results: Mapping | None) -> str:
    if results is None:
        return ("No evaluation recorded yet: `vito_hf.hub.update_card_with_results(folder, results_json)` adds the "
                "results of the evaluation command.")
    model, settings = results.get("model", {}), results.get("settings", {})
    rows = [
        [suite, m.get("task_name") or m["task_type"], m["dataset_name"], m.get("dataset_split"),
         m.get("metric_name") or m["metric_type"], f"{m['metric_value']:.4f}" if isinstance(m["metric_value"], float)
         else m["metric_value"]]
        for suite, body in results["suites"].items() for m in body.get("metrics", ())
    ]
    if model.get("finetuned_from"):
        header = (f"Fine-tuned from `{model['finetuned_from']}` for {settings.get('steps')} steps and tested on the "
                  f"held-out split (`{FINETUNE_RESULTS_FILE}`); the same numbers are in the `model-index` metadata "
                  f"and in `{RESULTS_FILE}`.")
    else:
        header = (f"Evaluated as `{_shown(model.get('name_or_path'))}` (content hash `{model.get('content_hash')}`), "
                  f"suites {list(results['suites'])}, quick={settings.get('quick')}, seed={settings.get('seed')}; "
                  f"the same numbers are in the `model-index` metadata and in `{RESULTS_FILE}`.")
    failed = settings.get("errors") or {}
    if failed:
        header += " Failed suites (no numbers): " + "; ".join(f"{name}: {error}" for name, error in failed.items()) + "."
    return header + "\n\n" + _table(["suite", "task", "dataset", "split", "metric", "value"], rows)


def _uses_section(summary: Mapping | None, conversion: Mapping | None) -> str:
    lines = [
        "Intended uses: frozen features (`pooler_output`, attention-pooled) for linear or kNN probes, retrieval and "
        "representational comparisons; initialisation for fine-tuning on image or video classification "
        "(`VitoForImageClassification`, `VitoForVideoClassification`) and, through `VitoBackbone`, for detection "
        "and segmentation heads.",
        "",
        "Limitations:",
    ]
    if summary is not None:
        data, optimization = summary["data"], summary["optimization"]
        clips = data.get("clips", data.get("video_files"))
        lines.append(f"- This encoder saw {clips} clips for {optimization['steps']} optimizer steps of "
                     f"{optimization['global_batch_size']} clips: judge it by the evaluation above, not by the paper's "
                     "numbers, which come from a ResNet-50 trained on the whole of VideoNet.")
    if conversion is not None:
        lines.append("- Converted weights: the conversion is checked on the architecture (the converted model's outputs "
                     "equal an independent forward of the same weights, `tests/modeling/test_conversion.py`); the "
                     "weights' own accuracy is not re-measured unless an evaluation is listed above.")
    lines += [
        "- The clips come from web videos with their sources' biases (what is filmed, by whom, where); the curation "
        "matches titles to class names and keeps what a classifier recognises, which favours those classes' typical "
        "views.",
        "- Not evaluated for, and not intended for, decisions about people.",
    ]
    return "\n".join(lines)


# ---- public API --------------------------------------------------------------------------------------


def build_model_card(
    folder: str | os.PathLike, *, model_id: str | None = None, dataset_repo_id: str | None = None,
    license: str | None = None, base_model: str | None = None,
) -> VitoModelCard:
    """The card of a saved VITO folder, from the files in it.

    `model_id` names the model in the card and its model-index (its Hub repo id, if any; default: the folder's
    name); `dataset_repo_id` links the training clips' dataset repo (default: the repo the clip store was pushed
    to, as the pretraining run recorded it); `base_model` the Hub model it was fine-tuned or converted from
    (default: as `conversion.json` records it); `license` overrides the recorded licence (default `apache-2.0`,
    or what `conversion.json` says). Options not given are kept from the folder's current card, so regenerating
    a card (e.g. after an evaluation) does not lose them.
    """
    folder = Path(folder)
    if (folder / CARD_FILE).is_file():
        current = ModelCard.load(folder / CARD_FILE).data
        dataset_repo_id = dataset_repo_id or (current.datasets or [None])[0]
        license = license or current.license
        base_model = base_model or current.base_model
        model_id = model_id or (current.model_name if is_hub_repo_id(current.model_name or "") else None)
    config = _read_json(folder / "config.json")
    if config is None:
        raise ModelCardError(f"{folder} has no config.json: pass a folder saved by save_pretrained.")
    if config.get("model_type") != "vito":
        raise ModelCardError(f"{folder} holds a {config.get('model_type')!r} model; these cards describe VITO folders.")
    processor = _read_json(folder / "preprocessor_config.json")
    summary = _read_json(folder / SUMMARY_FILE)
    conversion = _read_json(folder / CONVERSION_FILE)
    results = _read_json(folder / RESULTS_FILE)
    if results is not None:
        validate_results(results, source=str(folder / RESULTS_FILE))
    architecture = (config.get("architectures") or ["VitoModel"])[0]
    name = model_id or folder.resolve().name
    dataset_repo_id = dataset_repo_id or ((summary or {}).get("data") or {}).get("hub_repo_id")
    base_model = (base_model or (conversion or {}).get("base_model")
                  or hub_model_id(((summary or {}).get("model") or {}).get("initialised_from")))
    data = VitoModelCardData(
        library_name="transformers",
        pipeline_tag=pipeline_tag_of(architecture),
        license=license or (conversion or {}).get("license") or "apache-2.0",
        tags=list(MODEL_TAGS) + (["attention-pooling"] if config.get("pooling", "attention") == "attention" else []),
        base_model=base_model,
        datasets=[dataset_repo_id] if dataset_repo_id else None,
        model_name=name if results is not None else None,  # the model-index's name; no top-level key without one
        eval_results=eval_results(results) if results is not None else None,
    )
    if summary is not None:
        optimization = summary["optimization"]
        summary_line = (f"A VITO encoder pretrained for {optimization['steps']} steps on "
                        f"{summary['data'].get('clips', summary['data'].get('video_files'))} video clips.")
    elif conversion is not None:
        summary_line = conversion.get("description") or f"Converted from `{conversion.get('source')}`."
        if conversion.get("license_note"):
            summary_line += " " + conversion["license_note"]
    elif base_model is not None:
        kind = "classifier" if "Classification" in architecture else "checkpoint"
        summary_line = f"A VITO {kind} fine-tuned from [`{base_model}`](https://huggingface.co/{base_model})."
    else:
        summary_line = "A VITO checkpoint."
    return VitoModelCard.from_template(
        data,
        template_path=str(TEMPLATE),
        title=name,
        summary=summary_line,
        model_table=_model_section(config, processor, summary, count_parameters(folder)),
        loading_code=_loading_code(architecture, model_id or "path/to/this/folder"),
        data_section=_data_section(summary, conversion, dataset_repo_id, base_model),
        recipe_section=_recipe_section(summary, conversion, processor),
        evaluation_section=_evaluation_section(results),
        uses_section=_uses_section(summary, conversion),
    )


def write_model_card(folder: str | os.PathLike, **options: Any) -> Path:
    """Render `build_model_card(folder, **options)` to `folder/README.md` (atomically)."""
    path = Path(folder) / CARD_FILE
    write_text_atomic(path, build_model_card(folder, **options).content + "\n")
    return path


def write_pretraining_card(encoder_dir: str | os.PathLike, *, already_finished: bool = False) -> Path | None:
    """The card of the encoder a pretraining run saved (with its `pretraining_summary.json`), after the run:
    `write_pretraining_card(outputs.encoder_dir, already_finished=outputs.already_finished)`. A rerun of a finished
    run writes nothing unless the card is missing (the first run ended between saving and writing it)."""
    if already_finished and (Path(encoder_dir) / CARD_FILE).is_file():
        return None
    return write_model_card(encoder_dir)


def update_card_with_results(folder: str | os.PathLike, results_json: str | os.PathLike) -> Path:
    """Add an evaluation to a folder's card: copy `results_json` in as `evaluation_results.json` (replacing an
    earlier one; absolute local paths shown by their last component, as the folder is meant for publishing) and
    rewrite README.md, whose `model-index` then lists every suite's metrics."""
    folder, results_json = Path(folder), Path(results_json)
    results = _read_json(results_json)
    if results is None:
        raise ModelCardError(f"No results file at {results_json}: run the evaluation first.")
    validate_results(results, source=str(results_json))
    if not (folder / "config.json").is_file():
        raise ModelCardError(f"{folder} has no config.json: pass the evaluated checkpoint folder.")
    if results.get("settings", {}).get("random_init"):
        raise ModelCardError(f"{results_json} evaluates a randomly initialised baseline, not the weights in {folder}.")
    evaluated = Path(str(results.get("model", {}).get("name_or_path", "")))
    if evaluated.is_dir() and evaluated.resolve() != folder.resolve():
        raise ModelCardError(f"{results_json} evaluates {evaluated}, not {folder}: pass that folder's results.")
    write_json_atomic(folder / RESULTS_FILE, _without_local_paths(results), sort_keys=False)
    return write_model_card(folder)


def write_finetune_card(
    folder: str | os.PathLike, *, finetuned_from: str | os.PathLike, dataset: str | os.PathLike, video: bool = False,
    **options: Any,
) -> Path:
    """The card of a classifier that `run_finetune` saved in `folder`: its `finetune_results.json` (test accuracy
    on `dataset`) becomes the folder's `evaluation_results.json`, hence the card's model-index and results table,
    and `base_model` is the Hub id of the encoder it was `finetuned_from` (that id itself, or the one recorded in
    the encoder folder's card; none for a local encoder the Hub cannot link to). `options` go to
    `write_model_card`."""
    folder = Path(folder)
    finetuned = _read_json(folder / FINETUNE_RESULTS_FILE)
    if finetuned is None:
        raise ModelCardError(f"{folder} has no {FINETUNE_RESULTS_FILE}: pass the output folder of run_finetune.")
    task = "video-classification" if video else "image-classification"
    dataset_type = hub_dataset_type(str(dataset))
    results = {
        "format_version": RESULTS_FORMAT_VERSION,
        "model": {"name_or_path": folder.resolve().name, "finetuned_from": Path(str(finetuned_from)).name},
        "settings": {"steps": finetuned["steps"]},
        "suites": {"finetune": {"metrics": [{
            "task_type": task, "task_name": f"fine-tuning ({task})", "dataset_type": dataset_type,
            "dataset_name": Path(str(dataset)).name or str(dataset), "dataset_split": "test",
            "metric_type": "accuracy", "metric_value": finetuned["accuracy"],
            "metric_name": f"fine-tuned top-1 ({finetuned['steps']} steps)",
        }]}},
    }
    write_json_atomic(folder / RESULTS_FILE, results, sort_keys=False)
    options.setdefault("base_model", hub_model_id(finetuned_from))
    return write_model_card(folder, **options)


def update_card_of_vito_folder(folder: str | os.PathLike, results_json: str | os.PathLike) -> Path | None:
    """`update_card_with_results` for a local folder whose card vito_hf wrote (it holds the run summary of a
    pretraining or the record of a conversion); None, and nothing written, for any other folder or a Hub name:
    an evaluation does not put cards into folders it merely reads."""
    folder = Path(folder)
    if not ((folder / SUMMARY_FILE).is_file() or (folder / CONVERSION_FILE).is_file()):
        return None
    return update_card_with_results(folder, results_json)
