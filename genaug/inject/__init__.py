"""Injection: synthetic samples where training happens, all drawn from a `SamplePool`."""

from genaug.inject.mix import MixedLoader, mix
from genaug.inject.pool import Provenance, Provenances, SampleFilter, SamplePool

__all__ = ["MixedLoader", "Provenance", "Provenances", "SampleFilter", "SamplePool", "mix"]
