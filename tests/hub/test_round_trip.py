"""The Hub round trip as downstream users live it, against a local stand-in for the Hub (`hub_stand_in`):
`model.push_to_hub()` sends the weights, the processor and a card with VITO's tags and pipeline tag (and
`base_model` for a classifier fine-tuned from a Hub encoder), no pickle; a process without vito_hf loads the
pushed repo with AutoModel, AutoImageProcessor and the pipelines, online and then offline from the cache; the
evaluation command reads a Hub repo id from the cache and fails in seconds, saying why, when it is not cached."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from hub_stand_in import HubStandIn

ROOT = Path(__file__).resolve().parents[2]
ENCODER, CLASSIFIER = "someone/vito-tiny", "someone/vito-tiny-birds"
VITO_TAGS = {"vito", "self-supervised", "video-pretraining", "attention-pooling"}


def run_python(code: str, env: dict[str, str], *, with_vito_hf: bool, cwd: Path) -> subprocess.CompletedProcess:
    """`code` in a fresh process; without vito_hf, any import of it fails (only the pushed files can serve)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    environment.update(env)
    environment["PYTHONPATH"] = str(ROOT / "src") if with_vito_hf else ""
    if not with_vito_hf:
        code = 'import sys\nsys.modules["vito_hf"] = None\n' + code
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, cwd=cwd,
                          stdin=subprocess.DEVNULL, timeout=600)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The stand-in with an encoder and a classifier pushed by `push_to_hub`, as a user would, and what the
    pushing process computed (features and logits of one image) to compare downstream results with."""
    root = tmp_path_factory.mktemp("hub")
    with HubStandIn() as stand_in:
        env = {"HF_ENDPOINT": stand_in.endpoint, "HF_HOME": str(root / "pusher"), "HF_TOKEN": "hf_stand_in"}
        code = textwrap.dedent(f"""
            import json
            import numpy as np
            import torch
            from PIL import Image
            from vito_hf import VitoForImageClassification, VitoImageProcessor, VitoModel, load_preset
            torch.manual_seed(0)
            encoder = VitoModel(load_preset("tiny")).eval()
            # what our training code does: the processor of the input size the encoder was trained at
            encoder.image_processor = VitoImageProcessor(
                size={{"shortest_edge": 73}}, crop_size={{"height": 64, "width": 64}})
            encoder.push_to_hub({ENCODER!r})
            labels = {{0: "sparrow", 1: "owl", 2: "heron"}}
            classifier = VitoForImageClassification.from_pretrained(
                {ENCODER!r}, num_labels=3, id2label=labels, label2id={{v: k for k, v in labels.items()}}).eval()
            classifier.push_to_hub({CLASSIFIER!r})
            image = Image.fromarray((np.random.default_rng(0).random((80, 100, 3)) * 255).astype(np.uint8))
            image.save("image.png")
            pixels = encoder.image_processor(image, return_tensors="pt").pixel_values
            with torch.no_grad():
                expected = {{"features": encoder(pixels).pooler_output[0].tolist(),
                            "logits": classifier(pixels).logits[0].tolist()}}
            json.dump(expected, open("expected.json", "w"))
        """)
        result = run_python(code, env, with_vito_hf=True, cwd=root)
        assert result.returncode == 0, result.stderr[-3000:]
        yield {"stand_in": stand_in, "root": root, "expected": json.loads((root / "expected.json").read_text())}


def card_of(hub, repo_id: str) -> ModelCard:
    return ModelCard(hub["stand_in"].repos[repo_id]["README.md"].decode())


def test_push_to_hub_card_has_the_vito_tags_and_pipeline_tag(hub):
    data = card_of(hub, ENCODER).data
    assert VITO_TAGS <= set(data.tags)
    assert data.pipeline_tag == "image-feature-extraction" and data.library_name == "transformers"
    assert data.base_model is None  # built from a preset, not from another repo


def test_push_to_hub_sends_the_processor_and_no_pickle(hub):
    files = hub["stand_in"].repos[ENCODER]
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "modeling_vito.py",
            "configuration_vito.py", "image_processing_vito.py"} <= set(files)
    assert not [name for name in files if name.endswith((".bin", ".pt", ".pth", ".pkl"))]
    processor = json.loads(files["preprocessor_config.json"])
    assert processor["crop_size"] == {"height": 64, "width": 64} and processor["size"] == {"shortest_edge": 73}


def test_a_classifier_from_a_hub_encoder_names_it_as_base_model(hub):
    data = card_of(hub, CLASSIFIER).data
    assert data.base_model == ENCODER and data.pipeline_tag == "image-classification"
    assert VITO_TAGS <= set(data.tags)
    # the processor loaded with the encoder's weights travelled on with the classifier
    processor = json.loads(hub["stand_in"].repos[CLASSIFIER]["preprocessor_config.json"])
    assert processor["crop_size"] == {"height": 64, "width": 64}


DOWNSTREAM = textwrap.dedent(f"""
    import json
    import numpy as np
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification, pipeline
    expected = json.load(open("expected.json"))
    image = Image.open("image.png")
    processor = AutoImageProcessor.from_pretrained({ENCODER!r}, trust_remote_code=True)
    encoder = AutoModel.from_pretrained({ENCODER!r}, trust_remote_code=True).eval()
    assert type(encoder).__module__.startswith("transformers_modules"), type(encoder).__module__
    with torch.no_grad():
        features = encoder(**processor(image, return_tensors="pt")).pooler_output[0]
    np.testing.assert_allclose(features.numpy(), expected["features"], rtol=1e-5, atol=1e-6)
    extracted = pipeline("image-feature-extraction", model={ENCODER!r}, trust_remote_code=True)(image, pool=True)
    np.testing.assert_allclose(np.ravel(extracted), expected["features"], rtol=1e-5, atol=1e-6)
    classifier = AutoModelForImageClassification.from_pretrained({CLASSIFIER!r}, trust_remote_code=True).eval()
    labels = pipeline("image-classification", model={CLASSIFIER!r}, trust_remote_code=True)(image)
    assert sorted(p["label"] for p in labels) == ["heron", "owl", "sparrow"]
    print("DOWNSTREAM-OK")
""")


@pytest.fixture(scope="module")
def downloaded(hub):
    """A downstream user's cache (`HF_HOME`), filled by loading the pushed repos without vito_hf through the
    stand-in, and that process's outcome."""
    cache = hub["root"] / "downstream"
    env = {"HF_ENDPOINT": hub["stand_in"].endpoint, "HF_HOME": str(cache)}
    return cache, env, run_python(DOWNSTREAM, env, with_vito_hf=False, cwd=hub["root"])


def test_downstream_without_vito_hf_loads_the_pushed_repos_online_then_offline(hub, downloaded):
    cache, env, online = downloaded
    assert online.returncode == 0, online.stderr[-3000:]
    assert "DOWNSTREAM-OK" in online.stdout
    assert (cache / "hub" / "models--someone--vito-tiny" / "snapshots").is_dir()
    offline = run_python(DOWNSTREAM, dict(env, HF_HUB_OFFLINE="1"), with_vito_hf=False, cwd=hub["root"])
    assert offline.returncode == 0, offline.stderr[-3000:]
    assert "DOWNSTREAM-OK" in offline.stdout


def closed_port_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def evaluation(model: str, cache: Path, env: dict[str, str], output: Path, cwd: Path):
    """run_evaluation.py's `main` on `model` (a quick probe on 60 digits), timed from the call."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT / "training_scripts")!r})
        from run_evaluation import main
        started = time.perf_counter()
        status = main(["--model", {model!r}, "--suites", "probe", "--quick", "--output_dir", {str(output)!r},
                       "--option", 'probe.datasets=["digits"]', "--option", "probe.limit=60"])
        print(f"ELAPSED {{time.perf_counter() - started:.3f}}")
        sys.exit(status)
    """)
    result = run_python(code, dict(env, HF_HOME=str(cache)), with_vito_hf=True, cwd=cwd)
    elapsed = [float(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("ELAPSED ")]
    return result, elapsed[0] if elapsed else float("nan")


@pytest.mark.parametrize("kind", ["offline", "unreachable endpoint"])
def test_evaluation_reads_a_hub_model_from_the_cache_when_the_hub_is_away(hub, downloaded, kind, tmp_path):
    cache, _, online = downloaded
    assert online.returncode == 0, online.stderr[-3000:]
    env = {"HF_HUB_OFFLINE": "1"} if kind == "offline" else {"HF_ENDPOINT": closed_port_endpoint()}
    result, _ = evaluation(ENCODER, cache, env, tmp_path / "eval", hub["root"])
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["model"]["name_or_path"] == ENCODER
    assert results["settings"]["image_processor"]["crop_size"] == {"height": 64, "width": 64}
    assert results["suites"]["probe"]["metrics"]


@pytest.mark.parametrize("kind", ["offline", "unreachable endpoint"])
def test_evaluation_of_an_uncached_hub_model_fails_fast_saying_why(hub, kind, tmp_path):
    env = {"HF_HUB_OFFLINE": "1"} if kind == "offline" else {"HF_ENDPOINT": closed_port_endpoint()}
    started = time.perf_counter()
    result, elapsed = evaluation("someone/never-pushed", tmp_path / "empty-cache", env, tmp_path / "eval", tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    assert elapsed < 10, (elapsed, time.perf_counter() - started)
    message = result.stderr
    assert "The Hugging Face Hub is unreachable" in message
    assert "'someone/never-pushed' is not in the local cache" in message
    assert "hf download someone/never-pushed" in message
    assert ("HF_HUB_OFFLINE=1" in message) == (kind == "offline")
    assert not (tmp_path / "eval" / "results.json").exists()


def test_run_finetune_from_a_hub_encoder_writes_a_card_that_push_to_hub_publishes_without_pickles(hub, tmp_path):
    """The fine-tuning command on a Hub encoder, then the push command: the classifier's card names the encoder as
    `base_model` and carries the test accuracy in its model-index; the Trainer's `training_args.bin` stays home."""
    out = tmp_path / "digits-classifier"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / "training_scripts")!r})
        from run_finetune import main as finetune
        from push_to_hub import main as push
        assert finetune(["--model_name_or_path", {ENCODER!r}, "--dataset", "digits", "--limit", "40",
                         "--output_dir", {str(out)!r}, "--max_steps", "2", "--per_device_train_batch_size", "8",
                         "--report_to", "none", "--save_strategy", "no", "--use_cpu"]) == 0
        assert push(["model", {str(out)!r}, "--repo_id", "someone/vito-tiny-digits"]) == 0
    """)
    env = {"HF_ENDPOINT": hub["stand_in"].endpoint, "HF_HOME": str(tmp_path / "cache"), "HF_TOKEN": "hf_stand_in"}
    result = run_python(code, env, with_vito_hf=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "training_args.bin").is_file()  # written by the Trainer, kept locally
    pushed = hub["stand_in"].repos["someone/vito-tiny-digits"]
    assert "training_args.bin" not in pushed and not [name for name in pushed if name.endswith((".bin", ".pt"))]
    assert {"README.md", "model.safetensors", "preprocessor_config.json", "finetune_results.json"} <= set(pushed)
    card = card_of(hub, "someone/vito-tiny-digits")
    assert card.data.base_model == ENCODER and card.data.pipeline_tag == "image-classification"
    accuracy = json.loads(pushed["finetune_results.json"])["accuracy"]
    [result] = card.data.eval_results
    assert result.metric_value == accuracy and result.dataset_split == "test"
    assert card.data.model_name == "someone/vito-tiny-digits"  # the model-index names the repo, not the folder
    assert VITO_TAGS <= set(card.data.tags) and "model_name" not in card.data.to_dict()
    assert "```python" in card.text and 'from_pretrained("someone/vito-tiny-digits"' in card.text
