"""k-reciprocal re-ranking (Zhong, Zheng, Cao, Li: "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR 2017), memory-bounded.

Same inputs, outputs and arithmetic as the authors' numpy code (the `re_ranking` function that
torchreid and fast-reid ship): squared distances normalised by their column maximum, k1
reciprocal neighbours with the 2/3 expansion rule on k1/2 neighbourhoods, Gaussian-kernel
weights, k2 query expansion, Jaccard distance blended with the original by `lambda_value`.

Why not the reference code: it builds several dense (Q+G) x (Q+G) arrays (distances, argsort
ranks, V, the expanded V): ~10 GB at Market-1501 size (19,281 images). Only the first k1+1
neighbours of each image are ever used and each row of V has a few dozen non-zeros, so here the
distance rows are produced in column chunks, neighbours come from a partition, V is a sparse
(CSR) matrix and the Jaccard term is accumulated per chunk of queries. Ties between equal
distances are broken by index (the reference's unstable quicksort leaves them unspecified).
"""

from __future__ import annotations

import numpy as np

from dranet_keras.errors import UserError
from dranet_keras.evaluation.distance import Prepared, block_of, distance_block, pair_distances
from dranet_keras.evaluation.streaming import FeatureDistances, rows_per_block


class ReRankError(UserError, ValueError):
    """Distance matrices given to `re_rank` have inconsistent shapes or bad values."""


def _check_k(k1, k2, size):
    if not (1 <= k2 <= size and k1 >= 1):
        raise ReRankError(f"re-ranking: need k1 >= 1 and 1 <= k2 <= {size} images, got k1={k1}, k2={k2}")


def _check(q_g_dist, q_q_dist, g_g_dist, k1, k2):
    q_g, q_q, g_g = (np.asarray(a) for a in (q_g_dist, q_q_dist, g_g_dist))
    if q_g.ndim != 2:
        raise ReRankError(f"q_g_dist: expected a 2-D (num_query, num_gallery) array, got shape {q_g.shape}")
    num_q, num_g = q_g.shape
    if q_q.shape != (num_q, num_q) or g_g.shape != (num_g, num_g):
        raise ReRankError(
            f"q_q_dist / g_g_dist: expected shapes {(num_q, num_q)} and {(num_g, num_g)} "
            f"for q_g_dist {q_g.shape}, got {q_q.shape} and {g_g.shape}"
        )
    for name, values in (("q_g_dist", q_g), ("q_q_dist", q_q), ("g_g_dist", g_g)):
        # min/max propagate NaN and show infinities without a full-size temporary.
        if values.size and not (np.isfinite(values.min()) and np.isfinite(values.max())):
            raise ReRankError(f"{name}: contains NaN or infinite distances")
    _check_k(k1, k2, num_q + num_g)
    return q_g, q_q, g_g


class _NormalisedDistances:
    """Rows of the reference's `original_dist`: the squared (Q+G) x (Q+G) distance matrix
    [[q_q, q_g], [q_g.T, g_g]], divided by its column maxima and transposed, so row i is
    column i of the squared matrix over that column's maximum. Never built whole."""

    def __init__(self, q_g, q_q, g_g):
        self.q_g, self.q_q, self.g_g = q_g, q_q, g_g
        self.num_q, self.num_g = q_g.shape
        self.size = self.num_q + self.num_g
        self.dtype = np.result_type(q_g, q_q, g_g)
        self.column_max = np.empty(self.size, dtype=np.float32)

    def _squared(self, values):
        return np.power(values.astype(self.dtype, copy=False), 2).astype(np.float32, copy=False)

    def rows(self, start, stop):
        """Rows [start, stop) (all on one side of the query/gallery boundary), float32."""
        if stop <= self.num_q:
            column = np.concatenate([self.q_q[:, start:stop], self.q_g[start:stop, :].T], axis=0, dtype=self.dtype)
        else:
            a, b = start - self.num_q, stop - self.num_q
            column = np.concatenate([self.q_g[:, a:b], self.g_g[:, a:b]], axis=0, dtype=self.dtype)
        column = self._squared(column)
        self.column_max[start:stop] = column.max(axis=0)
        return (column / self.column_max[start:stop]).T

    def entries(self, rows, columns):
        """Elements (rows[i], columns[i]); needs `rows()` to have been called for those rows."""
        values = np.empty(len(rows), dtype=self.dtype)
        q = self.num_q
        r_query, c_query = rows < q, columns < q
        # Element (i, j) of the transposed matrix is element (j, i) of the squared block matrix.
        part = r_query & c_query
        values[part] = self.q_q[columns[part], rows[part]]
        part = r_query & ~c_query
        values[part] = self.q_g[rows[part], columns[part] - q]
        part = ~r_query & c_query
        values[part] = self.q_g[columns[part], rows[part] - q]
        part = ~r_query & ~c_query
        values[part] = self.g_g[columns[part] - q, rows[part] - q]
        return self._squared(values) / self.column_max[rows]


def _chunks(num_q, size, chunk_size):
    """[start, stop) row ranges that never straddle the query/gallery boundary."""
    for low, high in ((0, num_q), (num_q, size)):
        for start in range(low, high, chunk_size):
            yield start, min(start + chunk_size, high)


def _nearest(rows, k):
    """Indices of the k smallest values per row, ascending (ties by index)."""
    if k >= rows.shape[1]:
        return np.argsort(rows, axis=1, kind="stable")
    threshold = np.partition(rows, k - 1, axis=1)[:, k - 1 : k]
    row, column = np.nonzero(rows <= threshold)
    order = np.lexsort((column, rows[row, column], row))
    row, column = row[order], column[order]
    rank_in_row = np.arange(len(row)) - np.searchsorted(row, row, side="left")
    keep = rank_in_row < k
    return column[keep].reshape(len(rows), k)


def _is_reciprocal(neighbours, ids, own_neighbours):
    """(n, k) bool: whether `ids[i]` is among the neighbours of its own neighbour j."""
    return (neighbours[own_neighbours] == ids[:, None, None]).any(axis=-1)


def _expansion_sets(rank, half, chunk_size):
    """Per image, the sorted k-reciprocal set R(i, k1) expanded by every candidate's
    R(c, k1/2) that shares more than 2/3 of its members with R(i, k1). As a padded (N, M) array
    with `N` (the number of images) as the padding value."""
    size = len(rank)
    ids = np.arange(size)
    half_rank = rank[:, :half]
    half_reciprocal = np.concatenate(
        [_is_reciprocal(half_rank, ids[s:e], half_rank[s:e]) for s, e in _chunks(0, size, chunk_size)]
    )
    out = []
    for start, stop in _chunks(0, size, chunk_size):
        own = rank[start:stop]
        reciprocal = _is_reciprocal(rank, ids[start:stop], own)
        members = np.where(reciprocal, own, -1)
        candidate_sets = half_rank[own]  # (n, k, half)
        candidate_valid = half_reciprocal[own] & reciprocal[:, :, None]
        shared = (candidate_sets[..., None] == members[:, None, None, :]).any(axis=-1) & candidate_valid
        accept = reciprocal & (shared.sum(-1) > 2.0 / 3.0 * candidate_valid.sum(-1))
        expansion = np.where(accept[:, :, None] & candidate_valid, candidate_sets, size)
        merged = np.concatenate([np.where(reciprocal, own, size), expansion.reshape(len(own), -1)], axis=1)
        merged.sort(axis=1)
        merged[:, 1:][merged[:, 1:] == merged[:, :-1]] = size  # drop duplicates
        merged.sort(axis=1)
        width = int((merged < size).sum(axis=1).max())
        out.append(merged[:, :width])
    width = max(block.shape[1] for block in out)
    return np.concatenate([np.pad(b, ((0, 0), (0, width - b.shape[1])), constant_values=size) for b in out])


def _csr_rows(indptr, rows):
    """Positions into a CSR matrix's data for all entries of `rows`, and each entry's row slot."""
    starts, lengths = indptr[rows], indptr[rows + 1] - indptr[rows]
    slot = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + offsets, slot


def _encode(distances, expansion):
    """Sparse V as CSR (indptr, indices, data): Gaussian-kernel weights over each image's
    expanded k-reciprocal set, normalised to sum 1 per row."""
    size = len(expansion)
    row, column = np.nonzero(expansion < size)
    column = expansion[row, column]
    weight = np.exp(-distances.entries(row, column))
    indptr = np.r_[0, np.cumsum(np.bincount(row, minlength=size))]
    row_sum = np.bincount(row, weights=weight, minlength=size).astype(np.float32)
    return indptr, column, weight / row_sum[row]


def _query_expansion(indptr, indices, data, rank, k2, chunk_size):
    """V_qe[i] = mean of V over image i's k2 nearest neighbours, in CSR."""
    size = len(indptr) - 1
    rows_out, cols_out, vals_out = [], [], []
    for start, stop in _chunks(0, size, chunk_size):
        neighbours = rank[start:stop, :k2]
        positions, slot = _csr_rows(indptr, neighbours.reshape(-1))
        local_row = slot // k2
        key = local_row.astype(np.int64) * size + indices[positions]
        unique, inverse = np.unique(key, return_inverse=True)
        sums = np.bincount(inverse, weights=data[positions], minlength=len(unique))
        rows_out.append(start + unique // size)
        cols_out.append(unique % size)
        vals_out.append((sums / k2).astype(np.float32))
    rows, cols = np.concatenate(rows_out), np.concatenate(cols_out)
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=size))]
    return indptr, cols, np.concatenate(vals_out)


def _query_chunks(pairs_per_query, max_rows, max_pairs):
    """Consecutive query ranges of at most `max_rows` queries and about `max_pairs` pairs
    (at least one query each): bounds memory even when some images are hubs."""
    start = 0
    cumulative = np.cumsum(pairs_per_query)
    while start < len(pairs_per_query):
        offset = cumulative[start - 1] if start else 0
        stop = int(np.searchsorted(cumulative, offset + max_pairs, side="right"))
        stop = min(max(stop, start + 1), start + max_rows)
        yield start, stop
        start = stop


class _GalleryColumns:
    """The gallery rows of sparse V by column (CSC): who shares column c, with what weight; and
    how many (query entry, gallery entry) pairs each query's Jaccard row involves."""

    def __init__(self, indptr, indices, data, num_q):
        size = len(indptr) - 1
        self.num_g = size - num_q
        gallery = slice(indptr[num_q], indptr[size])
        gallery_rows = np.repeat(np.arange(num_q, size), np.diff(indptr[num_q:]))
        by_column = np.argsort(indices[gallery], kind="stable")
        self.rows = gallery_rows[by_column] - num_q
        self.data = data[gallery][by_column]
        self.ptr = np.r_[0, np.cumsum(np.bincount(indices[gallery], minlength=size))]
        query_rows = np.repeat(np.arange(num_q), np.diff(indptr[: num_q + 1]))
        column_counts = np.diff(self.ptr)[indices[: indptr[num_q]]]
        self.pairs_per_query = np.bincount(query_rows, weights=column_counts, minlength=num_q)

    def jaccard(self, indptr, indices, data, start, stop):
        """(stop - start, num_g) float32 Jaccard distances 1 - sum(min) / (2 - sum(min)) of
        queries [start, stop) to every gallery image, over shared non-zeros of V."""
        num_g = self.num_g
        positions, slot = _csr_rows(indptr, np.arange(start, stop))
        # Every (query entry, gallery image sharing that column) pair.
        partner_positions, pair = _csr_rows(self.ptr, indices[positions])
        minimum = np.minimum(data[positions][pair], self.data[partner_positions])
        key = slot[pair].astype(np.int64) * num_g + self.rows[partner_positions]
        shared = np.bincount(key, weights=minimum, minlength=(stop - start) * num_g)
        shared = shared.reshape(stop - start, num_g).astype(np.float32)
        return 1.0 - shared / (2.0 - shared)


def _blend_into(out, offset, v, columns, lambda_value, chunk_size, max_pairs):
    """out[i - offset] = (1 - lambda) * Jaccard + lambda * out[i - offset] for the queries i of
    `out` (which holds the original distances of queries [offset, offset + len(out)))."""
    pairs = columns.pairs_per_query[offset : offset + len(out)]
    for start, stop in _query_chunks(pairs, chunk_size, max_pairs):
        block = out[start:stop]
        block *= lambda_value
        block += columns.jaccard(*v, offset + start, offset + stop) * (1 - lambda_value)


def _sparse_v(distances, k1, k2, chunk_size, row_chunk_size, on_query_rows=None):
    """Sparse V (CSR indptr, indices, data) after query expansion, from a source of normalised
    distance rows (`rows`, `entries`, `size`, `num_q`). `on_query_rows(start, stop, rows)` sees
    each block of query rows as it passes."""
    num_q, size = distances.num_q, distances.size
    k = min(k1 + 1, size)
    rank = np.empty((size, max(k, k2)), dtype=np.int64)
    for start, stop in _chunks(num_q, size, row_chunk_size):
        rows = distances.rows(start, stop)
        rank[start:stop] = _nearest(rows, max(k, k2))
        if on_query_rows is not None and stop <= num_q:
            on_query_rows(start, stop, rows)
        del rows
    expansion = _expansion_sets(rank[:, :k], min(int(np.around(k1 / 2.0)) + 1, k), chunk_size)
    v = _encode(distances, expansion)
    del expansion
    if k2 != 1:
        v = _query_expansion(*v, rank, k2, chunk_size)
    return v


def re_rank(
    q_g_dist,
    q_q_dist,
    g_g_dist,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
    *,
    chunk_size: int = 256,
    max_pairs: int = 2_000_000,
):
    """Re-ranked (num_query, num_gallery) float32 distances from query-gallery, query-query and
    gallery-gallery distance matrices (any metric; the reference squares them first).

    Memory knobs (results do not depend on them): `chunk_size` rows of the distance matrix at a
    time; `max_pairs` (query entry, gallery entry) pairs at a time in the Jaccard step.
    """
    q_g, q_q, g_g = _check(q_g_dist, q_q_dist, g_g_dist, k1, k2)
    num_q, num_g = q_g.shape
    distances = _NormalisedDistances(q_g, q_q, g_g)
    final = np.empty((num_q, num_g), dtype=np.float32)

    def keep_original(start, stop, rows):
        final[start:stop] = rows[:, num_q:]

    v = _sparse_v(distances, k1, k2, chunk_size, chunk_size, keep_original)
    _blend_into(final, 0, v, _GalleryColumns(*v, num_q), lambda_value, chunk_size, max_pairs)
    return final


class _FeatureNormalised:
    """`_NormalisedDistances` computed from features: row i holds the squared distances from
    image i (queries first, then gallery) to every image, over their maximum."""

    def __init__(self, query: Prepared, gallery: Prepared, metric: str):
        self.query, self.gallery, self.metric = query, gallery, metric
        self.num_q, self.num_g = len(query.rows), len(gallery.rows)
        self.size = self.num_q + self.num_g
        self.column_max = np.empty(self.size, dtype=np.float32)

    def _side(self, index):
        return (self.query, index) if index < self.num_q else (self.gallery, index - self.num_q)

    def squared_rows(self, start, stop):
        """Squared distances of images [start, stop) (one side) to all images, float32."""
        side, offset = self._side(start)
        block = block_of(side, offset, offset + stop - start)
        rows = np.concatenate(
            [distance_block(block, self.query, self.metric), distance_block(block, self.gallery, self.metric)], axis=1
        )
        return np.power(rows, 2, out=rows)

    def rows(self, start, stop):
        rows = self.squared_rows(start, stop)
        self.column_max[start:stop] = rows.max(axis=1)
        rows /= self.column_max[start:stop, None]
        return rows

    def entries(self, rows, columns):
        values = np.empty(len(rows), dtype=np.float32)
        q = self.num_q
        for row_query in (True, False):
            for column_query in (True, False):
                part = ((rows < q) == row_query) & ((columns < q) == column_query)
                r = rows[part] - (0 if row_query else q)
                c = columns[part] - (0 if column_query else q)
                values[part] = pair_distances(
                    self.query if row_query else self.gallery, self.query if column_query else self.gallery, r, c, self.metric
                )
        return np.power(values, 2) / self.column_max[rows]


class ReRankedDistances:
    """Re-ranked (num_query, num_gallery) distances, produced a block of query rows at a time
    by `rows(start, stop)`; `evaluate_distance_rows` scores them as it scores plain distances.

    Holds the features, each query's distance normaliser and the sparse k-reciprocal vectors V;
    row i is `(1 - lambda) * Jaccard(V_i, V_g) + lambda * d(i, g)^2 / max_j d(i, j)^2`, what
    `re_rank` returns as a dense matrix."""

    def __init__(self, distances: _FeatureNormalised, v, lambda_value: float, chunk_size: int, max_pairs: int):
        self._distances, self._v = distances, v
        self._columns = _GalleryColumns(*v, distances.num_q)
        self._lambda, self._chunk_size, self._max_pairs = lambda_value, chunk_size, max_pairs
        self.shape = (distances.num_q, distances.num_g)
        # A block row: the distances to queries and gallery, the Jaccard sums (float64), the
        # float32 result and its sorted copy in ranking.
        self.bytes_per_row = 12 * distances.size + 16 * distances.num_g

    def rows(self, start: int, stop: int) -> np.ndarray:
        distances = self._distances
        out = distances.squared_rows(start, stop)[:, distances.num_q :] / distances.column_max[start:stop, None]
        _blend_into(out, start, self._v, self._columns, self._lambda, self._chunk_size, self._max_pairs)
        return out


def re_rank_features(
    query_features,
    gallery_features,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
    metric: str = "cosine",
    memory_gb: float | None = None,
    *,
    chunk_size: int = 256,
    max_pairs: int = 2_000_000,
) -> ReRankedDistances:
    """k-reciprocal re-ranking from features, in bounded memory.

    Returns a `ReRankedDistances`: not a matrix, but the re-ranked query x gallery distances by
    blocks of query rows (`rows(start, stop)`), equal to
    `re_rank(compute_distance(q, g), compute_distance(q, q), compute_distance(g, g))[start:stop]`
    (same arithmetic; rounding aside). Score it with
    `evaluate_distance_rows(reranked, q_pids, g_pids, q_camids, g_camids, ...)`.

    Each image's k1+1 nearest neighbours come from an exact search over query + gallery
    features in blocks of rows that fit `memory_gb` GiB (default `eval.memory_gb`); only the
    neighbour lists and the sparse V stay in memory.
    """
    plain = FeatureDistances(query_features, gallery_features, metric)
    num_q, num_g = plain.shape
    _check_k(k1, k2, num_q + num_g)
    distances = _FeatureNormalised(plain.query, plain.gallery, metric)
    # A neighbour-search row: distances (float32), np.partition's copy, the threshold mask.
    row_chunk = rows_per_block(10 * distances.size, memory_gb)
    v = _sparse_v(distances, k1, k2, chunk_size, row_chunk)
    return ReRankedDistances(distances, v, lambda_value, chunk_size, max_pairs)
