"""Re-id losses as pure functions in keras.ops (backend-agnostic)."""

from __future__ import annotations

from keras import ops


def cross_entropy(labels, logits, label_smoothing: float = 0.0):
    """Mean softmax cross entropy with label smoothing as in Szegedy et al. / torchreid.

    Targets are `(1 - eps) * one_hot + eps / num_classes`.
    """
    num_classes = logits.shape[-1]
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    targets = ops.one_hot(ops.cast(labels, "int32"), num_classes)
    targets = (1.0 - label_smoothing) * targets + label_smoothing / num_classes
    return ops.mean(-ops.sum(targets * log_probs, axis=-1))


def pairwise_euclidean(features):
    """(N, D) -> (N, N) Euclidean distances (clamped before the square root for stable grads)."""
    squared = ops.sum(ops.square(features), axis=1)
    distances = squared[:, None] + squared[None, :] - 2.0 * ops.matmul(features, ops.transpose(features))
    return ops.sqrt(ops.maximum(distances, 1e-12))


def batch_hard_triplet(labels, features, margin: float = 0.3):
    """Batch-hard triplet loss (Hermans et al., 2017): mean over anchors of
    max(0, d(a, hardest positive) - d(a, hardest negative) + margin).

    Anchors without a negative in the batch contribute zero.
    """
    features = ops.cast(features, "float32")
    distances = pairwise_euclidean(features)
    labels = ops.reshape(labels, (-1,))
    same = ops.equal(labels[:, None], labels[None, :])
    hardest_positive = ops.max(ops.where(same, distances, 0.0), axis=1)
    big = ops.max(distances) + 1.0
    hardest_negative = ops.min(ops.where(same, big, distances), axis=1)
    has_negative = ops.cast(ops.any(ops.logical_not(same), axis=1), "float32")
    losses = ops.relu(hardest_positive - hardest_negative + margin) * has_negative
    return ops.sum(losses) / ops.maximum(ops.sum(has_negative), 1.0)
