"""Query-gallery distance matrices (cosine or Euclidean), float32, computed with one matmul."""

from __future__ import annotations

import numpy as np

from dranet_keras.errors import UserError

METRICS = ("cosine", "euclidean")


def l2_normalize(features: np.ndarray, epsilon: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, epsilon)


def compute_distance(query: np.ndarray, gallery: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """(num_query, num_gallery) float32 distances.

    `cosine`: 1 - cos(q, g) in [0, 2] (features are L2-normalised here);
    `euclidean`: ||q - g||_2, from ||q||^2 + ||g||^2 - 2 q.g clipped at 0.
    """
    if metric not in METRICS:
        raise UserError(f"distance metric: {metric!r} is not one of {list(METRICS)}")
    query = np.asarray(query, dtype=np.float32)
    gallery = np.asarray(gallery, dtype=np.float32)
    if query.ndim != 2 or gallery.ndim != 2 or query.shape[1] != gallery.shape[1]:
        raise UserError(
            f"features: expected (N, D) query and (M, D) gallery arrays, got {query.shape} and {gallery.shape}"
        )
    if metric == "cosine":
        distances = l2_normalize(query) @ l2_normalize(gallery).T
        np.subtract(1.0, distances, out=distances)
        return distances
    distances = query @ gallery.T
    distances *= -2.0
    distances += np.einsum("ij,ij->i", query, query)[:, None]
    distances += np.einsum("ij,ij->i", gallery, gallery)[None, :]
    np.maximum(distances, 0.0, out=distances)
    return np.sqrt(distances, out=distances)
