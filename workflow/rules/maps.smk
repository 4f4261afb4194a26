# HEALPix maps per species: one-pass cumulative counts maps (galactic) and detector-frame
# histograms for every threshold and cutoff factor, then the isotropic reference maps per variant.
# Multi-threshold maps are one FITS file per species and variant with one column per threshold
# (column THR_<label>), readable with healpy.read_map(path, field=k).


rule bin_events:
    input:
        selected=lambda wildcards: selected_files(wildcards.species),
        cutflows=lambda wildcards: [p.replace(".parquet", "_cutflow.csv") for p in selected_files(wildcards.species)],
    output:
        counts=[f"{OUT}/maps/{{species}}/counts{cutoff_suffix(f)}.fits" for f in cutoff_variants()],
        detector=[f"{OUT}/maps/{{species}}/detector{cutoff_suffix(f)}.fits" for f in cutoff_variants()],
        efficiency=[f"{OUT}/maps/{{species}}/efficiency{cutoff_suffix(f)}.csv" for f in cutoff_variants()],
        selection_table=report(
            f"{OUT}/tables/{{species}}_selection.csv",
            caption="../report/species_selection.rst",
            category="Selection",
            subcategory="{species}",
        ),
    params:
        species=lambda wildcards: species_spec(wildcards.species, "thresholds", "upper", "unit"),
        cutoff_factors=cutoff_variants(),
        maps=pick(config["maps"], "nside", "nside_detector", "allow_empty_threshold"),
        reference=pick(config.get("reference"), "efficiency_edges", "efficiency_cutoff_edges_gv"),
        code=code_hash("bin_events.py"),
    log:
        f"{OUT}/logs/bin_events/{{species}}.log",
    benchmark:
        f"{OUT}/benchmarks/bin_events/{{species}}.tsv"
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/maps.yaml"
    script:
        "../../scripts/bin_events.py"


rule reference_maps:
    input:
        timelines=all_timeline_files,
        counts=lambda wildcards: f"{OUT}/maps/{wildcards.species}/counts{variant_factor_suffix(wildcards.variant)}.fits",
        detector=lambda wildcards: f"{OUT}/maps/{wildcards.species}/detector{variant_factor_suffix(wildcards.variant)}.fits",
        efficiency=lambda wildcards: f"{OUT}/maps/{wildcards.species}/efficiency{variant_factor_suffix(wildcards.variant)}.csv",
        selected=lambda wildcards: selected_files(wildcards.species) if wildcards.variant == "shuffle" else [],
    output:
        reference=f"{OUT}/maps/{{species}}/reference_{{variant}}.fits",
    params:
        seed=config["seed"],
        species_index=lambda wildcards: list(config["species"]).index(wildcards.species),
        species=lambda wildcards: config["species"][wildcards.species],
        selection=config.get("selection"),
        maps=config["maps"],
        reference=config.get("reference"),
    log:
        f"{OUT}/logs/reference_maps/{{species}}_{{variant}}.log",
    benchmark:
        f"{OUT}/benchmarks/reference_maps/{{species}}_{{variant}}.tsv"
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/maps.yaml"
    script:
        "../../scripts/reference_maps.py"
