"""Query-gallery distances (cosine or Euclidean), float32, one matmul per block of rows.

`prepare` turns features into what the metric multiplies (unit rows for cosine, rows and their
squared norms for Euclidean) once; `distance_block` then gives any block of rows. The whole-matrix
`compute_distance` and the streaming evaluation share them, so both produce the same numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dranet_keras.choices import METRICS
from dranet_keras.errors import UserError

_ROWS = 65_536  # rows per step when scanning norms (bounds temporaries on huge galleries)


def l2_normalize(features: np.ndarray, epsilon: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, epsilon)


def _squared_norms(features: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [np.einsum("ij,ij->i", features[s : s + _ROWS], features[s : s + _ROWS]) for s in range(0, len(features), _ROWS)]
    )


class Prepared(NamedTuple):
    """Features as a metric uses them: float32 rows (unit length for cosine) and the squared
    norms of the rows given (also a finiteness check, without a full-size temporary)."""

    rows: np.ndarray
    squared_norms: np.ndarray | None


def check_features(query, gallery):
    """float32 (N, D) and (M, D) arrays (no copy when they already are), or a UserError."""
    query = np.asarray(query, dtype=np.float32)
    gallery = np.asarray(gallery, dtype=np.float32)
    if query.ndim != 2 or gallery.ndim != 2 or query.shape[1] != gallery.shape[1]:
        raise UserError(
            f"features: expected (N, D) query and (M, D) gallery arrays, got {query.shape} and {gallery.shape}"
        )
    return query, gallery


def prepare(features: np.ndarray, metric: str) -> Prepared:
    """`features` (float32, 2-D) made ready for `distance_block`. For cosine, rows already of unit
    length (or zero), as `extract_features` returns them, are used as they are: normalising
    again would only copy a possibly huge gallery."""
    if metric not in METRICS:
        raise UserError(f"distance metric: {metric!r} is not one of {list(METRICS)}")
    squared = _squared_norms(features)
    if metric == "euclidean" or np.all((np.abs(squared - 1.0) <= 1e-6) | (squared == 0.0)):
        return Prepared(features, squared)
    return Prepared(l2_normalize(features), squared)


def block_of(prepared: Prepared, start: int, stop: int) -> Prepared:
    """Rows [start, stop) of prepared features."""
    return Prepared(prepared.rows[start:stop], prepared.squared_norms[start:stop])


def distance_block(query: Prepared, gallery: Prepared, metric: str) -> np.ndarray:
    """(len(query.rows), len(gallery.rows)) float32 distances.

    `cosine`: 1 - cos(q, g) in [0, 2]; `euclidean`: ||q - g||_2, from ||q||^2 + ||g||^2 - 2 q.g
    clipped at 0.
    """
    distances = query.rows @ gallery.rows.T
    if metric == "cosine":
        np.subtract(1.0, distances, out=distances)
        return distances
    distances *= -2.0
    distances += query.squared_norms[:, None]
    distances += gallery.squared_norms[None, :]
    np.maximum(distances, 0.0, out=distances)
    return np.sqrt(distances, out=distances)


def pair_distances(query: Prepared, gallery: Prepared, rows, columns, metric: str, chunk: int = 16_384) -> np.ndarray:
    """Distances of the pairs (query row rows[i], gallery row columns[i]), float32, `chunk`
    pairs at a time (each pair gathers two feature rows)."""
    out = np.empty(len(rows), dtype=np.float32)
    for s in range(0, len(rows), chunk):
        r, c = rows[s : s + chunk], columns[s : s + chunk]
        dot = np.einsum("ij,ij->i", query.rows[r], gallery.rows[c])
        if metric == "cosine":
            out[s : s + chunk] = 1.0 - dot
        else:
            value = dot * -2.0 + query.squared_norms[r] + gallery.squared_norms[c]
            out[s : s + chunk] = np.sqrt(np.maximum(value, 0.0))
    return out


def compute_distance(query: np.ndarray, gallery: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """(num_query, num_gallery) float32 distances, as `distance_block` defines them."""
    query, gallery = check_features(query, gallery)
    return distance_block(prepare(query, metric), prepare(gallery, metric), metric)
