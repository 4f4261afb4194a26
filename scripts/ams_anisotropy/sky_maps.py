"""Sky maps: top-hat sums, relative intensity and significance of a counts map against its reference,
and the four-panel Mollweide figure (the species figures and the Auger comparison).

Conventions and choices (for the README): Mollweide, galactic coordinates, longitude increasing to the
left (astronomical convention), drawn with ``healpy.newvisufunc.projview``. Relative intensity is
C/M - 1 and the significance is the Poisson likelihood-ratio significance of C against a known
expectation M (Li & Ma, ApJ 272 (1983) 317, eq. 17 in the limit alpha -> 0), or the full Li & Ma eq. 17
when an on/off exposure ratio ``alpha`` is given. With ``smoothing_deg`` both are computed from top-hat
sums of counts and reference over all used pixels whose centres lie within that angle (the usual
integration of cosmic-ray anisotropy maps); only top-hat smoothing is offered (a gaussian smoothing
would not give Poisson counts for the significance). Colour scales of the relative intensity and
significance are symmetric around 0.

Atomic PNG + PDF output: :mod:`figure_common`.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import healpy as hp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from healpy.newvisufunc import projview  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .figure_common import check_paths, save_png_and_pdf  # noqa: E402


def tophat_sum(values, radius_deg: float, block_pairs: int = 4_000_000) -> np.ndarray:
    """Sum of a HEALPix (RING) map over all pixels whose centres lie within ``radius_deg`` of each pixel.

    Parameters
    ----------
    values : array (npix,)
        Map to integrate (e.g. counts or reference counts per pixel).
    radius_deg : float
        Top-hat radius in degrees, 0 < radius <= 180.
    block_pairs : int
        Memory bound: approximate number of (pixel, neighbour) pairs handled per block.

    Returns
    -------
    numpy.ndarray (npix,) float64
    """
    from scipy.spatial import cKDTree

    values = np.asarray(values, dtype=np.float64)
    npix = values.size
    if not hp.isnpixok(npix):
        raise ValueError(f"tophat_sum: {npix} is not a valid HEALPix number of pixels")
    if not (0.0 < radius_deg <= 180.0):
        raise ValueError(f"tophat_sum: radius_deg must be in (0, 180], got {radius_deg}")
    nside = hp.npix2nside(npix)
    vectors = np.column_stack(hp.pix2vec(nside, np.arange(npix)))
    chord = 2.0 * np.sin(np.radians(radius_deg) / 2.0)
    neighbours_per_pixel = max(1.0, npix * (1.0 - np.cos(np.radians(radius_deg))) / 2.0)
    block = int(max(1, min(npix, block_pairs // neighbours_per_pixel)))
    tree = cKDTree(vectors)
    result = np.empty(npix)
    for start in range(0, npix, block):  # blocks of pixels, bounded memory
        stop = min(npix, start + block)
        pairs = cKDTree(vectors[start:stop]).sparse_distance_matrix(tree, chord, output_type="ndarray")
        # the pairs include each pixel with itself (distance 0)
        result[start:stop] = np.bincount(pairs["i"], weights=values[pairs["j"]], minlength=stop - start)
    return result


def significance_map(counts, expected, alpha: float | None = None) -> np.ndarray:
    """Signed Poisson significance of ``counts`` against ``expected`` (per pixel or top-hat sums).

    ``alpha=None``: known expectation, S = sign(C - M) sqrt(2 [C ln(C/M) - (C - M)]) (Li & Ma 1983
    eq. 17 in the limit alpha -> 0). With ``alpha`` (on/off exposure ratio, e.g. 1/number of
    shuffles), the full Li & Ma eq. 17 with N_on = C and N_off = M / alpha. NaN where M <= 0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    out = np.full(counts.shape, np.nan)
    good = expected > 0
    c, m = counts[good], expected[good]
    with np.errstate(divide="ignore", invalid="ignore"):
        if alpha is None:
            c_log = np.where(c > 0, c * np.log(np.where(c > 0, c, 1.0) / m), 0.0)
            ts = 2.0 * (c_log - (c - m))
        else:
            if not alpha > 0:
                raise ValueError(f"significance_map: alpha must be > 0, got {alpha}")
            n_off = m / alpha
            total = c + n_off
            on_term = np.where(c > 0, c * np.log((1 + alpha) / alpha * c / total), 0.0)
            off_term = np.where(n_off > 0, n_off * np.log((1 + alpha) * n_off / total), 0.0)
            ts = 2.0 * (on_term + off_term)
    out[good] = np.sign(c - m) * np.sqrt(np.maximum(ts, 0.0))
    return out


def _check_map(values, name: str, npix: int | None = None) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or not hp.isnpixok(values.size):
        raise ValueError(f"sky_maps: {name} must be a 1-d HEALPix map, got shape {values.shape}")
    if npix is not None and values.size != npix:
        raise ValueError(f"sky_maps: {name} has {values.size} pixels, counts has {npix}")
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"sky_maps: {name} has {int((~np.isfinite(values)).sum())} non-finite pixel(s)")
    if np.any(values < 0):
        raise ValueError(f"sky_maps: {name} has {int((values < 0).sum())} negative pixel(s)")
    return values


def _colourbar_ticks(lo: float, hi: float) -> np.ndarray:
    """Round-number colour-bar ticks inside [lo, hi] (the ends included when few ticks fit)."""
    ticks = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    ticks = ticks[(ticks >= lo - 1e-9 * abs(hi - lo)) & (ticks <= hi + 1e-9 * abs(hi - lo))]
    return ticks if ticks.size >= 3 else np.linspace(lo, hi, 3)


def _symmetric_limit(values: np.ndarray, floor: float, percentile: float) -> float:
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        return floor
    return float(max(floor, np.percentile(finite, percentile)))


def relative_intensity_and_significance(
    counts, reference, mask=None, smoothing_deg: float | None = None, alpha: float | None = None
) -> dict[str, np.ndarray]:
    """The derived maps drawn by :func:`sky_maps` (same parameters), checked and computed.

    Returns a dict of float64 arrays (npix,): ``counts``, ``reference`` (as given),
    ``used`` (bool), ``counts_sum`` and ``reference_sum`` (per pixel or top-hat sums over used
    pixels), ``relative_intensity`` = counts_sum / reference_sum - 1 (fraction, NaN where unused)
    and ``significance`` (signed, in sigma, NaN where unused).
    """
    counts = _check_map(counts, "counts")
    npix = counts.size
    reference = _check_map(reference, "reference", npix)
    if mask is None:
        used = reference > 0
    else:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise ValueError(
                f"sky_maps: mask must be a boolean array (True = pixel used), got dtype {mask.dtype}"
            )
        if mask.shape != (npix,):
            raise ValueError(f"sky_maps: mask has shape {mask.shape}, counts has {npix} pixels")
        used = mask & (reference > 0)
    if not used.any():
        raise ValueError("sky_maps: no pixel is used (mask all False or reference all zero)")
    if smoothing_deg is not None and not (0.0 < smoothing_deg <= 180.0):
        raise ValueError(f"sky_maps: smoothing_deg must be in (0, 180] degrees or None, got {smoothing_deg}")
    if alpha is not None and not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"sky_maps: alpha must be a finite number > 0 or None, got {alpha}")

    counts_used = np.where(used, counts, 0.0)
    reference_used = np.where(used, reference, 0.0)
    if smoothing_deg is None:
        counts_sum, reference_sum = counts_used, reference_used
    else:
        counts_sum = tophat_sum(counts_used, smoothing_deg)
        reference_sum = tophat_sum(reference_used, smoothing_deg)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(used & (reference_sum > 0), counts_sum / reference_sum - 1.0, np.nan)
    significance = np.where(used, significance_map(counts_sum, reference_sum, alpha), np.nan)
    return {
        "counts": counts,
        "reference": reference,
        "used": used,
        "counts_sum": counts_sum,
        "reference_sum": reference_sum,
        "relative_intensity": relative,
        "significance": significance,
    }


def sky_maps(
    counts,
    reference,
    png_path,
    pdf_path,
    title: str,
    mask=None,
    smoothing_deg: float | None = None,
    alpha: float | None = None,
    dpi: float = 120.0,
    xsize: int = 800,
) -> Figure:
    """Four Mollweide maps in galactic coordinates: counts, reference, relative intensity, significance.

    Parameters
    ----------
    counts : array (npix,)
        Observed events per HEALPix pixel (RING ordering, galactic).
    reference : array (npix,)
        Expected events per pixel for an isotropic sky (the reference map, normalised to the counts
        as the ``reference`` module does; drawn as given).
    png_path, pdf_path : path-like
        Output files (atomic).
    title : str
        Figure title (species, threshold, run label).
    mask : bool array (npix,), optional
        True where the pixel is used (e.g. enough exposure); other pixels are grey in the relative
        intensity and significance maps and are left out of the top-hat sums. Default: all pixels
        with reference > 0.
    smoothing_deg : float, optional
        Top-hat radius (degrees) for relative intensity and significance; None = per pixel.
    alpha : float, optional
        On/off exposure ratio for the Li & Ma significance (e.g. 1/n_shuffles for a shuffled
        reference); None = the reference is taken as a known expectation.
    dpi : float
        PNG resolution (dots per inch).
    xsize : int
        Number of longitude samples of each projected map (image resolution).

    Returns
    -------
    matplotlib.figure.Figure
    """
    layers = relative_intensity_and_significance(counts, reference, mask, smoothing_deg, alpha)
    png_path, pdf_path = check_paths(png_path, pdf_path)
    counts, reference = layers["counts"], layers["reference"]
    relative, significance = layers["relative_intensity"], layers["significance"]
    npix = counts.size
    smoothing_text = "per pixel" if smoothing_deg is None else f"top-hat radius {smoothing_deg:g}°"

    relative_pct = 100.0 * relative
    rel_max = _symmetric_limit(relative_pct, 1e-3, 99.5)
    sig_max = _symmetric_limit(significance, 3.0, 100.0)
    nside = hp.npix2nside(npix)
    pixel_area_deg2 = hp.nside2pixarea(nside, degrees=True)
    panels = [
        (counts, f"Counts (Nside {nside}, {pixel_area_deg2:.2f} deg² pixels)", "events / pixel",
         "viridis", None, None),
        (reference, "Reference (isotropic expectation)", "expected events / pixel", "viridis", None, None),
        (relative_pct, f"Relative intensity C/M - 1 ({smoothing_text})", "%", "RdBu_r", -rel_max, rel_max),
        (significance, f"Significance ({smoothing_text})", r"$\sigma$", "RdBu_r", -sig_max, sig_max),
    ]
    fig = plt.figure(figsize=(12.0, 7.6))
    try:
        for i, (values, panel_title, unit, cmap, vmin, vmax) in enumerate(panels):
            shown = np.where(np.isfinite(values), values, hp.UNSEEN)
            finite = values[np.isfinite(values)]
            lo = float(finite.min()) if vmin is None else vmin
            hi = float(finite.max()) if vmax is None else vmax
            if hi <= lo:
                hi = lo + 1.0
            ticks = _colourbar_ticks(lo, hi)
            projview(
                shown, fig=fig.number, sub=(2, 2, i + 1), coord=["G"], graticule=True,
                graticule_labels=True, unit=unit, title=panel_title, cmap=cmap, min=lo, max=hi,
                cbar_ticks=ticks, format="%.3g", xsize=xsize, fontsize={"title": 11, "cbar_label": 10,
                                                                        "cbar_tick_label": 9,
                                                                        "xtick_label": 8, "ytick_label": 8},
                longitude_grid_spacing=60, latitude_grid_spacing=30,
            )
        # projview lays each panel out for a full figure: leave room for the title between rows
        fig.subplots_adjust(top=0.89, bottom=0.03, hspace=0.32)
        fig.suptitle(f"{title}\n(galactic coordinates, Mollweide, longitude increasing to the left)",
                     fontsize=12)
        save_png_and_pdf(fig, png_path, pdf_path, dpi)
    finally:
        plt.close(fig)
    return fig
