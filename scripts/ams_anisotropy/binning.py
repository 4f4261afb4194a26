"""One-pass cumulative HEALPix counts maps for all thresholds of a species.

The paper groups events in *cumulative* ranges: threshold k holds the events with
``thresholds[k] <= x < upper`` (x the ECAL energy in GeV for e±, |rigidity| in GV for nuclei;
no upper edge for nuclei). Instead of one filtered histogram per threshold, every event is binned
once in the differential bin ``thresholds[k] <= x < thresholds[k + 1]`` (the bin index is the
number of edges <= x, i.e. ``searchsorted(edges, x, 'right')``, computed as a sum of comparisons;
then one ``bincount`` on ``k * npix + pixel``); a reversed cumulative sum over k gives all
cumulative maps. Observables are compared with the edges in float64. The same is done for the
detector-frame maps (the directional acceptance) and for histograms of per-event variables
(``trigger_rate_hz``, ``cutoff_max_gv``) used by the reference maps' efficiency model.

Maps are HEALPix RING. Galactic maps are written with ``COORDSYS = 'G'``; detector-frame maps are
not in any sky frame and are written without a celestial coordinate system, with header
``COORDSYS = 'DETECTOR'`` (healpy reads them; plotting tools must not rotate them).

:class:`MapAccumulator` sums chunk by chunk, so per-chunk partial results add up exactly to the
result on the whole sample (counts are int64).
"""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd

from . import io

UNITS = ("GeV", "GV")


class EmptySampleError(ValueError):
    """A species' sample, or one of its thresholds, has no event."""


def threshold_label(value, unit: str) -> str:
    """Label of a threshold, ``"16GeV"`` (e±, ECAL energy) or ``"18GV"`` (nuclei, rigidity).

    Parameters
    ----------
    value : float
        Threshold in GeV or GV.
    unit : str
        ``"GeV"`` or ``"GV"``.
    """
    if unit not in UNITS:
        raise ValueError(f"threshold unit must be one of {UNITS}, got {unit!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"threshold must be finite, got {value!r}")
    return f"{value:g}{unit}"


def check_thresholds(thresholds, upper=None) -> tuple[np.ndarray, float | None]:
    """Validate the thresholds (finite, > 0, strictly increasing) and the upper edge (> last)."""
    edges = np.asarray(thresholds, dtype=np.float64)
    if edges.ndim != 1 or edges.size == 0:
        raise ValueError(f"thresholds must be a non-empty 1-d sequence, got {thresholds!r}")
    if not np.all(np.isfinite(edges)) or np.any(edges <= 0):
        raise ValueError(f"thresholds must be finite and positive, got {edges.tolist()}")
    if np.any(np.diff(edges) <= 0):
        raise ValueError(f"thresholds must be strictly increasing, got {edges.tolist()}")
    if upper is not None:
        upper = float(upper)
        if not (np.isfinite(upper) and upper > edges[-1]):
            raise ValueError(
                f"upper edge {upper!r} must be finite and above the last threshold {edges[-1]:g}"
            )
    return edges, upper


BLOCK_EVENTS = 1 << 20  # events per block: bounds the temporary buffers to ~10 MB


def _observable_f64(observable) -> np.ndarray:
    """The observable as float64 (all comparisons with the edges are done in float64), checked finite."""
    x = np.asarray(observable, dtype=np.float64)
    if x.size and not (np.isfinite(x.min()) and np.isfinite(x.max())):  # min/max propagate NaN
        raise ValueError(f"observable has {int((~np.isfinite(x)).sum())} non-finite value(s)")
    return x


def _bin_edges(edges: np.ndarray, upper: float | None) -> np.ndarray:
    return edges if upper is None else np.append(edges, upper)


def _differential_index(x: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """j = number of ``bins`` <= x, i.e. ``searchsorted(bins, x, 'right')``.

    j = 0 below the lowest threshold, k + 1 in [t_k, t_k+1), n_thresholds + 1 at or above the
    upper edge. For the few edges of a species it is a sum of uint8 comparisons, faster than the
    binary search; processed in blocks of BLOCK_EVENTS so that the temporaries stay in cache.
    """
    if bins.size >= 255:
        return np.searchsorted(bins, x, side="right")
    j = np.empty(x.size, dtype=np.uint8)
    above = np.empty(min(x.size, BLOCK_EVENTS), dtype=bool)
    for start in range(0, x.size, BLOCK_EVENTS):
        xs = x[start : start + BLOCK_EVENTS]
        js = j[start : start + BLOCK_EVENTS]
        np.greater_equal(xs, bins[0], out=js.view(bool))
        for edge in bins[1:]:
            np.greater_equal(xs, edge, out=above[: xs.size])
            js += above[: xs.size].view(np.uint8)
    return j


def _binned(j: np.ndarray, cell: np.ndarray, n_thresholds: int, n_cells: int) -> np.ndarray:
    """Cumulative (n_thresholds, n_cells) counts from the differential index j and the cell index.

    One ``bincount`` on ``j * n_cells + cell`` histograms every event once (in blocks, to bound the
    int64 temporaries); a reversed cumulative sum over j gives the cumulative ranges.
    """
    size = (n_thresholds + 2) * n_cells
    flat = np.zeros(size, dtype=np.int64)
    for start in range(0, j.size, BLOCK_EVENTS):
        index = np.multiply(j[start : start + BLOCK_EVENTS], n_cells, dtype=np.int64)
        index += cell[start : start + BLOCK_EVENTS]
        flat += np.bincount(index, minlength=size)
    differential = flat.reshape(n_thresholds + 2, n_cells)[1 : n_thresholds + 1]
    return np.ascontiguousarray(np.cumsum(differential[::-1], axis=0)[::-1])


def _check_cells(cell, n_cells: int, what: str) -> np.ndarray:
    cell = np.asarray(cell)
    if cell.dtype.kind not in "iu":
        raise ValueError(f"{what} must be integers, got dtype {cell.dtype}")
    if cell.size and (cell.min() < 0 or cell.max() >= n_cells):
        raise ValueError(f"{what} out of range [0, {n_cells})")
    return cell.astype(np.int64, copy=False)


def cumulative_counts(observable, pixel, thresholds, upper, npix: int) -> np.ndarray:
    """Counts maps of all cumulative ranges in one pass.

    Parameters
    ----------
    observable : array (n,) of float, GeV or GV
        Per-event ECAL energy (e±) or |rigidity| (nuclei); must be finite.
    pixel : array (n,) of int
        HEALPix pixel of each event, in [0, npix).
    thresholds : sequence of float, GeV or GV
        Lower edges of the cumulative ranges, strictly increasing.
    upper : float or None, GeV or GV
        Upper edge (exclusive) of every range (350 GeV for e±), None for none.
    npix : int
        Number of pixels (``12 * nside**2``).

    Returns
    -------
    int64 array (n_thresholds, npix): row k counts the events with ``thresholds[k] <= x < upper``.
    Events below the lowest threshold or at/above ``upper`` are dropped. The observable is
    compared with the thresholds in float64 (a float32 input is converted exactly).
    """
    edges, upper = check_thresholds(thresholds, upper)
    npix = int(npix)
    if npix <= 0:
        raise ValueError(f"npix must be positive, got {npix}")
    pixel = np.asarray(pixel)
    if np.shape(observable) != pixel.shape or pixel.ndim != 1:
        raise ValueError(
            f"observable {np.shape(observable)} and pixel {pixel.shape} must be 1-d of equal length"
        )
    pixel = _check_cells(pixel, npix, "pixel")
    j = _differential_index(_observable_f64(observable), _bin_edges(edges, upper))
    return _binned(j, pixel, edges.size, npix)


def galactic_pixels(l_deg, b_deg, nside: int) -> np.ndarray:
    """HEALPix RING pixels of galactic directions.

    Parameters
    ----------
    l_deg, b_deg : array of float, deg
        Galactic longitude and latitude (b in [-90, 90]).
    nside : int
        HEALPix Nside (a power of 2).
    """
    l_deg = np.asarray(l_deg, dtype=np.float64)
    b_deg = np.asarray(b_deg, dtype=np.float64)
    if not (np.all(np.isfinite(l_deg)) and np.all(np.isfinite(b_deg))):
        raise ValueError("galactic directions must be finite")
    if b_deg.size and (b_deg.min() < -90 or b_deg.max() > 90):
        raise ValueError("galactic latitude outside [-90, 90] deg")
    return hp.ang2pix(nside, l_deg, b_deg, lonlat=True)


def detector_pixels(dir_det, nside: int) -> np.ndarray:
    """HEALPix RING pixels of detector-frame arrival directions.

    Parameters
    ----------
    dir_det : array (n, 3) of float
        Arrival directions in the AMS frame (x, y, z; z > 0 downward-going); need not be normalised.
    nside : int
        HEALPix Nside of the detector-frame histogram.
    """
    dir_det = np.asarray(dir_det, dtype=np.float64)
    if dir_det.ndim != 2 or dir_det.shape[1] != 3:
        raise ValueError(f"dir_det must have shape (n, 3), got {dir_det.shape}")
    norm2 = np.einsum("ij,ij->i", dir_det, dir_det)
    if not np.all(np.isfinite(norm2)) or np.any(norm2 == 0):
        raise ValueError("detector directions must be finite non-zero vectors")
    return hp.vec2pix(nside, dir_det[:, 0], dir_det[:, 1], dir_det[:, 2])


class MapAccumulator:
    """Cumulative counts maps, detector-frame maps and efficiency histograms, chunk by chunk.

    Parameters
    ----------
    thresholds : sequence of float, GeV or GV
        Lower edges of the cumulative ranges, strictly increasing.
    upper : float or None, GeV or GV
        Common upper edge (exclusive), None for nuclei.
    nside_sky : int
        Nside of the galactic counts maps (32 in the paper's fit, method.md).
    nside_detector : int
        Nside of the detector-frame maps (acceptance histogram).
    efficiency_variable_edges : dict {column: edges} or None
        Per-event variables of the selected events (``trigger_rate_hz`` in Hz, ``cutoff_max_gv`` in
        GV) and their bin edges (strictly increasing). The histograms have one underflow bin
        (below ``edges[0]``) and one overflow bin (at or above ``edges[-1]``) besides the
        ``len(edges) - 1`` regular bins, so no event is lost.
    species : str
        Species name, for labels and error messages.
    unit : str
        ``"GeV"`` (e±) or ``"GV"`` (nuclei).
    """

    def __init__(
        self,
        thresholds,
        upper,
        nside_sky: int,
        nside_detector: int,
        efficiency_variable_edges=None,
        *,
        species: str = "<species>",
        unit: str = "GV",
    ):
        self.thresholds, self.upper = check_thresholds(thresholds, upper)
        for name, nside in (("nside_sky", nside_sky), ("nside_detector", nside_detector)):
            if not hp.isnsideok(nside, nest=True):
                raise ValueError(f"{name} must be a power of 2, got {nside!r}")
        self.nside_sky = int(nside_sky)
        self.nside_detector = int(nside_detector)
        self.species = str(species)
        self.unit = unit
        self.labels = [threshold_label(t, unit) for t in self.thresholds]
        self.edges: dict[str, np.ndarray] = {}
        for name, edges in (efficiency_variable_edges or {}).items():
            edges = np.asarray(edges, dtype=np.float64)
            if (
                edges.ndim != 1
                or edges.size < 2
                or not np.all(np.isfinite(edges))
                or np.any(np.diff(edges) <= 0)
            ):
                raise ValueError(
                    f"edges of {name} must be >= 2 finite, strictly increasing values, got {edges}"
                )
            self.edges[str(name)] = edges
        n = self.thresholds.size
        self.counts = np.zeros((n, hp.nside2npix(self.nside_sky)), dtype=np.int64)
        self.detector = np.zeros((n, hp.nside2npix(self.nside_detector)), dtype=np.int64)
        # per variable: (n_thresholds, len(edges) + 1): underflow, regular bins, overflow
        self.histograms = {name: np.zeros((n, e.size + 1), dtype=np.int64) for name, e in self.edges.items()}
        self.n_chunks = 0

    @property
    def n_events(self) -> np.ndarray:
        """Events per threshold (int64 array)."""
        return self.counts.sum(axis=1)

    def add(self, selected: pd.DataFrame, path: str = "<selected>") -> None:
        """Add one chunk of selected events (columns of ``io.SELECTED_SCHEMA``).

        ``path`` names the chunk in error messages. An empty chunk is allowed.
        """
        columns = ["observable", "gal_l_deg", "gal_b_deg", "dir_det_x", "dir_det_y", "dir_det_z", *self.edges]
        missing = [c for c in columns if c not in selected.columns]
        if missing:
            raise io.InputError(f"{path}: missing column(s) {', '.join(missing)}")
        for name in columns:
            values = selected[name].to_numpy()
            if values.dtype.kind not in "fiu" or not np.all(np.isfinite(values)):
                raise io.InputError(f"{path}: column {name} has non-finite or non-numeric values")
        if len(selected) == 0:
            self.n_chunks += 1
            return
        n = self.thresholds.size
        try:
            x = _observable_f64(selected["observable"].to_numpy())
            j = _differential_index(x, _bin_edges(self.thresholds, self.upper))
            sky = galactic_pixels(
                selected["gal_l_deg"].to_numpy(), selected["gal_b_deg"].to_numpy(), self.nside_sky
            )
            det = detector_pixels(
                selected[["dir_det_x", "dir_det_y", "dir_det_z"]].to_numpy(np.float64), self.nside_detector
            )
        except ValueError as err:
            raise io.InputError(f"{path}: {err}") from err
        self.counts += _binned(j, sky, n, self.counts.shape[1])
        self.detector += _binned(j, det, n, self.detector.shape[1])
        for name, edges in self.edges.items():
            values = selected[name].to_numpy().astype(np.float64)
            cell = np.searchsorted(edges, values, side="right")  # 0 underflow, len(edges) overflow
            self.histograms[name] += _binned(j, cell, n, edges.size + 1)
        self.n_chunks += 1

    def _check_compatible(self, other: MapAccumulator) -> None:
        same = (
            np.array_equal(self.thresholds, other.thresholds)
            and self.upper == other.upper
            and self.nside_sky == other.nside_sky
            and self.nside_detector == other.nside_detector
            and self.unit == other.unit
            and self.species == other.species
            and self.edges.keys() == other.edges.keys()
            and all(np.array_equal(self.edges[k], other.edges[k]) for k in self.edges)
        )
        if not same:
            raise ValueError(
                f"cannot merge accumulators of different settings ({self.species} vs {other.species})"
            )

    def merge(self, other: MapAccumulator) -> MapAccumulator:
        """Add another accumulator's partial sums (same settings) into this one; return self."""
        self._check_compatible(other)
        self.counts += other.counts
        self.detector += other.detector
        for name in self.histograms:
            self.histograms[name] += other.histograms[name]
        self.n_chunks += other.n_chunks
        return self

    def check_counts(self, allow_empty_threshold: bool = False) -> None:
        """Raise EmptySampleError when the sample is empty, or a threshold has no event (unless allowed)."""
        n_events = self.n_events
        if n_events.sum() == 0:
            raise EmptySampleError(
                f"species {self.species}: no selected event at or above the lowest threshold "
                f"{self.labels[0]} "
                f"(over {self.n_chunks} chunk(s))"
            )
        empty = [label for label, n in zip(self.labels, n_events, strict=True) if n == 0]
        if empty and not allow_empty_threshold:
            raise EmptySampleError(
                f"species {self.species}: threshold(s) {', '.join(empty)} have zero events "
                "(set allow_empty_threshold to accept)"
            )

    def histogram_table(self) -> pd.DataFrame:
        """The efficiency histograms as one table.

        Columns: ``variable, bin_low, bin_high`` (units of the variable; -inf / inf for the
        underflow / overflow bins) and one count column per threshold label (cumulative ranges).
        """
        frames = []
        for name, edges in self.edges.items():
            low = np.concatenate([[-np.inf], edges])
            high = np.concatenate([edges, [np.inf]])
            frame = pd.DataFrame({"variable": name, "bin_low": low, "bin_high": high})
            for k, label in enumerate(self.labels):
                frame[label] = self.histograms[name][k]
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["variable", "bin_low", "bin_high", *self.labels])
        return pd.concat(frames, ignore_index=True)

    def save(self, path) -> None:
        """Write the partial sums and settings to an ``.npz`` file (atomically)."""
        arrays = {
            "thresholds": self.thresholds,
            "upper": np.array(np.nan if self.upper is None else self.upper),
            "nside": np.array([self.nside_sky, self.nside_detector]),
            "meta": np.array([self.species, self.unit]),
            "n_chunks": np.array(self.n_chunks),
            "counts": self.counts,
            "detector": self.detector,
        }
        for name in self.edges:
            arrays[f"edges__{name}"] = self.edges[name]
            arrays[f"hist__{name}"] = self.histograms[name]
        with io.atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path) -> MapAccumulator:
        """Read an accumulator written by :meth:`save`; io.InputError names the file when unreadable."""
        path = Path(path)
        if not path.exists():
            raise io.InputError(f"{path}: file does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            upper = float(arrays["upper"])
            species, unit = (str(s) for s in arrays["meta"])
            edges = {k[len("edges__") :]: v for k, v in arrays.items() if k.startswith("edges__")}
            acc = cls(
                arrays["thresholds"],
                None if np.isnan(upper) else upper,
                int(arrays["nside"][0]),
                int(arrays["nside"][1]),
                edges,
                species=species,
                unit=unit,
            )
            acc.counts[...] = arrays["counts"]
            acc.detector[...] = arrays["detector"]
            for name in edges:
                acc.histograms[name][...] = arrays[f"hist__{name}"]
            acc.n_chunks = int(arrays["n_chunks"])
        except Exception as err:
            raise io.InputError(f"{path}: not a readable map-accumulator file ({err})") from err
        return acc


def _header(acc: MapAccumulator, k: int, frame: str) -> dict:
    return {
        "SPECIES": acc.species,
        "THRESH": float(acc.thresholds[k]),
        "UPPER": "none" if acc.upper is None else float(acc.upper),
        "UNIT": acc.unit,
        "NEVENTS": int(acc.counts[k].sum()),
        "MAPFRAME": frame,
    }


def write_counts_maps(acc: MapAccumulator, directory, allow_empty_threshold: bool = False) -> dict:
    """Write ``counts_<thr>.fits`` (galactic, RING, COORDSYS 'G') per threshold; return {label: path}.

    Raises EmptySampleError first when the sample or a threshold is empty (see check_counts).
    """
    acc.check_counts(allow_empty_threshold)
    directory = Path(directory)
    paths = {}
    for k, label in enumerate(acc.labels):
        path = directory / f"counts_{label}.fits"
        io.write_healpix_map(
            path, acc.counts[k], column_names=["COUNTS"], coord="G", extra_header=_header(acc, k, "GALACTIC")
        )
        paths[label] = path
    return paths


def write_detector_maps(acc: MapAccumulator, directory, allow_empty_threshold: bool = False) -> dict:
    """Write ``detector_<thr>.fits`` (AMS frame, RING, header COORDSYS 'DETECTOR'); return {label: path}.

    The HEALPix sphere's z axis is the AMS z axis (up), x and y the AMS x and y axes.
    """
    acc.check_counts(allow_empty_threshold)
    directory = Path(directory)
    paths = {}
    for k, label in enumerate(acc.labels):
        path = directory / f"detector_{label}.fits"
        header = {"COORDSYS": "DETECTOR", **_header(acc, k, "AMS")}
        io.write_healpix_map(path, acc.detector[k], column_names=["COUNTS"], coord=None, extra_header=header)
        paths[label] = path
    return paths


def write_histograms(acc: MapAccumulator, path) -> None:
    """Write the efficiency-variable histograms (:meth:`MapAccumulator.histogram_table`) as CSV."""
    io.write_csv(acc.histogram_table(), path)
