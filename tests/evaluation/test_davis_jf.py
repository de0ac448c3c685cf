"""The shipped DAVIS J&F metric against cases computed by hand (DAVIS boundary tolerance: ceil(0.008 x diagonal)).

The hand-computed cases score every frame they pass (``skip_first_and_last=False``: DAVIS's semi-supervised
protocol would drop the first and last); those whose prediction loses an object pass ``allow_missing_objects=True``
(DAVIS refuses such a prediction). The protocol itself is pinned in test_parity_davis_jf.py.
"""

import numpy as np
import pytest

from vito_hf.evaluation.metrics import load_metric


@pytest.fixture(scope="module")
def davis_jf():
    return load_metric("davis_jf")


ALL_FRAMES = {"skip_first_and_last": False}
LOST_OBJECTS = {"skip_first_and_last": False, "allow_missing_objects": True}


def left_columns(count: int, shape=(10, 10)) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.int64)
    mask[:, :count] = 1
    return mask


def test_boundary_is_the_last_column_of_a_half_plane():
    from vito_hf.evaluation.metrics.davis_jf.davis_jf import boundary_map

    expected = np.zeros((10, 10), dtype=bool)
    expected[:, 4] = True
    np.testing.assert_array_equal(boundary_map(left_columns(5)), expected)


def test_perfect_prediction_scores_one(davis_jf):
    reference = left_columns(5)
    result = davis_jf.compute(predictions=[reference], references=[reference], **ALL_FRAMES)
    assert result["J_mean"] == result["F_mean"] == result["JF_mean"] == 1.0


def test_staircase_prediction_matches_hand_computation(davis_jf):
    # Reference: columns 0..4. Prediction: columns 0..4 in rows 0..4, columns 0..8 in rows 5..9.
    # J = 50 / 70. Boundaries (radius ceil(0.008 * 14.1) = 1, a plus-shaped disk): the prediction's 14 boundary
    # pixels include 6 within 1 px of the reference's column (precision 6/14); 6 of the reference's 10 lie within
    # 1 px of the prediction's (recall 6/10); F = 2PR / (P + R) = 0.5.
    reference = left_columns(5)
    prediction = reference.copy()
    prediction[5:, :9] = 1
    result = davis_jf.compute(predictions=[prediction], references=[reference], **ALL_FRAMES)
    assert result["J_mean"] == pytest.approx(50 / 70)
    assert result["F_mean"] == pytest.approx(0.5)
    assert result["JF_mean"] == pytest.approx((50 / 70 + 0.5) / 2)


def test_boundary_tolerance_is_one_pixel_on_a_small_image(davis_jf):
    reference = left_columns(5)
    one_off = davis_jf.compute(predictions=[left_columns(6)], references=[reference], **ALL_FRAMES)
    three_off = davis_jf.compute(predictions=[left_columns(8)], references=[reference], **ALL_FRAMES)
    assert one_off["F_mean"] == 1.0 and one_off["J_mean"] == pytest.approx(5 / 6)
    assert three_off["F_mean"] == 0.0 and three_off["J_mean"] == pytest.approx(5 / 8)


def test_empty_prediction_scores_zero(davis_jf):
    result = davis_jf.compute(
        predictions=[np.zeros((10, 10), dtype=np.int64)], references=[left_columns(5)], **LOST_OBJECTS
    )
    assert result["J_mean"] == 0.0 and result["F_mean"] == 0.0 and result["J_recall"] == 0.0


def test_multi_object_frame_averages_objects(davis_jf):
    reference = left_columns(5)
    reference[:, 7:] = 2
    prediction = left_columns(5)  # object 1 exact, object 2 missed
    result = davis_jf.compute(predictions=[prediction], references=[reference], **LOST_OBJECTS)
    assert result["J_mean"] == pytest.approx(0.5)
    assert result["F_mean"] == pytest.approx(0.5)


def test_objects_are_averaged_over_their_frames_not_frames_over_objects(davis_jf):
    # Frame A: objects 1 and 2 exact. Frame B: object 1 missed, object 2 absent from both masks (J = F = 1).
    # Per object: object 1 = (1 + 0) / 2, object 2 = (1 + 1) / 2, so J_mean = 0.75 (a per-frame mean of frame means
    # over present objects would give (1 + 0) / 2 = 0.5).
    frame_a = left_columns(5)
    frame_a[:, 7:] = 2
    frame_b = left_columns(5)
    result = davis_jf.compute(
        predictions=[frame_a, np.zeros_like(frame_b)], references=[frame_a, frame_b], **ALL_FRAMES
    )
    assert result["J_mean"] == pytest.approx(0.75)


def test_sequences_are_scored_separately(davis_jf):
    reference = left_columns(5)
    result = davis_jf.compute(
        predictions=[reference, np.zeros_like(reference)],
        references=[reference, reference],
        sequence_ids=["good", "bad"],
        **LOST_OBJECTS,
    )
    assert result["per_sequence"]["good"]["JF"] == 1.0
    assert result["per_sequence"]["bad"]["JF"] == 0.0
    assert result["JF_mean"] == pytest.approx(0.5)


def test_mismatched_shapes_are_rejected(davis_jf):
    with pytest.raises(ValueError, match="does not match"):
        davis_jf.compute(predictions=[np.zeros((4, 5), dtype=np.int64)], references=[left_columns(5)])


def test_boundary_matching_equals_disk_dilation_on_random_masks():
    """The nearest-neighbour match counts what a disk dilation of the other boundary covers (DAVIS's rule)."""
    from scipy import ndimage

    from vito_hf.evaluation.metrics.davis_jf.davis_jf import boundary_map, matched_count

    rng = np.random.default_rng(0)
    for radius in (1, 2, 3):
        offsets = np.arange(-radius, radius + 1)
        disk = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2
        a = boundary_map(ndimage.binary_opening(rng.random((30, 40)) > 0.5))
        b = boundary_map(ndimage.binary_opening(rng.random((30, 40)) > 0.5))
        covered = np.logical_and(a, ndimage.binary_dilation(b, structure=disk)).sum()
        assert matched_count(np.argwhere(a), np.argwhere(b), radius) == covered
