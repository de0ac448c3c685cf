"""glass_blur against the published definition (hendrycks/robustness ``make_imagenet_c.py``, the same lines in the
``imagecorruptions`` package), re-implemented here from that code: same draws -> identical output at every severity.

The reference below follows the published loop statement by statement, on a numpy array, with numpy's own
semantics for ``x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]``; only ``np.random.randint`` is
replaced by the displacements the project drew, and ``multichannel=True`` by today's ``channel_axis=-1``.
"""

import numpy as np
import pytest
from skimage.filters import gaussian

from vito_hf.evaluation.corruptions import corrupt, glass_blur, glass_blur_offsets
from vito_hf.evaluation.offline_data import read_clip_frames

PUBLISHED = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)]


def published_glass_blur(x, severity, draws):
    """The published function; ``draws`` yields the ``(dx, dy)`` that ``np.random.randint(-c[1], c[1], size=(2,))``
    returned, in the order the loop asks for them."""
    c = PUBLISHED[severity - 1]
    x = np.uint8(gaussian(np.array(x) / 255.0, sigma=c[0], channel_axis=-1) * 255)
    x_shape = np.array(x).shape
    for i in range(c[2]):
        for h in range(x_shape[0] - c[1], c[1], -1):
            for w in range(x_shape[1] - c[1], c[1], -1):
                dx, dy = next(draws)
                h_prime, w_prime = h + dy, w + dx
                x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
    return np.clip(gaussian(x / 255.0, sigma=c[0], channel_axis=-1), 0, 1) * 255


def flattened_draws(offsets):
    for per_iteration in offsets:
        for row in per_iteration:
            for dx, dy in row:
                yield int(dx), int(dy)


@pytest.fixture(scope="module")
def image():
    """A real 64 x 80 frame (non-square, so rows and columns cannot be mixed up)."""
    return read_clip_frames("bikes.mp4", count=1, size=(80, 64))[0]


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_glass_blur_equals_the_published_function_under_the_same_draws(image, severity):
    offsets = glass_blur_offsets(*image.shape[:2], severity, np.random.default_rng(severity))
    expected = published_glass_blur(image, severity, flattened_draws(offsets))
    ours = glass_blur(image.astype(np.float64), severity, np.random.default_rng(severity))
    np.testing.assert_array_equal(ours, expected)
    # Through the public entry point, as the suite calls it: the seed's generator, uint8 out.
    draws = flattened_draws(glass_blur_offsets(*image.shape[:2], severity, np.random.default_rng(11)))
    expected_uint8 = np.uint8(np.clip(published_glass_blur(image, severity, draws), 0, 255))
    np.testing.assert_array_equal(corrupt(image, "glass_blur", severity, seed=11), expected_uint8)

def test_draws_cover_the_published_range_and_loop():
    height, width = 40, 50
    for severity, (_, delta, iterations) in enumerate(PUBLISHED, start=1):
        offsets = glass_blur_offsets(height, width, severity, np.random.default_rng(0))
        assert len(offsets) == iterations
        assert offsets[0].shape == (len(range(height - delta, delta, -1)), len(range(width - delta, delta, -1)), 2)
        # randint(-delta, delta) excludes +delta
        assert offsets[0].min() == -delta and offsets[0].max() == delta - 1


def test_the_published_statement_copies_rather_than_swaps():
    """The fact the fix rests on: on numpy rows the tuple assignment duplicates the neighbour's pixel."""
    x = np.array([[[1, 1, 1], [2, 2, 2]]], dtype=np.uint8)
    x[0, 0], x[0, 1] = x[0, 1], x[0, 0]
    np.testing.assert_array_equal(x, [[[2, 2, 2], [2, 2, 2]]])
