"""Rules species_table and dipole_table: concatenate per-threshold result rows into tables."""

from _workflow import rule_logging
from ams_anisotropy.tables import read_rows, write_tables

with rule_logging(snakemake) as log:
    if snakemake.rule == "species_table":
        table = read_rows(snakemake.input.limits)
        write_tables(table, snakemake.output.table)
    else:
        table = read_rows(snakemake.input.tables)
        write_tables(table, snakemake.output.csv, snakemake.output.ecsv)
    log.info("%d rows", len(table))
