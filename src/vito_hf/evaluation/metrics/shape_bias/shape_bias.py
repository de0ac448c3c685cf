"""Shape bias on cue-conflict stimuli (Geirhos et al., ICLR 2019; the model-vs-human benchmark).

Each stimulus has the shape of one category and the texture of another. A trial counts only when the decision is
one of its two cues; shape bias = shape decisions / (shape decisions + texture decisions). Trials whose shape and
texture are the same category carry no conflict and are left out, as the benchmark does.
This file imports nothing from vito_hf, so `evaluate.load(<path of this file>)` works anywhere.
"""

import datasets
import evaluate

_DESCRIPTION = """
Shape bias of a classifier on cue-conflict images: the fraction of shape decisions among the trials decided by
either cue. Also returns shape_match and texture_match (fractions of all conflict trials), the number of trials
decided by a cue, and the shape bias per shape category.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: the decided category of each trial (string).
    shape_labels: the category of the stimulus's shape.
    texture_labels: the category of the stimulus's texture.
Returns:
    shape_bias (float in [0, 1], NaN when no trial was decided by a cue), shape_match, texture_match,
    cue_decisions, conflict_trials, per_category {shape category: shape bias}.
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
            "shape_match": shape / conflict if conflict else float("nan"),
            "texture_match": texture / conflict if conflict else float("nan"),
            "cue_decisions": shape + texture,
            "conflict_trials": conflict,
            "per_category": {name: _bias(*counts) for name, counts in sorted(per_category.items())},
        }
