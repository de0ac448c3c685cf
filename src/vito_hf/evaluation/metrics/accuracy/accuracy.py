# Copyright 2026 The vito_hf authors. Licensed under the Apache License, Version 2.0.
"""Top-1 accuracy as an `evaluate` metric module that ships with vito_hf (evaluate 0.4 ships none offline).

Load it by path: ``evaluate.load(vito_hf.evaluation.metrics.metric_path("accuracy"))``. It imports only
`datasets` and `evaluate`, one import per line (evaluate's import scanner misreads ``import a, b``).
"""

import datasets
import evaluate

_DESCRIPTION = """
Accuracy is the fraction of predictions equal to their reference label:
    accuracy = sum(weight_i * [prediction_i == reference_i]) / sum(weight_i)
with every weight 1 unless `sample_weight` is given. `normalize=False` returns the (weighted) count of correct
predictions instead of the fraction.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class indices.
    references (`list` of `int`): true class indices, as long as `predictions`.
    normalize (`bool`, defaults to `True`): return the fraction (True) or the count (False) of correct predictions.
    sample_weight (`list` of `float`, optional): one non-negative weight per prediction.
Returns:
    accuracy (`float`): between 0 and 1 when `normalize=True`.
Examples:
    >>> accuracy = evaluate.load("path/to/metrics/accuracy")
    >>> accuracy.compute(predictions=[0, 1, 2, 1], references=[0, 1, 1, 1])
    {'accuracy': 0.75}
"""

_CITATION = """
@article{russakovsky2015imagenet,
  title={ImageNet Large Scale Visual Recognition Challenge},
  author={Russakovsky, Olga and Deng, Jia and Su, Hao and Krause, Jonathan and Satheesh, Sanjeev and Ma, Sean
          and Huang, Zhiheng and Karpathy, Andrej and Khosla, Aditya and Bernstein, Michael and Berg, Alexander C.
          and Fei-Fei, Li},
  journal={International Journal of Computer Vision},
  volume={115},
  number={3},
  pages={211--252},
  year={2015}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    """Top-1 accuracy of class predictions."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        if len(predictions) == 0:
            raise ValueError("accuracy of zero predictions is undefined: pass at least one prediction")
        weights = [1.0] * len(predictions) if sample_weight is None else [float(w) for w in sample_weight]
        if len(weights) != len(predictions):
            raise ValueError(f"{len(weights)} sample weights for {len(predictions)} predictions")
        if any(w < 0 for w in weights):
            raise ValueError("sample weights must be non-negative")
        correct = sum(w for p, r, w in zip(predictions, references, weights) if p == r)
        if not normalize:
            return {"accuracy": float(correct)}
        total = sum(weights)
        if total == 0:
            raise ValueError("the sample weights sum to zero: accuracy is undefined")
        return {"accuracy": float(correct / total)}
