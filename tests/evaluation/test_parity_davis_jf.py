"""The davis_jf metric module against the official semi-supervised evaluation (davisvideochallenge/davis2017-evaluation:
``davis2017/davis.py``, ``results.py``, ``metrics.py``, ``evaluation.py``, ``utils.db_statistics``), re-implemented
here from that code on arrays (the toolkit reads the same arrays from palette PNGs), on generated multi-object
sequences with an object that appears late, an id missing in between, an object present only in frame 0 and void
(255) pixels.
"""

import math

import cv2
import numpy as np
import pytest
from skimage.morphology import disk

from vito_hf.evaluation.metrics import load_metric

VOID = 255


class Refused(Exception):
    """Where the toolkit writes a message and calls sys.exit()."""


# ---- davis2017/davis.py: DAVIS._get_all_elements + get_all_masks(separate_objects_masks=True) ----
def official_gt_masks(annotations):
    all_objs = np.zeros((len(annotations), *annotations[0].shape))
    for i, annotation in enumerate(annotations):
        all_objs[i, ...] = annotation
        all_objs[i, all_objs[i, ...] == 255] = 0
    num_objects = int(np.max(all_objs[0, ...]))
    tmp = np.ones((num_objects, *all_objs.shape))
    tmp = tmp * np.arange(1, num_objects + 1)[:, None, None, None]
    masks = tmp == all_objs[None, ...]
    return masks > 0


# ---- davis2017/results.py: Results.read_masks ----
def official_result_masks(predictions):
    masks = np.zeros((len(predictions), *predictions[0].shape))
    for ii, prediction in enumerate(predictions):
        masks[ii, ...] = prediction
    num_objects = int(np.max(masks))
    tmp = np.ones((num_objects, *masks.shape))
    tmp = tmp * np.arange(1, num_objects + 1)[:, None, None, None]
    return (tmp == masks[None, ...]) > 0


# ---- davis2017/metrics.py ----
def db_eval_iou(annotation, segmentation, void_pixels=None):
    annotation = annotation.astype(bool)
    segmentation = segmentation.astype(bool)
    void_pixels = np.zeros_like(segmentation) if void_pixels is None else void_pixels.astype(bool)
    inters = np.sum((segmentation & annotation) & np.logical_not(void_pixels), axis=(-2, -1))
    union = np.sum((segmentation | annotation) & np.logical_not(void_pixels), axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        j = inters / union
    if j.ndim == 0:
        j = 1 if np.isclose(union, 0) else j
    else:
        j[np.isclose(union, 0)] = 1
    return j


def seg2bmap(seg):
    seg = seg.astype(bool)
    seg[seg > 0] = 1
    e, s, se = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def f_measure(foreground_mask, gt_mask, void_pixels=None, bound_th=0.008):
    void_pixels = np.zeros_like(foreground_mask).astype(bool) if void_pixels is None else void_pixels.astype(bool)
    bound_pix = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(foreground_mask.shape))
    fg_boundary = seg2bmap(foreground_mask * np.logical_not(void_pixels))
    gt_boundary = seg2bmap(gt_mask * np.logical_not(void_pixels))
    fg_dil = cv2.dilate(fg_boundary.astype(np.uint8), disk(bound_pix).astype(np.uint8))
    gt_dil = cv2.dilate(gt_boundary.astype(np.uint8), disk(bound_pix).astype(np.uint8))
    gt_match = gt_boundary * fg_dil
    fg_match = fg_boundary * gt_dil
    n_fg, n_gt = np.sum(fg_boundary), np.sum(gt_boundary)
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision, recall = np.sum(fg_match) / float(n_fg), np.sum(gt_match) / float(n_gt)
    return 0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def db_eval_boundary(annotation, segmentation, void_pixels=None, bound_th=0.008):
    f_res = np.zeros(annotation.shape[0])
    for frame_id in range(annotation.shape[0]):
        void_frame = None if void_pixels is None else void_pixels[frame_id]
        f_res[frame_id] = f_measure(segmentation[frame_id], annotation[frame_id], void_frame, bound_th=bound_th)
    return f_res


# ---- davis2017/utils.py: db_statistics (mean and recall) ----
def db_statistics(per_frame_values):
    return np.nanmean(per_frame_values), np.nanmean(per_frame_values > 0.5)


# ---- davis2017/evaluation.py: DAVISEvaluation.evaluate, semi-supervised ----
def official_evaluation(sequences, *, pad_missing_objects=False, semi_supervised=True):
    """``sequences``: {name: (predictions [T, H, W], annotations [T, H, W])}. ``pad_missing_objects`` pads a
    prediction with fewer objects by empty masks (what the toolkit's unsupervised path does) instead of refusing;
    ``semi_supervised=False`` skips the task's cut of the first and last frame."""
    metrics = {"J": {"M": [], "R": []}, "F": {"M": [], "R": []}}
    for name, (predictions, annotations) in sequences.items():
        all_gt_masks = official_gt_masks(annotations)
        if semi_supervised:
            all_gt_masks, predictions = all_gt_masks[:, 1:-1, :, :], predictions[1:-1]
        all_res_masks = official_result_masks(predictions)
        if pad_missing_objects and all_res_masks.shape[0] < all_gt_masks.shape[0]:
            padding = np.zeros((all_gt_masks.shape[0] - all_res_masks.shape[0], *all_res_masks.shape[1:]), bool)
            all_res_masks = np.concatenate([all_res_masks, padding], axis=0)
        if all_res_masks.shape[0] != all_gt_masks.shape[0]:
            raise Refused(f"{name}: In your PNG files there is an index higher than the number of objects")
        j_res, f_res = np.zeros(all_gt_masks.shape[:2]), np.zeros(all_gt_masks.shape[:2])
        for ii in range(all_gt_masks.shape[0]):
            void_masks = all_gt_masks[ii, ...] == VOID
            j_res[ii, :] = db_eval_iou(all_gt_masks[ii, ...], all_res_masks[ii, ...], void_masks)
            f_res[ii, :] = db_eval_boundary(all_gt_masks[ii, ...], all_res_masks[ii, ...], void_masks)
        for ii in range(all_gt_masks.shape[0]):
            for key, values in (("J", j_res[ii]), ("F", f_res[ii])):
                mean, recall = db_statistics(values)
                metrics[key]["M"].append(mean)
                metrics[key]["R"].append(recall)
    j_mean, f_mean = np.mean(metrics["J"]["M"]), np.mean(metrics["F"]["M"])
    return {"JF_mean": (j_mean + f_mean) / 2, "J_mean": j_mean, "F_mean": f_mean,
            "J_recall": np.mean(metrics["J"]["R"]), "F_recall": np.mean(metrics["F"]["R"])}


# ---- generated sequences ----
def blob(shape, centre, radii):
    ys, xs = np.ogrid[: shape[0], : shape[1]]
    return ((ys - centre[0]) / radii[0]) ** 2 + ((xs - centre[1]) / radii[1]) ** 2 <= 1


def moving_objects(rng, frames, shape, presence):
    """Annotations [T, H, W]: object ``k`` of ``presence`` is drawn in the frames it lists, moving each frame."""
    labels = np.zeros((frames, *shape), dtype=np.uint8)
    for obj, present in presence.items():
        centre = rng.uniform([8, 8], [shape[0] - 8, shape[1] - 8])
        velocity = rng.uniform(-3, 3, 2)
        radii = rng.uniform(4, 10, 2)
        for t in range(frames):
            if t in present:
                labels[t][blob(shape, centre + t * velocity, radii)] = obj
    return labels


def predicted_from(rng, annotations, num_objects, error):
    """A method's output: each frame's annotation (void as background) shifted and with random blobs relabelled;
    only ids 0..num_objects, as a propagation from the first frame gives. Frame 0 is the given annotation."""
    predictions = np.where(annotations == VOID, 0, annotations).astype(np.uint8)
    predictions[predictions > num_objects] = 0
    for t in range(1, len(predictions)):
        predictions[t] = np.roll(predictions[t], rng.integers(-error, error + 1, 2), axis=(0, 1))
        for _ in range(3):
            spot = blob(predictions.shape[1:], rng.uniform([0, 0], predictions.shape[1:]), rng.uniform(2, 6, 2))
            predictions[t][spot] = rng.integers(0, num_objects + 1)
    return predictions


def generated_sequences(seed):
    rng = np.random.default_rng(seed)
    frames, shape = 9, (48, 64)
    sequences = {}
    # late: ids 1, 2 in frame 0; id 3 appears from frame 4 (not scored).
    late = moving_objects(rng, frames, shape, {1: range(frames), 2: range(frames), 3: range(4, frames)})
    sequences["late"] = (predicted_from(rng, late, 2, 2), late)
    # gap: ids 1 and 3 in frame 0, id 2 only in the last frame (not scored): object 2 is empty in every scored frame.
    gap = moving_objects(rng, frames, shape, {1: range(frames), 2: [frames - 1], 3: range(frames)})
    sequences["gap"] = (predicted_from(rng, gap, 3, 1), gap)
    # first-only: id 2 is in frame 0 only (still scored: J = 1 where the prediction leaves it out too).
    first = moving_objects(rng, frames, shape, {1: range(frames), 2: [0]})
    sequences["first-only"] = (predicted_from(rng, first, 2, 3), first)
    # void: 255 borders around the objects and a void block in frame 0 (the first frame's max must ignore it).
    void = moving_objects(rng, frames, shape, {1: range(frames), 2: range(frames)})
    for t in range(frames):
        border = cv2.dilate((void[t] > 0).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & (void[t] == 0)
        void[t][border] = VOID
    void[0, :6, :6] = VOID
    sequences["void"] = (predicted_from(rng, void, 2, 2), void)
    for name, (predictions, _) in sequences.items():  # every sequence's top id is predicted in a scored frame
        top = int(official_gt_masks(sequences[name][1]).shape[0])
        predictions[1][:2, :2] = top
    return sequences


def module_result(sequences, **options):
    predictions, references, ids = [], [], []
    for name, (predicted, annotations) in sequences.items():
        predictions += list(predicted)
        references += list(annotations)
        ids += [name] * len(annotations)
    return load_metric("davis_jf").compute(predictions=predictions, references=references, sequence_ids=ids, **options)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_module_equals_the_official_semi_supervised_evaluation(seed):
    sequences = generated_sequences(seed)
    ours = module_result(sequences)
    official = official_evaluation(sequences)
    for key in ("JF_mean", "J_mean", "F_mean", "J_recall", "F_recall"):
        assert ours[key] == pytest.approx(official[key], abs=1e-12), key
    for name in sequences:
        alone = official_evaluation({name: sequences[name]})
        assert ours["per_sequence"][name]["JF"] == pytest.approx(alone["JF_mean"], abs=1e-12), name
    assert ours["per_sequence"]["late"]["objects"] == 2 and ours["per_sequence"]["gap"]["objects"] == 3
    assert ours["per_sequence"]["void"]["frames_scored"] == 7
    assert ours["protocol"]["frames_scored"] == "all but the first and last of each sequence"


def test_scoring_every_frame_is_the_toolkits_flow_without_its_semi_supervised_cut():
    sequences = generated_sequences(0)
    ours = module_result(sequences, skip_first_and_last=False)
    official = official_evaluation(sequences, semi_supervised=False)
    assert ours["JF_mean"] == pytest.approx(official["JF_mean"], abs=1e-12)
    assert ours["JF_mean"] != pytest.approx(module_result(sequences)["JF_mean"], abs=1e-6)


def test_a_prediction_with_another_object_count_is_refused():
    sequences = generated_sequences(0)
    predictions, annotations = sequences["late"]
    extra = predictions.copy()
    extra[3][10:14, 10:14] = 3  # the late object's id: not an object of the first frame
    with pytest.raises(Refused):
        official_evaluation({"late": (extra, annotations)})
    with pytest.raises(ValueError, match=r"highest object id is 3 but the first reference frame has 2 object"):
        module_result({"late": (extra, annotations)})
    fewer = np.where(predictions == 2, 0, predictions)  # object 2 lost in every frame
    with pytest.raises(Refused):
        official_evaluation({"late": (fewer, annotations)})
    with pytest.raises(ValueError, match="allow_missing_objects=True"):
        module_result({"late": (fewer, annotations)})
    # Opting in scores the lost object as an empty mask, as the toolkit would with its masks padded.
    padded = official_evaluation({"late": (fewer, annotations)}, pad_missing_objects=True)
    assert module_result({"late": (fewer, annotations)}, allow_missing_objects=True)["JF_mean"] == pytest.approx(
        padded["JF_mean"], abs=1e-12
    )


def test_a_sequence_too_short_for_the_protocol_is_refused():
    reference = np.zeros((2, 10, 10), dtype=np.int64)
    reference[:, 2:5, 2:5] = 1
    with pytest.raises(ValueError, match="skip_first_and_last=False"):
        load_metric("davis_jf").compute(predictions=list(reference), references=list(reference))
