"""Rule sample_sizes: selected sample sizes of the run next to AMS-02's, scaled to the run's exposure.

AMS-02 numbers: TAUP 2019 (this paper, section 3) above the lowest threshold, 6.5 years for e±
and 7.5 years for nuclei; above 200 GV from ICRC 2019 (PoS(ICRC2019)150), see method.md section 1.
"""

import pandas as pd

from _workflow import rule_logging
from ams_anisotropy import io

AMS_SAMPLES = {  # species: (N above lowest threshold, N above 200 GV or None, years of data)
    "electron": (1.3e6, None, 6.5),
    "positron": (9.9e4, None, 6.5),
    "proton": (1.3e8, 2.0e6, 7.5),
    "helium": (1.0e8, 2.2e6, 7.5),
    "carbon": (2.9e6, 6.1e4, 7.5),
    "oxygen": (2.8e6, 6.3e4, 7.5),
}
DAYS_PER_YEAR = 365.25

with rule_logging(snakemake) as log:
    run_years = snakemake.params.duration_days / DAYS_PER_YEAR
    rows = []
    for path in snakemake.input.tables:
        table = pd.read_csv(path).sort_values("threshold")
        species = table["species"].iloc[0]
        lowest = table.iloc[0]
        above_200 = table[table["threshold"] == 200]
        n_200 = int(above_200["n_events"].iloc[0]) if len(above_200) else None
        row = {
            "species": species,
            "lowest_threshold": f"{lowest['threshold']:g} {lowest['unit']}",
            "n_lowest": int(lowest["n_events"]),
            "n_above_200gv": n_200,
            "ratio_200_to_lowest": n_200 / lowest["n_events"] if n_200 is not None else None,
        }
        if species in AMS_SAMPLES:
            n_ams, n_ams_200, years = AMS_SAMPLES[species]
            scale = run_years / years
            row.update({
                "ams_years": years,
                "ams_n_lowest": n_ams,
                "ams_n_lowest_scaled_to_run": n_ams * scale,
                "ams_n_above_200gv": n_ams_200,
                "ams_ratio_200_to_lowest": n_ams_200 / n_ams if n_ams_200 else None,
                "run_over_ams_scaled": lowest["n_events"] / (n_ams * scale),
            })
        rows.append(row)
        log.info("%s", row)
    io.write_csv(pd.DataFrame(rows), snakemake.output.sizes)
