# HEALPix maps per species: one-pass cumulative counts maps (galactic) and detector-frame
# histograms for every threshold and cutoff factor, then the isotropic reference maps: every integrated
# variant of a species in one job, the shuffled one in another.
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
    # every integrated variant of a species in one job: the deflection correction (table lookups and beam
    # transforms per orbit cell) is computed once and shared (ams_anisotropy.reference_set)
    input:
        timelines=all_timeline_files,
        counts=lambda wildcards: [f"{OUT}/maps/{wildcards.species}/counts{cutoff_suffix(f)}.fits" for f in cutoff_variants()],
        detector=lambda wildcards: [
            f"{OUT}/maps/{wildcards.species}/detector{cutoff_suffix(f)}.fits" for f in cutoff_variants()
        ],
        efficiency=lambda wildcards: [
            f"{OUT}/maps/{wildcards.species}/efficiency{cutoff_suffix(f)}.csv" for f in cutoff_variants()
        ],
        efficiency_time=lambda wildcards: (
            [f"{OUT}/maps/{wildcards.species}/efficiency_time.csv"] if time_histogram_needed() else []
        ),
        flux_table=lambda wildcards: config["species"][wildcards.species]["flux_file"],
        tracing=reference_table,
    output:
        references=[f"{OUT}/maps/{{species}}/reference_{v}.fits" for v in integrated_variants()],
    params:
        variants=integrated_variants(),
        variant_counts=[variant_factor_suffix(v) for v in integrated_variants()],
        counts_suffixes=[cutoff_suffix(f) for f in cutoff_variants()],
        species=lambda wildcards: species_spec(wildcards.species, "thresholds", "upper", "unit", "cuts",
                                               "resolution"),
        cutoff_factor=config["selection"]["cutoff_factor"],
        cone_half_angle_deg=config["selection"]["cone_half_angle_deg"],
        nside=config["maps"]["nside"],
        period_cut=lambda wildcards: species_period_cut(wildcards.species),
        reference=pick(
            config["reference"], "efficiency_variable", "efficiency_edges", "efficiency_cutoff_edges_gv",
            "efficiency_min_events_per_bin", *(["efficiency_time_block_days"] if time_histogram_needed() else []),
            "acceptance_min_events", "acceptance_symmetry", "lmax", "kmax", "epsilon", "oversampling", "deflection",
        ),
        code=code_hash("reference_maps.py"),
    # accumulations run concurrently in threads; the maps are bitwise the same for any thread count
    threads: 2
    log:
        f"{OUT}/logs/reference_maps/{{species}}.log",
    benchmark:
        f"{OUT}/benchmarks/reference_maps/{{species}}.tsv"
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/maps.yaml"
    script:
        "../../scripts/reference_maps.py"


rule shuffled_reference:
    # the event-shuffling cross-check (reference variant "shuffle"): the nominal sample's events, undeflected
    input:
        timelines=all_timeline_files,
        counts=f"{OUT}/maps/{{species}}/counts.fits",
        selected=lambda wildcards: selected_files(wildcards.species),
    output:
        reference=f"{OUT}/maps/{{species}}/reference_shuffle.fits",
    params:
        seed=config["seed"],
        species=lambda wildcards: species_spec(wildcards.species, "thresholds", "upper", "unit"),
        cutoff_factor=config["selection"]["cutoff_factor"],
        nside=config["maps"]["nside"],
        reference=pick(config["reference"], "n_shuffles", "shuffle_max_events"),
        code=code_hash("shuffled_reference.py"),
    log:
        f"{OUT}/logs/shuffled_reference/{{species}}.log",
    benchmark:
        f"{OUT}/benchmarks/shuffled_reference/{{species}}.tsv"
    resources:
        mem_mb=3000,
        runtime=60,
    conda:
        "../../envs/maps.yaml"
    script:
        "../../scripts/shuffled_reference.py"
