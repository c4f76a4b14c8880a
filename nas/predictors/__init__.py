"""Predictors of an objective from an architecture's encoding, fitted on a study's completed trials."""

from nas.predictors.base import MeanPredictor, Prediction, Predictor
from nas.predictors.encodings import Encoding, encoding

__all__ = ["Encoding", "MeanPredictor", "Prediction", "Predictor", "encoding"]
