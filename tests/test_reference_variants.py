"""Reference-map variants: recipes, refined histogram edges and the merging of histograms."""

import numpy as np
import pandas as pd
import pytest

from ams_anisotropy import binning, reference_variants
from ams_anisotropy.reference_variants import merged_histogram, refined_edges, variant_spec

CONFIG = {"efficiency_variable": "trigger_rate_hz", "efficiency_edges": [0, 250, 500, 1000, 2500],
          "efficiency_cutoff_edges_gv": [0, 5, 10, 20, 30], "lmax": 96, "kmax": 8, "efficiency_time_block_days": 1.0}


def test_recipes_change_one_ingredient_each():
    nominal = variant_spec("nominal", CONFIG, 1.2)
    assert (nominal.cutoff_factor, nominal.histogram_variable, nominal.lmax, nominal.interval_stride) == (
        1.2, "trigger_rate_hz", 96, 1)
    assert variant_spec("cutoff1.4", CONFIG, 1.2).cutoff_factor == 1.4
    assert variant_spec("noeff", CONFIG, 1.2).histogram_variable is None
    assert variant_spec("shuffle", CONFIG, 1.2).shuffle
    effcutoff = variant_spec("effcutoff", CONFIG, 1.2)
    assert effcutoff.histogram_variable == "cutoff_max_gv" and effcutoff.efficiency_edges == (0, 5, 10, 20, 30)
    assert len(variant_spec("efffine", CONFIG, 1.2).efficiency_edges) == 2 * len(CONFIG["efficiency_edges"]) - 1
    assert (variant_spec("accband", CONFIG, 1.2).lmax, variant_spec("accband", CONFIG, 1.2).kmax) == (48, 4)
    assert variant_spec("cadence2", CONFIG, 1.2).interval_stride == 2
    efftime = variant_spec("efftime", CONFIG, 1.2)
    assert efftime.time_block_days == 1.0 and efftime.efficiency_edges == nominal.efficiency_edges
    assert nominal.time_block_days is None
    assert reference_variants.needs_time_histogram(["efffine", "efftime"])
    assert not reference_variants.needs_time_histogram(["efffine", "cadence2"])
    with pytest.raises(ValueError, match="needs reference.efficiency_variable 'trigger_rate_hz'"):
        variant_spec("efftime", {**CONFIG, "efficiency_variable": "cutoff_max_gv"}, 1.2)
    with pytest.raises(ValueError, match="unknown reference variant 'bogus'"):
        variant_spec("bogus", CONFIG, 1.2)


def test_histograms_merge_to_the_bins_of_every_variant():
    rng = np.random.default_rng(3)
    rate = rng.uniform(0, 3000, 5000)
    frame = pd.DataFrame({"observable": rng.uniform(18, 100, 5000), "gal_l_deg": 0.0, "gal_b_deg": 0.0,
                          "dir_det_x": 0.0, "dir_det_y": 0.0, "dir_det_z": 1.0, "trigger_rate_hz": rate,
                          "cutoff_max_gv": rng.uniform(0, 35, 5000)})
    acc = binning.MapAccumulator([18.0, 40.0], None, 8, 8, reference_variants.histogram_edges(CONFIG))
    acc.add(frame)
    table = acc.histogram_table()
    for variable, column, edges in (("trigger_rate_hz", rate, CONFIG["efficiency_edges"]),
                                    ("trigger_rate_hz", rate, refined_edges(CONFIG["efficiency_edges"]))):
        merged = merged_histogram(table, variable, edges, acc.labels)
        direct = np.bincount(np.searchsorted(edges, column, side="right"), minlength=len(edges) + 1)
        assert np.array_equal(merged[0], direct)  # the lowest threshold holds every event
    with pytest.raises(ValueError, match="not a subset"):
        merged_histogram(table, "trigger_rate_hz", [0, 300, 2500], acc.labels, "efficiency.csv")
    with pytest.raises(ValueError, match="no histogram of 'bogus'"):
        merged_histogram(table, "bogus", [0, 1], acc.labels)
