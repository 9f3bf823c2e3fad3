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


class ReRankError(UserError, ValueError):
    """Distance matrices given to `re_rank` have inconsistent shapes or bad values."""


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
    if not (1 <= k2 <= num_q + num_g and k1 >= 1):
        raise ReRankError(f"re-ranking: need k1 >= 1 and 1 <= k2 <= {num_q + num_g} images, got k1={k1}, k2={k2}")
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


def _jaccard_into(final, indptr, indices, data, num_q, lambda_value, chunk_size, max_pairs):
    """final[i, g] = (1 - lambda) * Jaccard(V_i, V_g) + lambda * final[i, g], for the queries i
    and gallery images g; Jaccard = 1 - sum(min) / (2 - sum(min)) over shared non-zeros."""
    size = len(indptr) - 1
    num_g = size - num_q
    # Gallery rows of V by column (CSC): who shares column c, with what weight.
    gallery = slice(indptr[num_q], indptr[size])
    gallery_rows = np.repeat(np.arange(num_q, size), np.diff(indptr[num_q:]))
    by_column = np.argsort(indices[gallery], kind="stable")
    column_rows = gallery_rows[by_column] - num_q
    column_data = data[gallery][by_column]
    column_ptr = np.r_[0, np.cumsum(np.bincount(indices[gallery], minlength=size))]
    query_rows = np.repeat(np.arange(num_q), np.diff(indptr[: num_q + 1]))
    column_counts = np.diff(column_ptr)[indices[: indptr[num_q]]]
    pairs_per_query = np.bincount(query_rows, weights=column_counts, minlength=num_q)
    for start, stop in _query_chunks(pairs_per_query, chunk_size, max_pairs):
        positions, slot = _csr_rows(indptr, np.arange(start, stop))
        # Every (query entry, gallery image sharing that column) pair.
        partner_positions, pair = _csr_rows(column_ptr, indices[positions])
        minimum = np.minimum(data[positions][pair], column_data[partner_positions])
        key = slot[pair].astype(np.int64) * num_g + column_rows[partner_positions]
        shared = np.bincount(key, weights=minimum, minlength=(stop - start) * num_g)
        shared = shared.reshape(stop - start, num_g).astype(np.float32)
        jaccard = 1.0 - shared / (2.0 - shared)
        block = final[start:stop]
        block *= lambda_value
        block += jaccard * (1 - lambda_value)


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
    size = distances.size
    k = min(k1 + 1, size)
    rank = np.empty((size, max(k, k2)), dtype=np.int64)
    final = np.empty((num_q, num_g), dtype=np.float32)
    for start, stop in _chunks(num_q, size, chunk_size):
        rows = distances.rows(start, stop)
        rank[start:stop] = _nearest(rows, max(k, k2))
        if stop <= num_q:
            final[start:stop] = rows[:, num_q:]
        del rows
    expansion = _expansion_sets(rank[:, :k], min(int(np.around(k1 / 2.0)) + 1, k), chunk_size)
    indptr, indices, data = _encode(distances, expansion)
    del expansion
    if k2 != 1:
        indptr, indices, data = _query_expansion(indptr, indices, data, rank, k2, chunk_size)
    _jaccard_into(final, indptr, indices, data, num_q, lambda_value, chunk_size, max_pairs)
    return final
