"""Benchmark of the geomagnetic tracer and the asymptotic-direction table (docs/geomagnetic_tracing.md).

Measures, on this machine (numba threads = --threads):
1. the IGRF-13 synthesis (degree 13) per point;
2. tracing per trajectory (random ISS positions, directions within 45 deg, log-uniform 10 GV - 1 TV);
3. the step error: asymptotic directions at the nominal tolerance vs a 1000x tighter one;
4. the build time of the production table, timed on whole latitude rows (--rows) and extrapolated;
5. the lookup time per event;
6. the interpolation error (deg) vs direct tracing at random points, per rigidity band, on regional
   tables at the production resolution (--regions).

    .venv/bin/python benchmarks/bench_tracing.py [--threads 2] [--rows 0,28,52] [--regions 0:60,40:0,-52:130]
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from ams_anisotropy.asymptotic import TableGrid, build_asymptotic_table
from ams_anisotropy.igrf_field import IgrfField
from ams_anisotropy.tracing import TraceSettings, enu_to_ecef, trace_trajectories

BANDS_GV = [(10, 20), (20, 40), (40, 100), (100, 300), (300, 1000)]


def _angle_deg(a, b):
    return np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", a, b), -1.0, 1.0)))


def _random_events(rng, n, lat_range=(-52, 52), lon_range=(-180, 180), max_zenith_deg=45.0):
    lat = rng.uniform(*lat_range, n)
    lon = rng.uniform(*lon_range, n)
    zen = np.arccos(rng.uniform(np.cos(np.radians(max_zenith_deg)), 1.0, n))  # isotropic in the cone
    az = rng.uniform(0, 2 * np.pi, n)
    d = np.stack([np.sin(zen) * np.cos(az), np.sin(zen) * np.sin(az), np.cos(zen)], axis=1)
    rigidity = np.exp(rng.uniform(np.log(10), np.log(1000), n))
    return lat, lon, d, rigidity, rng.choice([-1, 1], n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epoch", type=float, default=2015.0)
    parser.add_argument("--rows", default="0,28,52", help="latitudes (deg) of the production rows to time")
    parser.add_argument("--regions", default="0:60,40:0,-52:130", help="lat:lon corners of the regional tables")
    parser.add_argument("--n", type=int, default=3000, help="random events per measurement")
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    rng = np.random.default_rng(2024)
    field = IgrfField.igrf13(args.epoch)
    grid = TableGrid()
    print(f"numba threads {numba.get_num_threads()}, IGRF-13 epoch {args.epoch}, degree {field.nmax}")

    points = rng.normal(size=(200_000, 3))
    points *= (6800.0 / np.linalg.norm(points, axis=1))[:, None]
    field.field_nt(points[:10])
    start = time.perf_counter()
    field.field_nt(points)
    print(f"1. field synthesis: {(time.perf_counter() - start) / len(points) * 1e6:.2f} us per point (1 thread)")

    lat, lon, d, rig, sign = _random_events(rng, args.n)
    trace_trajectories(field, lat[:4], lon[:4], 410.0, d[:4], rig[:4], sign[:4])
    start = time.perf_counter()
    nominal = trace_trajectories(field, lat, lon, 410.0, d, rig, sign)
    elapsed = time.perf_counter() - start
    print(f"2. tracing: {elapsed / args.n * 1e3:.3f} ms per trajectory (wall, {args.threads} threads), "
          f"{nominal.n_steps.mean():.0f} steps on average, allowed fraction {nominal.allowed.mean():.3f}")

    tight = trace_trajectories(field, lat, lon, 410.0, d, rig, sign, TraceSettings(tolerance=1e-9,
                                                                                    max_step_fraction=0.02))
    same = nominal.allowed & tight.allowed
    err = _angle_deg(nominal.asymptotic_ecef[same], tight.asymptotic_ecef[same])
    print(f"3. step error (tol 1e-6 vs 1e-9): flag mismatch {(nominal.allowed != tight.allowed).mean():.4f}, "
          f"angle median {np.median(err):.4f} p95 {np.percentile(err, 95):.4f} p99 {np.percentile(err, 99):.4f} "
          f"max {err.max():.3f} deg")

    rows = [float(v) for v in args.rows.split(",") if v]
    per_row = []
    for la in rows:
        row_grid = TableGrid(lat_deg=(la, la + 1.0), lon_deg=grid.lon_deg, alt_km=grid.alt_km,
                             max_zenith_deg=grid.max_zenith_deg, n_direction=grid.n_direction,
                             rigidity_gv=grid.rigidity_gv)
        start = time.perf_counter()
        build_asymptotic_table(field, row_grid)
        per_row.append((time.perf_counter() - start) / 2.0)  # two latitude nodes (la, la + 1)
        n_row = row_grid.n_trajectories // 2
        print(f"4. production row at lat {la:+.0f}: {per_row[-1]:.1f} s for {n_row} trajectories "
              f"({per_row[-1] / n_row * 1e3:.3f} ms each)")
    if per_row:
        estimate = np.mean(per_row) * len(grid.lat_deg)
        print(f"   production table: {grid.n_trajectories} trajectories, estimated build {estimate / 60:.1f} min "
              f"on {args.threads} threads (mean of the timed rows x {len(grid.lat_deg)} rows)")

    for corner in [c for c in args.regions.split(",") if c]:
        lat0, lon0 = (float(v) for v in corner.split(":"))
        step_lat = grid.lat_deg[1] - grid.lat_deg[0]
        step_lon = grid.lon_deg[1] - grid.lon_deg[0]
        region = TableGrid(lat_deg=tuple(lat0 + step_lat * np.arange(3)), lon_deg=tuple(lon0 + step_lon * np.arange(3)),
                           alt_km=grid.alt_km, max_zenith_deg=grid.max_zenith_deg, n_direction=grid.n_direction,
                           rigidity_gv=grid.rigidity_gv)
        table = build_asymptotic_table(field, region)
        lat, lon, d, rig, sign = _random_events(rng, args.n, (lat0, lat0 + 2 * step_lat), (lon0, lon0 + 2 * step_lon))
        table.lookup(lat[:4], lon[:4], d[:4], rig[:4], sign[:4])
        start = time.perf_counter()
        looked, allowed = table.lookup(lat, lon, d, rig, sign)
        lookup_us = (time.perf_counter() - start) / args.n * 1e6
        direct = trace_trajectories(field, lat, lon, grid.alt_km, d, rig, sign)
        print(f"5./6. region lat {lat0:+.0f}..{lat0 + 2 * step_lat:+.0f}, lon {lon0:+.0f}..{lon0 + 2 * step_lon:+.0f}: "
              f"lookup {lookup_us:.2f} us per event; flag agreement {(allowed == direct.allowed).mean():.4f}")
        both = allowed & direct.allowed
        error = _angle_deg(looked[both], direct.asymptotic_ecef[both])
        deflection = _angle_deg(direct.asymptotic_ecef[both], enu_to_ecef(d[both], lat[both], lon[both]))
        for low, high in BANDS_GV:
            band = (rig[both] >= low) & (rig[both] < high)
            in_band = (rig >= low) & (rig < high)
            mismatch = (allowed[in_band] != direct.allowed[in_band]).mean()
            print(f"      {low:4d}-{high:4d} GV: flag mismatch {mismatch:.3f}, "
                  f"error median {np.median(error[band]):.3f} p90 {np.percentile(error[band], 90):.3f} "
                  f"p99 {np.percentile(error[band], 99):.3f} deg (deflection median {np.median(deflection[band]):.1f})")


if __name__ == "__main__":
    main()
