"""Shared test settings: no network for astropy, a fixed random stream for tests."""

import pytest
from astropy.utils import iers

# Never download IERS tables in tests: the bundled ones (astropy-iers-data) are enough here.
iers.conf.auto_download = False
iers.conf.iers_degraded_accuracy = "ignore"


@pytest.fixture
def rng():
    from ams_anisotropy.rng import generator

    return generator(12345, "tests", 0)
