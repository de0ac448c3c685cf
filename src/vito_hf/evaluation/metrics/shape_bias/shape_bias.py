"""Shape bias on cue-conflict stimuli (Geirhos et al., ICLR 2019; the model-vs-human benchmark).

Each stimulus has the shape of one category and the texture of another. A trial counts only when the decision is
one of its two cues; shape bias = shape decisions / (shape decisions + texture decisions). Trials whose shape and
texture are the same category carry no conflict and decide nothing, as in the benchmark; like its
fraction-correct-shape and fraction-correct-texture, shape_match and texture_match divide by all trials.
This file imports nothing from vito_hf, so `evaluate.load(<path of this file>)` works anywhere.
"""

import datasets
import evaluate

_DESCRIPTION = """
Shape bias of a classifier on cue-conflict images: the fraction of shape decisions among the trials decided by
either cue. Also returns shape_match and texture_match (shape and texture decisions on conflict trials divided by
all trials, as model-vs-human's fractions; match_denominator says so), the numbers of trials, of conflict trials
and of trials decided by a cue, and the shape bias per shape category.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: the decided category of each trial (string).
    shape_labels: the category of the stimulus's shape.
    texture_labels: the category of the stimulus's texture.
Returns:
    shape_bias (float in [0, 1], NaN when no trial was decided by a cue), shape_match, texture_match,
    match_denominator ("all_trials"), trials, cue_decisions, conflict_trials,
    per_category {shape category: shape bias}.
Examples:
    >>> metric = evaluate.load("path/to/shape_bias/shape_bias.py")
    >>> metric.compute(predictions=["cat", "dog"], shape_labels=["cat", "cat"], texture_labels=["dog", "dog"])["shape_bias"]
    0.5
"""

_CITATION = """
@inproceedings{geirhos2019imagenettrained,
  title={ImageNet-trained {CNN}s are biased towards texture; increasing shape bias improves accuracy and robustness},
  author={Geirhos, Robert and Rubisch, Patricia and Michaelis, Claudio and Bethge, Matthias and Wichmann, Felix A.
          and Brendel, Wieland},
  booktitle={International Conference on Learning Representations},
  year={2019}
}
"""


def _bias(shape: int, texture: int) -> float:
    return shape / (shape + texture) if shape + texture else float("nan")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ShapeBias(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "shape_labels": datasets.Value("string"),
                    "texture_labels": datasets.Value("string"),
                }
            ),
            reference_urls=["https://github.com/bethgelab/model-vs-human"],
        )

    def _compute(self, predictions, shape_labels, texture_labels):
        shape = texture = conflict = 0
        trials = len(predictions)
        per_category = {}
        for prediction, shape_label, texture_label in zip(predictions, shape_labels, texture_labels):
            if shape_label == texture_label:
                continue
            conflict += 1
            counts = per_category.setdefault(shape_label, [0, 0])
            if prediction == shape_label:
                shape += 1
                counts[0] += 1
            elif prediction == texture_label:
                texture += 1
                counts[1] += 1
        return {
            "shape_bias": _bias(shape, texture),
            "shape_match": shape / trials if trials else float("nan"),
            "texture_match": texture / trials if trials else float("nan"),
            "match_denominator": "all_trials",
            "trials": trials,
            "cue_decisions": shape + texture,
            "conflict_trials": conflict,
            "per_category": {name: _bias(*counts) for name, counts in sorted(per_category.items())},
        }
