"""Rule selection_summary: one row per species: the analysed sample size (nominal cutoff factor) and,
for simulated input, the background left in it by true particle type (proton contamination of e±).
Event files without the simulation truth (AMS-style input files) give ``backgrounds = unknown`` and
NaN contamination: the table has the same columns either way."""

import numpy as np
import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.selection import contamination

with rule_logging(snakemake) as log:
    rows = []
    for path in snakemake.input.tables:
        table = pd.read_csv(path)
        last = table.iloc[-1]
        row = {"species": last["species"], "selected_events": int(last["events_out"]), "final_cut": last["cut"]}
        if "signal_out" in table.columns:
            row["backgrounds"] = "known (simulation truth)"
            fractions = contamination(table)
            row.update({f"contamination_{name}": value for name, value in fractions.items()})
        else:
            row.update({"backgrounds": "unknown (no simulation truth in the event files)",
                        "contamination_total": np.nan})
        rows.append(row)
        log.info("%s", row)
    io.write_csv(pd.DataFrame(rows), snakemake.output.summary)
