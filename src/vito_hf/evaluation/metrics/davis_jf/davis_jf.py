"""DAVIS J&F: region similarity J (IoU) and boundary accuracy F of video object segmentation, per object.

Follows the semi-supervised evaluation of the `davis2017-evaluation` toolkit (Pont-Tuset et al. 2017): J is the
intersection over union of an object's predicted and true masks (1 when both are empty); F is the F-measure of
boundary precision and recall, where a boundary pixel counts as matched if the other boundary lies within a disk of
radius ceil(0.008 x image diagonal) pixels. Boundaries are the pixels whose right, lower or lower-right neighbour
has the other label (DAVIS's seg2bmap). As the toolkit does, per sequence: label 255 (void) in the references is
background; the objects are ids 1..max(id in the first reference frame) (an id missing in between is an empty
object, J = F = 1 where it stays absent; an object that first appears later is not scored); the first frame (given
to the method) and the last are not scored; a prediction whose highest id differs from that object count is
refused. Every object gets the mean of J and of F over the scored frames; the reported means average those
per-object values over all objects of all sequences, as DAVIS averages objects, not frames.
This file imports nothing from vito_hf, so `evaluate.load(<path of this file>)` works anywhere.
"""

import datasets
import evaluate
import numpy as np
from scipy import spatial

_DESCRIPTION = """
J&F of the DAVIS benchmark for semi-supervised video object segmentation. Inputs are integer label maps, one per
frame and every annotated frame of a sequence in order, the first included (0 = background, k > 0 = object k,
255 = void in the references); `sequence_ids` (optional, one per frame) groups the frames into sequences. Returns
J_mean, F_mean, JF_mean (their average), the recalls (fraction of an object's frames with J or F above 0.5, averaged
over objects), `per_sequence` {sequence: {"J": ..., "F": ..., "JF": ..., "objects": ..., "frames_scored": ...}} and
`protocol`, the choices it was computed with.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of 2-D integer label maps, one per frame.
    references: list of 2-D integer label maps of the same shapes.
    sequence_ids: optional list of sequence names, one per frame (default: all frames form one sequence).
    bound_th: boundary tolerance; below 1 a fraction of the image diagonal, else pixels (DAVIS: 0.008).
    skip_first_and_last: do not score the first and last frame of each sequence (DAVIS semi-supervised: True).
    allow_missing_objects: score an object the prediction never contains as an empty mask instead of refusing the
        sequence (DAVIS refuses: False).
Returns:
    J_mean, F_mean, JF_mean, J_recall, F_recall (floats in [0, 1]), per_sequence and protocol.
Examples:
    >>> metric = evaluate.load("path/to/davis_jf/davis_jf.py")
    >>> frames = [[[0, 0], [1, 1]], [[0, 1], [1, 1]], [[1, 1], [1, 1]]]
    >>> metric.compute(predictions=frames, references=frames)["JF_mean"]
    1.0
"""

VOID_LABEL = 255

_CITATION = """
@article{pont2017davis,
  title={The 2017 DAVIS Challenge on Video Object Segmentation},
  author={Pont-Tuset, Jordi and Perazzi, Federico and Caelles, Sergi and Arbel{\\'a}ez, Pablo and Sorkine-Hornung, Alex
          and Van Gool, Luc},
  journal={arXiv:1704.00675},
  year={2017}
}
"""


def region_similarity(prediction: np.ndarray, reference: np.ndarray) -> float:
    """J of one binary mask pair: |P and R| / |P or R|, and 1 when both masks are empty."""
    prediction, reference = prediction.astype(bool), reference.astype(bool)
    union = np.logical_or(prediction, reference).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(prediction, reference).sum() / union)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary of a binary mask: pixels whose right, lower or lower-right neighbour differs."""
    mask = mask.astype(bool)
    east = np.zeros_like(mask)
    south = np.zeros_like(mask)
    south_east = np.zeros_like(mask)
    east[:, :-1] = mask[:, 1:]
    south[:-1, :] = mask[1:, :]
    south_east[:-1, :-1] = mask[1:, 1:]
    boundary = (mask ^ east) | (mask ^ south) | (mask ^ south_east)
    boundary[-1, :] = mask[-1, :] ^ east[-1, :]
    boundary[:, -1] = mask[:, -1] ^ south[:, -1]
    boundary[-1, -1] = False
    return boundary


def matched_count(points: np.ndarray, targets: np.ndarray, radius: float) -> int:
    """How many of ``points`` ([N, 2] pixel coordinates) lie within Euclidean distance ``radius`` of a target pixel,
    i.e. inside the targets dilated by a disk of that radius (DAVIS dilates with a disk structuring element)."""
    if len(points) == 0 or len(targets) == 0:
        return 0
    distances, _ = spatial.cKDTree(targets).query(points, k=1, distance_upper_bound=radius + 1e-9)
    return int(np.isfinite(distances).sum())


def boundary_accuracy(prediction: np.ndarray, reference: np.ndarray, bound_th: float = 0.008) -> float:
    """F of one binary mask pair: the F-measure of boundary precision and recall within DAVIS's tolerance."""
    radius = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(reference.shape))
    predicted_boundary = np.argwhere(boundary_map(prediction))
    true_boundary = np.argwhere(boundary_map(reference))
    if len(predicted_boundary) == 0 and len(true_boundary) == 0:
        return 1.0
    if len(predicted_boundary) == 0 or len(true_boundary) == 0:
        return 0.0
    precision = matched_count(predicted_boundary, true_boundary, radius) / len(predicted_boundary)
    recall = matched_count(true_boundary, predicted_boundary, radius) / len(true_boundary)
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def sequence_scores(predictions: list, references: list, objects: list, bound_th: float = 0.008) -> dict:
    """Per object id of one sequence, the arrays of per-frame J and F: ``{object: (J [frames], F [frames])}``."""
    scores = {}
    for obj in objects:
        j_values = [region_similarity(p == obj, r == obj) for p, r in zip(predictions, references)]
        f_values = [boundary_accuracy(p == obj, r == obj, bound_th) for p, r in zip(predictions, references)]
        scores[obj] = (np.asarray(j_values), np.asarray(f_values))
    return scores


def scored_sequence(
    sequence: str, predictions: list, references: list, skip_first_and_last: bool, allow_missing_objects: bool
) -> tuple[list, list, list]:
    """The scored frames of one sequence and its objects, DAVIS's way: ``(predictions, references, object ids)``."""
    references = [np.where(r == VOID_LABEL, 0, r) for r in references]
    objects = list(range(1, int(references[0].max()) + 1))
    if skip_first_and_last:
        if len(references) < 3:
            raise ValueError(
                f"sequence {sequence!r} has {len(references)} frame(s): the semi-supervised protocol scores the "
                "frames between the first (given) and the last; pass every frame of the sequence, or "
                "skip_first_and_last=False"
            )
        predictions, references = predictions[1:-1], references[1:-1]
    predicted = int(max(p.max() for p in predictions))
    if predicted > len(objects) or (predicted < len(objects) and not allow_missing_objects):
        raise ValueError(
            f"sequence {sequence!r}: the prediction's highest object id is {predicted} but the first reference "
            f"frame has {len(objects)} object(s) (ids 1..{len(objects)}); DAVIS refuses predictions with another "
            "object count. Predict ids 1..N of the first frame"
            + ("" if allow_missing_objects else ", or pass allow_missing_objects=True to score an object never "
               "predicted as an empty mask")
        )
    return predictions, references, objects


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class DavisJF(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Sequence(datasets.Value("int32"))),
                    "references": datasets.Sequence(datasets.Sequence(datasets.Value("int32"))),
                }
            ),
            reference_urls=["https://davischallenge.org/davis2017/code.html"],
        )

    def _compute(
        self,
        predictions,
        references,
        sequence_ids=None,
        bound_th=0.008,
        skip_first_and_last=True,
        allow_missing_objects=False,
    ):
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predicted frames but {len(references)} reference frames")
        if not references:
            raise ValueError("no frames given")
        if sequence_ids is None:
            sequence_ids = ["sequence"] * len(references)
        if len(sequence_ids) != len(references):
            raise ValueError(f"{len(sequence_ids)} sequence_ids for {len(references)} frames")
        frames_of = {}
        for index, sequence in enumerate(sequence_ids):
            frames_of.setdefault(str(sequence), []).append(index)
        j_per_object, f_per_object, per_sequence = [], [], {}
        for sequence, indices in frames_of.items():
            sequence_predictions = [np.asarray(predictions[i], dtype=np.int64) for i in indices]
            sequence_references = [np.asarray(references[i], dtype=np.int64) for i in indices]
            for prediction, reference in zip(sequence_predictions, sequence_references):
                if prediction.shape != reference.shape or reference.ndim != 2:
                    raise ValueError(
                        f"sequence {sequence!r}: a prediction of shape {prediction.shape} does not match its "
                        f"2-D reference of shape {reference.shape}"
                    )
            sequence_predictions, sequence_references, objects = scored_sequence(
                sequence, sequence_predictions, sequence_references, skip_first_and_last, allow_missing_objects
            )
            scores = sequence_scores(sequence_predictions, sequence_references, objects, bound_th)
            if not scores:
                continue
            j_means = [j.mean() for j, _ in scores.values()]
            f_means = [f.mean() for _, f in scores.values()]
            j_per_object += [(j.mean(), (j > 0.5).mean()) for j, _ in scores.values()]
            f_per_object += [(f.mean(), (f > 0.5).mean()) for _, f in scores.values()]
            per_sequence[sequence] = {
                "J": float(np.mean(j_means)),
                "F": float(np.mean(f_means)),
                "JF": float((np.mean(j_means) + np.mean(f_means)) / 2),
                "objects": len(objects),
                "frames_scored": len(sequence_references),
            }
        if not j_per_object:
            raise ValueError("the first reference frames hold no object (no label 1..254): nothing to evaluate")
        j_mean = float(np.mean([m for m, _ in j_per_object]))
        f_mean = float(np.mean([m for m, _ in f_per_object]))
        return {
            "J_mean": j_mean,
            "F_mean": f_mean,
            "JF_mean": (j_mean + f_mean) / 2,
            "J_recall": float(np.mean([r for _, r in j_per_object])),
            "F_recall": float(np.mean([r for _, r in f_per_object])),
            "per_sequence": per_sequence,
            "protocol": {
                "frames_scored": "all but the first and last of each sequence" if skip_first_and_last else "all",
                "objects": "ids 1..max id of the first reference frame",
                "void_label": f"{VOID_LABEL} is background",
                "missing_objects": "scored as empty masks" if allow_missing_objects else "refused",
                "bound_th": bound_th,
            },
        }
