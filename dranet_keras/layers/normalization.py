"""BatchNormalization settings shared by the backbone, the attention layers and the heads."""

# Keras' default moving-average momentum (0.99) leaves the inference statistics of a short or
# from-scratch training mostly at their initial values; re-id reference code (PyTorch, momentum
# 0.1) updates them ten times faster. 0.9 here is PyTorch's 0.1. Not a weight: transfer unaffected.
BN_MOMENTUM = 0.9
