# Shared helpers of the rules: run folder, chunks, species, thresholds and target lists, the code
# hash and the narrow params that make reruns follow what changed (docs/operations.md).
import functools
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

from ams_anisotropy import codebase, provenance
from ams_anisotropy.reference_variants import needs_time_histogram

RUN = config["run_name"]
OUT = f"results/{RUN}"
MODE = config.get("mode", "ams")
# The command line and the start of the Snakemake process the user ran, for the provenance rule (never
# params). Jobs run in Snakemake processes spawned by that one, which inherit its environment: the first
# process leaves both there, the spawned ones find them.
provenance.remember_invocation(sys.argv)
SCRIPTS = Path(workflow.basedir) / "scripts"


@functools.cache
def code_hash(script, *extra):
    """SHA-256 of a rule script (name in scripts/) and of every package module it imports, transitively.

    Pass it as a param (``code=code_hash("fit_dipole.py")``): editing a module then reruns exactly the
    rules whose scripts reach it (Snakemake itself only sees the script's mtime). ``extra`` files
    (relative to the workflow) are hashed too. The logging glue scripts/_workflow.py is left out.
    """
    return codebase.code_hash(SCRIPTS / script, *(Path(workflow.basedir) / e for e in extra))


def pick(section, *keys):
    """Only the given keys of a config section (dict), for params that carry what a rule reads.

    A key missing from the section gives None (the schema fills the defaults before this runs).
    """
    section = section or {}
    return {key: section.get(key) for key in keys}


def species_spec(species, *keys):
    """Only the given keys of config["species"][species]."""
    return pick(config["species"][species], *keys)


wildcard_constraints:
    chunk=r"\d{4}",
    species=r"[a-z0-9]+",
    threshold=r"[0-9.]+(GeV|GV|EeV)",
    variant=r"nominal|cutoff[0-9.]+|noeff|shuffle|effcutoff|efffine|efftime|accband|cadence2",


def start_unix_s():
    """Start of the simulated period (POSIX s), None when nothing is simulated."""
    if "period" not in config:
        return None
    start = datetime.fromisoformat(config["period"]["start_utc"]).replace(tzinfo=timezone.utc)
    return start.timestamp()


def chunk_ids():
    """Four-digit chunk labels: from the simulated period, or one per input file."""
    if config["input"]["source"] == "files":
        n_chunks = len(config["input"]["timeline_files"])
    elif config["input"]["source"] == "auger2017":
        n_chunks = 0
    else:
        period = config["period"]
        n_chunks = math.ceil(period["duration_days"] / period["chunk_days"] - 1e-9)
    return [f"{i:04d}" for i in range(n_chunks)]


def chunk_window_unix_s(chunk):
    """[start, stop) of a simulated chunk in POSIX seconds."""
    period = config["period"]
    day_s = 86400.0
    begin = start_unix_s() + int(chunk) * period["chunk_days"] * day_s
    end = min(begin + period["chunk_days"] * day_s, start_unix_s() + period["duration_days"] * day_s)
    return begin, end


def simulation_flux_files():
    """The AMS-02 flux tables the simulation reads (declared as inputs: editing one reruns it)."""
    particles = config.get("simulation", {}).get("particles", {})
    return sorted({particle["flux_file"] for particle in particles.values()})


# One selection job per species and chunk where the events stay on disk (input files, or simulated events
# kept), else one per chunk for every species (select.smk)
SELECT_PER_SPECIES = config["input"]["source"] == "files" or bool(config.get("simulation", {}).get("keep_events"))


def simulated_events(path):
    """The simulated events file of a chunk: kept with simulation.keep_events, else temp() (disk)."""
    return path if config.get("simulation", {}).get("keep_events") else temp(path)


def species_flux_file(wildcards):
    """The flux table of a species (the reference maps' spectral weights), as an input."""
    return config["species"][wildcards.species]["flux_file"]


def timeline_path(chunk):
    if config["input"]["source"] == "files":
        return config["input"]["timeline_files"][int(chunk)]
    return f"{OUT}/sim/timeline/chunk{chunk}.parquet"


def events_path(chunk):
    if config["input"]["source"] == "files":
        return config["input"]["event_files"][int(chunk)]
    return f"{OUT}/sim/events/chunk{chunk}.parquet"


def timeline_file(wildcards):
    return timeline_path(wildcards.chunk)


def events_file(wildcards):
    return events_path(wildcards.chunk)


def all_timeline_files(wildcards=None):
    return [timeline_path(chunk) for chunk in chunk_ids()]


def selected_files(species):
    return [f"{OUT}/selected/{species}/chunk{chunk}.parquet" for chunk in chunk_ids()]


def run_species():
    """The species of the complete run: every configured species (the Auger "species" in its mode)."""
    if MODE == "auger2017":
        return ["auger"]
    return list(config["species"])


def analysis_species():
    return list(config.get("analysis_species") or run_species())


def is_subset():
    """True when analysis_species selects fewer species than the run has."""
    return set(analysis_species()) != set(run_species())


# Where the products that combine several species go (tables/dipole_limits.*, selection_summary,
# sample_sizes, figures 1 and 2, provenance): the run folder for the complete run, and for a subset
# (--config analysis_species='[proton]') its own folder results/<run>/subsets/<species-...>/, so that a
# subset run never overwrites the complete run's tables. Per-species outputs are shared by both.
SET_OUT = OUT if not is_subset() else f"{OUT}/subsets/{'-'.join(sorted(analysis_species()))}"


def threshold_label(value, unit):
    return f"{value:g}{unit}"


def threshold_labels(species):
    spec = config["species"][species]
    return [threshold_label(t, spec["unit"]) for t in spec["thresholds"]]


def cutoff_variants():
    """Cutoff factors whose counts maps the binning writes: the nominal one first."""
    return [config["selection"]["cutoff_factor"], *config["selection"]["cutoff_factor_variants"]]


def reference_variants():
    return ["nominal", *config["reference"]["variants"]]


def integrated_variants():
    """The exposure-integration variants (one reference_maps job per species): nominal first."""
    return [v for v in reference_variants() if v != "shuffle"]


def time_histogram_needed():
    """Whether a configured variant (efftime) reads the binning's events per time block."""
    return needs_time_histogram(config["reference"]["variants"])


def all_thresholds():
    """(species, threshold label) pairs of the run."""
    return [(s, t) for s in analysis_species() for t in threshold_labels(s)]


def species_outputs(species):
    """What `snakemake <species>` makes: the species' tables and figures (shared by subset runs)."""
    return [
        f"{OUT}/tables/{species}_dipole_limits.csv",
        f"{OUT}/tables/{species}_fits.csv",
        f"{OUT}/figures/{species}_components.png",
        f"{OUT}/figures/{species}_skymaps.png",
        f"{OUT}/tables/{species}_selection.csv",
    ]


def combined_figures():
    figures = []
    species = set(analysis_species())
    if MODE == "auger2017":
        return [f"{OUT}/figures/auger_skymaps.png"]
    if {"electron", "positron"} & species:
        figures.append(f"{SET_OUT}/figures/figure1_electrons_positrons.png")
    if {"proton", "helium", "carbon", "oxygen"} & species:
        figures.append(f"{SET_OUT}/figures/figure2_nuclei.png")
    return figures


def combined_tables():
    tables = [f"{SET_OUT}/tables/dipole_limits.csv", f"{SET_OUT}/tables/dipole_limits.ecsv"]
    if MODE == "auger2017":
        return tables + [f"{OUT}/tables/auger_comparison.csv"]
    tables.append(f"{SET_OUT}/tables/selection_summary.csv")
    if config["input"]["source"] == "simulation":
        tables.append(f"{SET_OUT}/tables/sample_sizes.csv")
    if config.get("compare_with_paper", False):
        tables.append(f"{SET_OUT}/tables/paper_reproduction.csv")
    return tables


def provenance_outputs():
    return [f"{SET_OUT}/provenance/{name}" for name in ("provenance.yaml", "config.yaml", "pip-freeze.txt")]


def map_outputs():
    """Counts maps (every cutoff factor) and reference maps (every variant) of the analysed species."""
    if MODE == "auger2017":
        return [f"{OUT}/maps/auger/counts.fits", f"{OUT}/maps/auger/reference_nominal.fits"]
    return [
        *(f"{OUT}/maps/{s}/counts{cutoff_suffix(f)}.fits" for s in analysis_species() for f in cutoff_variants()),
        *(f"{OUT}/maps/{s}/reference_{v}.fits" for s in analysis_species() for v in reference_variants()),
    ]


def fit_outputs():
    return [f"{OUT}/fit/{s}.csv" for s in analysis_species()]


def limit_outputs():
    return [f"{OUT}/limits/{s}.csv" for s in analysis_species()]


def figure_outputs():
    species = [] if MODE == "auger2017" else analysis_species()
    return combined_figures() + [f"{OUT}/figures/{s}_{kind}.png" for s in species for kind in ("components", "skymaps")]


def table_outputs():
    species = [] if MODE == "auger2017" else analysis_species()
    per_species = [f"{OUT}/tables/{s}_{kind}.csv" for s in species for kind in ("dipole_limits", "fits", "selection")]
    return combined_tables() + per_species


def result_outputs():
    """Every result of the run (tables, figures), without the provenance that records them."""
    return list(dict.fromkeys(table_outputs() + figure_outputs()))


def final_outputs():
    return result_outputs() + provenance_outputs()


def record_provenance(output, log_path):
    """The provenance rule's job: write provenance.yaml, config.yaml and pip-freeze.txt (outputs)."""
    from snakemake import __version__ as snakemake_version

    command_line, started = provenance.invocation()
    record = provenance.provenance_record(
        config, workflow.basedir, command_line, started, datetime.now(timezone.utc), snakemake_version
    )
    provenance.write_provenance(record, config, output.record, output.config, output.packages)
    Path(log_path).write_text(
        f"commit {record['git']['commit']} dirty {record['git']['dirty']}\nconfig sha256 {record['config_sha256']}\n"
    )


def species_period_cut(species):
    """The end of the species' own data-taking period (species.<name>.duration_days; the paper's e±
    use the first 6.5 years) as SpeciesCuts.time_max_unix_s; None: the whole period."""
    days = config["species"][species].get("duration_days")
    return {"time_max_unix_s": None if days is None else start_unix_s() + days * 86400.0}


def selection_cuts(species):
    """The keyword arguments of selection.SpeciesCuts for one species (no other config key)."""
    spec = config["species"][species]
    selection = config["selection"]
    return {
        "observable": spec["observable"],
        "observable_min": spec["thresholds"][0],
        "observable_max": spec.get("upper"),
        # the loosest factor: the binning fills the nominal and the variant maps from one selection
        "cutoff_factor": min(cutoff_variants()),
        "cone_half_angle_deg": selection["cone_half_angle_deg"],
        **species_period_cut(species),
        **spec["cuts"],
    }


def cutoff_suffix(factor):
    """"" for the nominal cutoff factor, else "_cutoff<factor>" ("_cutoff1.0", "_cutoff1.4")."""
    return "" if factor == config["selection"]["cutoff_factor"] else f"_cutoff{float(factor)!r}"


def variant_factor_suffix(variant):
    """File suffix of the counts/detector maps a reference variant is built from."""
    if variant.startswith("cutoff"):
        return f"_{variant}"
    return ""


def threshold_index(wildcards):
    return threshold_labels(wildcards.species).index(wildcards.threshold)


# --------------------------------------------------------------------------- validation run (validation.smk)
VALIDATION = config.get("validation") or {}


def validation_batches():
    return [f"{b:02d}" for b in range(int(VALIDATION.get("n_batches", 1)))]


def validation_outputs():
    tables = ["coverage", "pulls", "isotropic", "injection_recovery"]
    figures = ["injection_recovery", "pulls", "rho_over_sigma"]
    return [f"{OUT}/tables/{t}.csv" for t in tables] + [f"{OUT}/figures/{f}.png" for f in figures]


def tracing_table():
    """The run's table of asymptotic directions (config tracing.epoch_year)."""
    return f"{OUT}/tracing/asymptotic_igrf13_{float(config['tracing']['epoch_year']):.1f}.npz"


def simulation_table(wildcards=None):
    return [tracing_table()] if config.get("simulation", {}).get("geomagnetic_deflection") else []


def reference_table(wildcards):
    deflected = config.get("reference", {}).get("deflection", {}).get("enabled")
    return [tracing_table()] if deflected else []
