"""Every `evaluate` metric module vito_hf ships has a module card in evaluate's layout (YAML header, the sections
of evaluate's own metric cards), a citation equal to the module's, and examples that print what the module returns."""

import doctest
import re

import pytest
import yaml

from vito_hf.evaluation.metrics import METRICS_DIR, load_metric

METRICS = sorted(path.name for path in METRICS_DIR.iterdir() if (path / f"{path.name}.py").is_file())
SECTIONS = ["## Metric Description", "## How to Use", "### Inputs", "### Output Values", "### Examples",
            "## Limitations and Bias", "## Citation(s)", "## Further References"]


def card(name: str) -> tuple[dict, str]:
    text = (METRICS_DIR / name / "README.md").read_text()
    header, body = re.fullmatch(r"---\n(.*?)\n---\n(.*)", text, flags=re.S).groups()
    return yaml.safe_load(header), body


def squeezed(text: str) -> str:
    return " ".join(text.split())


def test_every_shipped_metric_is_covered():
    assert METRICS == ["accuracy", "davis_jf", "saliency_spearman", "shape_bias"]


@pytest.mark.parametrize("name", METRICS)
def test_metric_card_has_evaluates_layout(name):
    header, body = card(name)
    assert {"evaluate", "metric"} <= set(header["tags"])
    assert header["title"] and len(header["description"]) > 40
    assert body.lstrip().startswith(f"# Metric Card for {header['title']}")
    positions = [body.find(section) for section in SECTIONS]
    assert -1 not in positions and positions == sorted(positions), dict(zip(SECTIONS, positions))


@pytest.mark.parametrize("name", METRICS)
def test_metric_card_cites_what_the_module_cites(name):
    citation = load_metric(name).citation
    assert citation.strip(), f"{name} has no citation"
    _, body = card(name)
    cited = re.search(r"## Citation\(s\)\s*```bibtex\n(.*?)```", body, flags=re.S).group(1)
    assert squeezed(cited) == squeezed(citation)


@pytest.mark.parametrize("name", METRICS)
def test_metric_card_examples_print_what_the_module_returns(name):
    _, body = card(name)
    examples = "\n".join(re.findall(r"```python\n(.*?)```", body, flags=re.S))
    test = doctest.DocTestParser().get_doctest(examples, {}, f"{name}/README.md", None, 0)
    assert len(test.examples) >= 4
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
