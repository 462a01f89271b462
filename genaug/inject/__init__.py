"""Injection: synthetic samples where training happens, all drawn from a `SamplePool`."""

from genaug.inject.interpolate import LatentInterpolation
from genaug.inject.mix import MixedLoader, linear_decay, mix
from genaug.inject.pool import Provenance, Provenances, SampleFilter, SamplePool

__all__ = ["LatentInterpolation", "MixedLoader", "Provenance", "Provenances", "SampleFilter", "SamplePool", "linear_decay", "mix"]
