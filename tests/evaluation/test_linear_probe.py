"""The logistic-regression probe on frozen features: accurate on real digits, chance on shuffled labels, deterministic."""

import numpy as np
import pytest
import torch

from vito_hf.evaluation import fit_linear_probe, linear_probe, load_image_dataset


@pytest.fixture(scope="module")
def digits_pixels():
    data = load_image_dataset("digits")

    def flat(split):
        pixels = np.stack([np.asarray(image) for image in split["image"]]).reshape(len(split), -1)
        return (pixels / 255.0).astype(np.float32)

    return flat(data.train), data.labels("train"), flat(data.test), data.labels("test")


def test_raw_digit_pixels_are_linearly_separable(digits_pixels):
    result = linear_probe(*digits_pixels)
    assert result.accuracy > 0.93  # measured 0.96
    assert result.train_accuracy >= result.accuracy
    assert result.weight_decay in (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


def test_shuffled_training_labels_give_chance_accuracy(digits_pixels):
    train, train_labels, test, test_labels = digits_pixels
    rng = np.random.default_rng(0)
    accuracies = [
        linear_probe(train, rng.permutation(train_labels), test, test_labels, weight_decay=1e-2).accuracy
        for _ in range(3)
    ]
    assert np.mean(accuracies) < 0.25  # chance is 0.1; one shuffle may map a whole digit cluster to its true label


def test_same_inputs_give_the_same_result_and_seed_only_moves_the_validation_split(digits_pixels):
    train, train_labels, test, test_labels = digits_pixels
    subset = (train[:400], train_labels[:400], test[:200], test_labels[:200])
    first = linear_probe(*subset, weight_decay=(1e-3, 1e-1), seed=3)
    second = linear_probe(*subset, weight_decay=(1e-3, 1e-1), seed=3)
    assert first == second
    fixed = [linear_probe(*subset, weight_decay=1e-3, seed=seed) for seed in (0, 1)]
    assert fixed[0] == fixed[1]


def test_standardisation_makes_the_probe_blind_to_feature_scale_and_constant_features(digits_pixels):
    train, train_labels, test, test_labels = digits_pixels
    scale = np.random.default_rng(0).uniform(0.01, 100.0, size=train.shape[1]).astype(np.float32)
    base = linear_probe(train, train_labels, test, test_labels, weight_decay=1e-3)
    scaled = linear_probe(train * scale, train_labels, test * scale, test_labels, weight_decay=1e-3)
    assert abs(base.accuracy - scaled.accuracy) <= 2 / len(test)
    # A feature constant on the training set (many border pixels are) may differ at test time without effect.
    constant_train = np.hstack([train, np.full((len(train), 1), 5.0, np.float32)])
    wild_test = np.hstack([test, np.full((len(test), 1), 1e6, np.float32)])
    padded = linear_probe(constant_train, train_labels, wild_test, test_labels, weight_decay=1e-3)
    assert padded.accuracy == base.accuracy


def test_fit_works_on_inference_mode_features():
    rng = np.random.default_rng(0)
    labels = torch.from_numpy(rng.integers(0, 3, size=90))
    with torch.inference_mode():
        features = torch.nn.functional.one_hot(labels, 3).float() + 0.1 * torch.randn(90, 3)
        probe = fit_linear_probe(features, labels, weight_decay=1e-3)
        predictions = probe(features).argmax(1)
    assert (predictions == labels).float().mean() > 0.95


def test_bad_inputs_raise_clear_errors(digits_pixels):
    train, train_labels, test, test_labels = digits_pixels
    with pytest.raises(ValueError, match="non-empty sequence"):
        linear_probe(train, train_labels, test, test_labels, weight_decay=())
    with pytest.raises(ValueError, match="weight_decay must be non-negative"):
        fit_linear_probe(train, train_labels, weight_decay=-1.0)
    with pytest.raises(ValueError, match="num_classes=5 but the labels go up to 9"):
        fit_linear_probe(train, train_labels, num_classes=5)
    with pytest.raises(ValueError, match="the test set is empty"):
        linear_probe(train, train_labels, test[:0], test_labels[:0])


def test_fits_under_inference_mode_from_arrays_and_leave_the_thread_count_as_they_found_it(digits_pixels):
    train, train_labels, test, test_labels = digits_pixels
    threads = torch.get_num_threads()
    # Under inference mode, arrays become inference tensors; the fit must still get gradients. Small problems
    # run L-BFGS on one thread (its tiny steps cost more in thread sync than they gain).
    with torch.inference_mode():
        linear_probe(train[:200], train_labels[:200], test[:50], test_labels[:50], weight_decay=1e-3)
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="weight_decay must be non-negative"):
        fit_linear_probe(train[:20], train_labels[:20], weight_decay=-1.0)
    assert torch.get_num_threads() == threads
