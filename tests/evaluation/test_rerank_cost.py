"""The re-ranking cost estimate, on stated machines (the refusals do not depend on the one
that runs the tests)."""

import pytest

from dranet_keras.evaluation.rerank_cost import ReRankTooLargeError, available_memory, check_rerank_fits, matmul_gflops, rerank_estimate

GIB = 2**30


def test_the_estimate_by_hand():
    # 1000 images of 64-d, k1 = 20: features 4*64*1000, neighbour lists 8*21*1000*3,
    # sparse V 24 * 8*21*1000, blocks 0.5 GiB; time 2 * 1000^2 * 64 flops at 10 GFLOP/s.
    memory, seconds = rerank_estimate(100, 900, 64, 20, 0.5, 10.0)
    assert memory == 256_000 + 504_000 + 4_032_000 + GIB // 2
    assert seconds == pytest.approx(2 * 1000**2 * 64 / 10e9)


def test_refused_when_too_slow_or_too_large_for_the_stated_machine():
    # Market-1501 + 500k distractors: ~523k images, 2 N^2 D flops = 1.12e15: 3.1 h at 100 GFLOP/s.
    machine = {"gflops": 100.0, "available": 64 * GIB}
    with pytest.raises(ReRankTooLargeError, match=r"eval.rerank: re-ranking 3,368 queries x 519,732 gallery .*~3.1 h .* eval.rerank=false, or raise eval.rerank_max_hours"):
        check_rerank_fits(3368, 519732, 2048, 20, memory_gb=1.0, max_hours=1.0, **machine)
    with pytest.raises(ReRankTooLargeError, match=r"\(64.0 GiB available.* lower eval.memory_gb"):
        check_rerank_fits(10, 10, 8, 20, memory_gb=100.0, max_hours=1.0, **machine)
    check_rerank_fits(100, 1000, 64, 20, memory_gb=0.1, max_hours=1.0, **machine)  # small: fits
    # The same large split on a machine 10x faster with the memory for it: accepted.
    check_rerank_fits(3368, 519732, 2048, 20, memory_gb=1.0, max_hours=1.0, gflops=1000.0, available=64 * GIB)


def test_this_machine_is_measured_when_not_stated():
    assert 0 < available_memory() and matmul_gflops(64, repeats=1) > 0
