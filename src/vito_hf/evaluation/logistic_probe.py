"""The probe that decides classes for the robustness and alignment suites: scikit-learn's multinomial logistic
regression on standardised frozen features, fitted on clean images and then applied to altered ones."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


def fit_logistic_probe(features: torch.Tensor | np.ndarray, labels: np.ndarray) -> Pipeline:
    """A fitted ``StandardScaler -> LogisticRegression`` pipeline (``predict``/``score`` take feature arrays)."""
    features = features.numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(features, np.asarray(labels))
