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


@pytest.fixture(scope="session")
def ci_session_run(tmp_path_factory):
    """One uninterrupted run of config/ci.yaml in a temporary copy of the project, shared by the tests
    that compare other runs with it (interrupted runs, the analysis of the exported AMS-style files)."""
    import os
    from pathlib import Path

    from workflow_helpers import copy_project, run_snakemake

    reuse = os.environ.get("AMS_CI_SESSION_RUN")  # development only: a finished copy from an earlier session
    if reuse and (Path(reuse) / "results" / "ci" / "tables" / "dipole_limits.csv").is_file():
        return Path(reuse)
    workdir = copy_project(tmp_path_factory.mktemp("ci_session"))
    run_snakemake(workdir, "--cores", "2", "--configfile", "config/ci.yaml")
    return workdir
