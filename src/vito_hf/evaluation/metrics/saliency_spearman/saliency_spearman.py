"""Agreement of a model's saliency with human importance maps: Spearman's rank correlation per image.

As in the ClickMe evaluations (Linsley et al., ICLR 2019), each model map is compared with the human map of the same
image by the Spearman correlation of their pixel values (ranks, ties averaged), and the correlations are averaged
over images. A constant map has no ranking; its correlation is counted as 0.
This file imports nothing from vito_hf, so `evaluate.load(<path of this file>)` works anywhere.
"""

import datasets
import evaluate
import numpy as np
from scipy import stats

_DESCRIPTION = """
Mean Spearman rank correlation between model saliency maps and human importance maps of the same images.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of 2-D model saliency maps.
    references: list of 2-D human importance maps, each the same shape as its prediction.
Returns:
    spearman_mean, spearman_std (floats) and per_image (list of floats).
Examples:
    >>> metric = evaluate.load("path/to/saliency_spearman/saliency_spearman.py")
    >>> metric.compute(predictions=[[[0.0, 1.0], [2.0, 3.0]]], references=[[[0.0, 1.0], [2.0, 9.0]]])["spearman_mean"]
    1.0
"""

_CITATION = """
@inproceedings{linsley2019learning,
  title={Learning what and where to attend},
  author={Linsley, Drew and Shiebler, Dan and Eberhardt, Sven and Serre, Thomas},
  booktitle={International Conference on Learning Representations},
  year={2019}
}
"""


def spearman(prediction: np.ndarray, reference: np.ndarray) -> float:
    """Spearman's rho of two equally shaped maps over their pixels; 0 when either map is constant."""
    prediction, reference = np.asarray(prediction, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if prediction.shape != reference.shape:
        raise ValueError(f"a saliency map of shape {prediction.shape} does not match its human map {reference.shape}")
    if np.ptp(prediction) == 0 or np.ptp(reference) == 0:
        return 0.0
    return float(stats.spearmanr(prediction.ravel(), reference.ravel()).statistic)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SaliencySpearman(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Sequence(datasets.Value("float32"))),
                    "references": datasets.Sequence(datasets.Sequence(datasets.Value("float32"))),
                }
            ),
            reference_urls=["https://serre-lab.clps.brown.edu/resource/clickme/"],
        )

    def _compute(self, predictions, references):
        if not references:
            raise ValueError("no maps given")
        per_image = [spearman(p, r) for p, r in zip(predictions, references)]
        return {
            "spearman_mean": float(np.mean(per_image)),
            "spearman_std": float(np.std(per_image)),
            "per_image": per_image,
        }
