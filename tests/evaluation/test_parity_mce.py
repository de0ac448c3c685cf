"""mCE against the published computation (google-research/augmix ``imagenet.py`` ``compute_mce``, Hendrycks &
Dietterich's definition): per corruption the mean error over severities divided by the reference model's, then the
sum over the 15 standard corruptions divided by 15. With fewer corruptions there is no mCE: an error names the
missing ones, and the partial mean is reported under another name."""

import numpy as np
import pytest

from vito_hf.evaluation.corruptions import EXTRA_CORRUPTIONS, STANDARD_CORRUPTIONS, corruption_errors

# The order of augmix's CORRUPTIONS list (the same 15 as the paper's table).
PUBLISHED_ORDER = [
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
]


def published_mce(corruption_accs, reference_mean_errors):
    """compute_mce re-implemented: ``ce = 100 * (1 - mean acc) / reference error``, summed with weight 1/15."""
    mce = 0.0
    for i, name in enumerate(PUBLISHED_ORDER):
        avg_err = 1 - np.mean(corruption_accs[name])
        ce = 100 * avg_err / reference_mean_errors[i]
        mce += ce / 15
    return mce


@pytest.fixture
def tables():
    rng = np.random.default_rng(0)
    accuracy = {name: rng.uniform(0.2, 0.9, 5).tolist() for name in STANDARD_CORRUPTIONS + EXTRA_CORRUPTIONS}
    reference = {name: rng.uniform(0.5, 0.95, 5).tolist() for name in STANDARD_CORRUPTIONS + EXTRA_CORRUPTIONS}
    errors = {name: [1 - a for a in values] for name, values in accuracy.items()}
    return accuracy, errors, reference


def test_mce_over_the_fifteen_equals_the_published_computation(tables):
    accuracy, errors, reference = tables
    result = corruption_errors(errors, reference)
    expected = published_mce(accuracy, [np.mean(reference[name]) for name in PUBLISHED_ORDER])
    assert 100 * result["mCE"] == pytest.approx(expected, rel=1e-12)
    # The four extra corruptions get a CE of their own but stay out of the mean, as in the paper.
    assert result["mCE_corruptions"] == list(STANDARD_CORRUPTIONS)
    assert set(result["corruption_error"]) == set(STANDARD_CORRUPTIONS + EXTRA_CORRUPTIONS)


def test_fewer_than_fifteen_is_refused_naming_what_is_missing(tables):
    _, errors, reference = tables
    del errors["fog"]
    reference.pop("snow")
    with pytest.raises(ValueError, match=r"2 are missing: snow \(not in reference\), fog \(not in errors\)"):
        corruption_errors(errors, reference)


def test_partial_tables_give_a_mean_ce_that_is_not_called_mce(tables):
    _, errors, reference = tables
    subset = {name: errors[name] for name in ("fog", "gaussian_noise", "saturate")}
    result = corruption_errors(subset, reference, partial=True)
    assert "mCE" not in result
    assert result["mean_CE"] == pytest.approx(np.mean([np.sum(subset[n]) / np.sum(reference[n]) for n in subset]))
    assert result["mean_CE_corruptions"] == ["fog", "gaussian_noise", "saturate"]
    assert len(result["missing_standard_corruptions"]) == 13 and "fog" not in result["missing_standard_corruptions"]
    # partial=True with every standard corruption present is the full mCE.
    assert corruption_errors(errors, reference, partial=True)["mCE"] == corruption_errors(errors, reference)["mCE"]
