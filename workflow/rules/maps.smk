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
        # events per time block and trigger-rate bin, nominal cutoff factor: only for the efftime variant
        efficiency_time=[f"{OUT}/maps/{{species}}/efficiency_time.csv"] if time_histogram_needed() else [],
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
        reference=pick(config.get("reference"), "efficiency_edges", "efficiency_cutoff_edges_gv",
                       *(["efficiency_time_block_days"] if time_histogram_needed() else [])),
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
        efficiency_time=lambda wildcards: (
            f"{OUT}/maps/{wildcards.species}/efficiency_time.csv" if wildcards.variant == "efftime" else []
        ),
        flux_table=lambda wildcards: config["species"][wildcards.species]["flux_file"],
        tracing=reference_table,
    output:
        reference=f"{OUT}/maps/{{species}}/reference_{{variant}}.fits",
    params:
        # only what the variant reads: the shuffle variant and the integrated variants use other keys
        seed=lambda wildcards: config["seed"] if wildcards.variant == "shuffle" else None,
        species=lambda wildcards: species_spec(wildcards.species, "thresholds", "upper", "unit", "cuts",
                                               "resolution"),
        cutoff_factor=config["selection"]["cutoff_factor"],
        cone_half_angle_deg=config["selection"]["cone_half_angle_deg"],
        nside=config["maps"]["nside"],
        period_cut=lambda wildcards: species_period_cut(wildcards.species),
        reference=lambda wildcards: (
            pick(config["reference"], "n_shuffles", "shuffle_max_events")
            if wildcards.variant == "shuffle"
            else pick(
                config["reference"], "efficiency_variable", "efficiency_edges", "efficiency_cutoff_edges_gv",
                "efficiency_min_events_per_bin",
                *(["efficiency_time_block_days"] if wildcards.variant == "efftime" else []),
                "acceptance_min_events", "acceptance_symmetry", "lmax", "kmax", "epsilon", "oversampling",
                "deflection",
            )
        ),
        code=code_hash("reference_maps.py"),
    # accumulations run concurrently in threads; the maps are bitwise the same for any thread count
    threads: 2
    log:
        f"{OUT}/logs/reference_maps/{{species}}_{{variant}}.log",
    benchmark:
        f"{OUT}/benchmarks/reference_maps/{{species}}_{{variant}}.tsv"
    resources:
        mem_mb=3000,
        runtime=60,
    conda:
        "../../envs/maps.yaml"
    script:
        "../../scripts/reference_maps.py"
