"""DukeMTMC-reID (Zheng et al. 2017): Market-1501's layout with 8 cameras,
`<pid>_c<cam>_f<frame>.jpg`."""

from __future__ import annotations

from pathlib import Path

from dranet_keras.data.datasets.market1501 import read_market_layout
from dranet_keras.data.records import Split

LAYOUT = "<root>/{bounding_box_train,query,bounding_box_test}/<pid>_c<camera>_f<frame>.jpg, e.g. 0001_c2_f0046182.jpg"


def read_dukemtmc(root: str | Path) -> Split:
    """DukeMTMC-reID as a Split."""
    return read_market_layout(root, LAYOUT)
