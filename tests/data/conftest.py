"""Fixtures of the data tests."""

from pathlib import Path

import pytest

from .fake_trees import MARKET_FILES, make_tree


@pytest.fixture
def market_root(tmp_path) -> Path:
    root = make_tree(tmp_path / "Market-1501-v15.09.15", MARKET_FILES)
    (root / "bounding_box_train" / "Thumbs.db").write_text("not an image")
    return root
