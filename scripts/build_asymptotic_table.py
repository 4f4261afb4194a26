"""Rule script of `asymptotic_table`: trace the table of asymptotic directions at one IGRF-13 epoch.

Thin: reads snakemake.params/threads, calls ams_anisotropy.asymptotic, writes the .npz atomically.
"""

import logging
import time

import numba

from ams_anisotropy.asymptotic import build_asymptotic_table, grid_from_config
from ams_anisotropy.igrf_field import IgrfField

snakemake = globals()["snakemake"]  # noqa: F821 (injected by Snakemake)
logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
grid, settings = grid_from_config(snakemake.params.tracing)
epoch_year = float(snakemake.wildcards.epoch)
numba.set_num_threads(max(1, min(int(snakemake.threads), numba.config.NUMBA_NUM_THREADS)))
field = IgrfField.igrf13(epoch_year)
logging.info("IGRF-13 epoch %.3f, %d trajectories, grid %s, settings %s", epoch_year, grid.n_trajectories, grid,
             settings)
start = time.perf_counter()
table = build_asymptotic_table(
    field, grid, settings,
    progress=lambda i, n: logging.info("latitude row %d/%d done, %.0f s", i, n, time.perf_counter() - start),
)
table.save(snakemake.output.table)
logging.info("wrote %s in %.0f s", snakemake.output.table, time.perf_counter() - start)
