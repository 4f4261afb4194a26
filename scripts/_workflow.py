"""Glue shared by the rule scripts: logging to the rule's log file and error capture.

This module receives the ``snakemake`` object from the entry scripts and never imports Snakemake
itself; the analysis package stays free of it.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager


@contextmanager
def rule_logging(snakemake):
    """Send log records (and any exception) of a rule script to its ``log:`` file."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.captureWarnings(True)
    log = logging.getLogger(f"rule.{snakemake.rule}")
    started = time.perf_counter()
    log.info("inputs: %s", list(snakemake.input))
    try:
        yield log
    except Exception:
        log.exception("rule %s failed", snakemake.rule)
        raise
    log.info("outputs: %s (%.1f s)", list(snakemake.output), time.perf_counter() - started)
