# Shared helpers of the rules: run folder, chunks, species, thresholds and target lists.
import math
from datetime import datetime, timezone

RUN = config["run_name"]
OUT = f"results/{RUN}"
MODE = config.get("mode", "ams")


wildcard_constraints:
    chunk=r"\d{4}",
    species=r"[a-z0-9]+",
    threshold=r"[0-9.]+(GeV|GV|EeV)",
    variant=r"nominal|cutoff[0-9.]+|noeff|shuffle",


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


def analysis_species():
    return list(config.get("analysis_species") or config["species"].keys())


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


def all_thresholds():
    """(species, threshold label) pairs of the run."""
    return [(s, t) for s in analysis_species() for t in threshold_labels(s)]


def species_outputs(species):
    return [
        f"{OUT}/tables/{species}_dipole_limits.csv",
        f"{OUT}/figures/{species}_components.png",
        f"{OUT}/figures/{species}_skymaps.png",
        f"{OUT}/tables/{species}_selection.csv",
    ]


def final_outputs():
    if MODE == "auger2017":
        return [
            f"{OUT}/tables/dipole_limits.csv",
            f"{OUT}/tables/dipole_limits.ecsv",
            f"{OUT}/tables/auger_comparison.csv",
            f"{OUT}/figures/auger_skymaps.png",
        ]
    targets = [
        f"{OUT}/tables/dipole_limits.csv",
        f"{OUT}/tables/dipole_limits.ecsv",
        f"{OUT}/tables/selection_summary.csv",
    ]
    species = analysis_species()
    if {"electron", "positron"} & set(species):
        targets.append(f"{OUT}/figures/figure1_electrons_positrons.png")
    if {"proton", "helium", "carbon", "oxygen"} & set(species):
        targets.append(f"{OUT}/figures/figure2_nuclei.png")
    for s in species:
        targets += species_outputs(s)
    if config["input"]["source"] == "simulation":
        targets.append(f"{OUT}/tables/sample_sizes.csv")
    return targets


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
