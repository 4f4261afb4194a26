"""Rule paper_reproduction: every number the paper quotes beside this run's (ams_anisotropy.paper_results)."""

import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io, paper_results

with rule_logging(snakemake) as log:
    table = paper_results.reproduction_table(pd.read_csv(snakemake.input.table))
    io.write_csv(table, snakemake.output.table)
    log.info("%d quantities compared; inside the 95.4%% band: %s", len(table),
             table.dropna(subset=["inside_band95"])["inside_band95"].tolist())
