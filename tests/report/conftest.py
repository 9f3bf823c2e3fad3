"""Fixtures of the report tests."""

from __future__ import annotations

import pytest

from .pipeline_fixtures import write_outputs


@pytest.fixture
def pipeline_outputs(tmp_path):
    """Factory: write_outputs(tmp_path / name, ...)."""
    counter = iter(range(1000))
    return lambda **kwargs: write_outputs(tmp_path / f"repo{next(counter)}", **kwargs)
