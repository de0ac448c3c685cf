"""Saved VITO folders load where vito_hf is not installed (`trust_remote_code=True`) and serve pipelines."""

import subprocess
import sys
import textwrap

import numpy as np
import torch
from PIL import Image
from transformers import pipeline

from vito_hf import VitoForImageClassification, VitoImageProcessor, VitoModel, load_preset

PROCESSOR = dict(size={"shortest_edge": 72}, crop_size={"height": 64, "width": 64})


def _save_folders(tmp_path):
    torch.manual_seed(0)
    config = load_preset("tiny", num_labels=3, id2label={0: "cup", 1: "box", 2: "tree"}, label2id={"cup": 0, "box": 1, "tree": 2})
    encoder, classifier = VitoModel(config).eval(), VitoForImageClassification(config).eval()
    for name, model in (("encoder", encoder), ("classifier", classifier)):
        model.save_pretrained(tmp_path / name)
        VitoImageProcessor(**PROCESSOR).save_pretrained(tmp_path / name)
    return encoder, classifier


def test_saved_folder_loads_without_vito_hf(tmp_path):
    encoder, classifier = _save_folders(tmp_path)
    image = (np.random.default_rng(0).random((90, 120, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "image.png")
    pixel_values = VitoImageProcessor(**PROCESSOR)(Image.fromarray(image), return_tensors="pt").pixel_values
    with torch.no_grad():
        torch.save(
            {"pixel_values": pixel_values, "features": encoder(pixel_values).pooler_output, "logits": classifier(pixel_values).logits},
            tmp_path / "expected.pt",
        )
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["vito_hf"] = None  # any import of vito_hf now fails: only the saved files can serve
        import torch
        from PIL import Image
        from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification
        root = {str(tmp_path)!r}
        expected = torch.load(root + "/expected.pt")
        processor = AutoImageProcessor.from_pretrained(root + "/encoder", trust_remote_code=True)
        pixel_values = processor(Image.open(root + "/image.png"), return_tensors="pt").pixel_values
        assert torch.equal(pixel_values, expected["pixel_values"])
        encoder = AutoModel.from_pretrained(root + "/encoder", trust_remote_code=True).eval()
        classifier = AutoModelForImageClassification.from_pretrained(root + "/classifier", trust_remote_code=True).eval()
        assert "vito_hf" not in type(encoder).__module__
        with torch.no_grad():
            assert torch.equal(encoder(pixel_values).pooler_output, expected["features"])
            assert torch.equal(classifier(pixel_values).logits, expected["logits"])
        print("REMOTE-CODE-OK", type(encoder).__module__)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REMOTE-CODE-OK transformers_modules" in result.stdout


def test_pipelines_serve_saved_folders(tmp_path):
    encoder, classifier = _save_folders(tmp_path)
    image = Image.fromarray((np.random.default_rng(1).random((80, 100, 3)) * 255).astype(np.uint8))
    extractor = pipeline("image-feature-extraction", model=str(tmp_path / "encoder"))
    pooled = np.array(extractor(image, pool=True))
    with torch.no_grad():
        expected = encoder(VitoImageProcessor(**PROCESSOR)(image, return_tensors="pt").pixel_values).pooler_output
    np.testing.assert_allclose(pooled.reshape(-1), expected.numpy().reshape(-1), rtol=1e-5, atol=1e-6)
    predictions = pipeline("image-classification", model=str(tmp_path / "classifier"))(image)
    assert {p["label"] for p in predictions} == {"cup", "box", "tree"}
    assert abs(sum(p["score"] for p in predictions) - 1) < 1e-5
