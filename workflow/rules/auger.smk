# Validation of the statistics on data no one here made: the Pierre Auger Observatory's 2017 public
# events above 8 EeV (Science 357 (2017) 1266), against the analytic exposure of a ground array.
# The maps use the same layout as the AMS species, so the fit, limit and table rules are shared.


ruleorder: auger_maps > bin_events
ruleorder: auger_maps > reference_maps


rule auger_maps:
    input:
        events=config["input"].get("auger_events_file", "resources/auger2017/Arrival_directions_8EeV_Science_2017.dat"),
    output:
        counts=f"{OUT}/maps/auger/counts.fits",
        reference=f"{OUT}/maps/auger/reference_nominal.fits",
    params:
        species=pick(config["species"].get("auger"), "thresholds", "unit"),
        maps=pick(config["maps"], "nside"),
        reference=pick(config.get("reference"), "latitude_deg", "max_zenith_deg"),
        code=code_hash("auger_maps.py"),
    log:
        f"{OUT}/logs/auger_maps.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/statistics.yaml"
    script:
        "../../scripts/auger_maps.py"


rule auger_comparison:
    input:
        table=f"{OUT}/tables/dipole_limits.csv",
        events=config["input"].get("auger_events_file", "resources/auger2017/Arrival_directions_8EeV_Science_2017.dat"),
        counts=f"{OUT}/maps/auger/counts.fits",
        reference=f"{OUT}/maps/auger/reference_nominal.fits",
    output:
        comparison=report(
            f"{OUT}/tables/auger_comparison.csv",
            caption="../report/auger_comparison.rst",
            category="Auger validation",
        ),
        skymaps=report(
            f"{OUT}/figures/auger_skymaps.png",
            caption="../report/skymaps.rst",
            category="Auger validation",
        ),
        skymaps_pdf=f"{OUT}/figures/auger_skymaps.pdf",
    params:
        min_exposure_fraction=config["fit"]["min_exposure_fraction"],
        code=code_hash("auger_comparison.py"),
    log:
        f"{OUT}/logs/auger_comparison.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/figures.yaml"
    script:
        "../../scripts/auger_comparison.py"
