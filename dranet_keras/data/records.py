"""The data model shared by every data set reader: records and splits."""

from __future__ import annotations

from typing import NamedTuple


class Record(NamedTuple):
    """One image: its path, person id and 0-based camera id."""

    path: str
    pid: int
    camid: int


class Split(NamedTuple):
    """A re-id data set: training records (pids relabelled 0..N-1), queries and gallery."""

    train: list[Record]
    query: list[Record]
    gallery: list[Record]

    @property
    def num_train_ids(self) -> int:
        return len({record.pid for record in self.train})
