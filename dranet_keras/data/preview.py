"""A contact sheet: a few test identities (rows) as every camera sees them (columns)."""

from __future__ import annotations

import io
from pathlib import Path

from dranet_keras.data.records import Record, Split
from dranet_keras.io import atomic_write_bytes


def contact_sheet(split: Split, path: str | Path, num_ids: int = 8, cell: tuple[int, int] = (128, 64)) -> Path:
    """Save a PNG grid: `num_ids` query/gallery identities x their cameras (first image each)."""
    from PIL import Image, ImageDraw

    by_id: dict[int, dict[int, Record]] = {}
    for record in sorted(split.query + split.gallery, key=lambda r: (r.pid, r.camid, r.path)):
        if record.pid > 0:
            by_id.setdefault(record.pid, {}).setdefault(record.camid, record)
    pids = sorted(by_id, key=lambda pid: (-len(by_id[pid]), pid))[:num_ids]
    cameras = sorted({camid for pid in pids for camid in by_id[pid]})
    height, width = cell
    label_w, label_h = 44, 14
    sheet = Image.new("RGB", (label_w + width * len(cameras), label_h + height * len(pids)), "white")
    draw = ImageDraw.Draw(sheet)
    for column, camid in enumerate(cameras):
        draw.text((label_w + column * width + 4, 1), f"cam {camid}", fill="black")
    for row, pid in enumerate(pids):
        draw.text((2, label_h + row * height + height // 2 - 6), f"id {pid}", fill="black")
        for column, camid in enumerate(cameras):
            if camid in by_id[pid]:
                with Image.open(by_id[pid][camid].path) as image:
                    tile = image.convert("RGB").resize((width, height))
                sheet.paste(tile, (label_w + column * width, label_h + row * height))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
