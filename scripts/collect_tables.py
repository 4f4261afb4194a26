"""Rules species_table and dipole_table: the per-species result tables (checked, columns in the order of
docs/architecture.md) and their concatenation over the species.

species_table also publishes the species' fits (one row per threshold and reference variant) as
tables/<species>_fits.csv."""

from _workflow import rule_logging
from ams_anisotropy import io
from ams_anisotropy.tables import fit_table, read_rows, write_tables

with rule_logging(snakemake) as log:
    if snakemake.rule == "species_table":
        table = read_rows([snakemake.input.limits])
        write_tables(table, snakemake.output.table)
        fits = fit_table(snakemake.input.fits)
        io.write_csv(fits, snakemake.output.fits)
        log.info("%d fit rows", len(fits))
    else:
        table = read_rows(snakemake.input.tables)
        write_tables(table, snakemake.output.csv, snakemake.output.ecsv)
    log.info("%d rows", len(table))
