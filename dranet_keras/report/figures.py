"""Figures for the report, all self-contained: matplotlib plots as inline SVG strings and
images as base64 `data:` URIs, so the HTML needs no other file and no network."""

from __future__ import annotations

import base64
import io
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, UnidentifiedImageError  # noqa: E402

from dranet_keras.config import DataConfig  # noqa: E402
from dranet_keras.report.inputs import ReportInputError  # noqa: E402

# Text drawn as paths: the SVG needs no font; a fixed salt keeps ids (and files) reproducible.
SVG_STYLE = {"svg.fonttype": "path", "svg.hashsalt": "dranet-report", "font.size": 9}
VARIANT_COLOURS = {"baseline": "#6e7781", "cic": "#0969da", "sic": "#bf8700", "dra": "#cf222e"}
THUMBNAIL_SIZE = (48, 96)  # width, height of ranked-retrieval thumbnails


def figure_to_svg(figure) -> str:
    """The <svg> element of a matplotlib figure (no XML prolog/doctype), then close it."""
    buffer = io.StringIO()
    with plt.rc_context(SVG_STYLE):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def png_data_uri(array: np.ndarray) -> str:
    """uint8 (H, W, 3) image -> `data:image/png;base64,...`."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumbnail_uri(path: Path, size=THUMBNAIL_SIZE, max_pixels: int = DataConfig.max_image_pixels) -> str | None:
    """A small PNG data URI of an image file, or None when it is missing or unreadable; an
    image of more than `max_pixels` (a decompression bomb) is a `ReportInputError`."""
    too_large = f"{path}: an image of the rankings with more than {max_pixels} pixels (data.max_image_pixels' default)"
    try:
        with warnings.catch_warnings():
            # PIL warns from 89 Mpx and raises from 178 Mpx when it reads the header: one refusal instead
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width * image.height > max_pixels:
                    raise ReportInputError(f"{too_large}: {image.width}x{image.height}")
                return png_data_uri(np.asarray(image.convert("RGB").resize(size, Image.BILINEAR)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ReportInputError(too_large) from None
    except (OSError, UnidentifiedImageError):
        return None


def cmc_svg(cmcs: dict[str, np.ndarray], max_rank: int = 20) -> str:
    """CMC curves (accuracy in % against rank) of several variants in one plot."""
    with plt.rc_context(SVG_STYLE):
        figure, axes = plt.subplots(figsize=(4.4, 3.0))
        for variant, cmc in cmcs.items():
            ranks = np.arange(1, min(max_rank, len(cmc)) + 1)
            axes.plot(ranks, 100 * cmc[: len(ranks)], marker="o", markersize=3, label=variant, color=VARIANT_COLOURS.get(variant))
        axes.set(xlabel="rank", ylabel="matching accuracy (%)", title="CMC")
        axes.set_xticks([r for r in (1, 5, 10, 15, 20, 30, 40, 50) if r <= len(ranks)])
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right")
    return figure_to_svg(figure)


def training_svg(logs: dict) -> str:
    """Per-epoch training loss (left) and accuracy (right) of several variants."""
    with plt.rc_context(SVG_STYLE):
        figure, (loss_axes, acc_axes) = plt.subplots(1, 2, figsize=(7.0, 3.0))
        for variant, log in logs.items():
            colour = VARIANT_COLOURS.get(variant)
            loss_axes.plot(log["epoch"], log["loss"], label=variant, color=colour)
            if "accuracy" in log:
                acc_axes.plot(log["epoch"], 100 * log["accuracy"], label=variant, color=colour)
        loss_axes.set(xlabel="epoch", ylabel="loss", title="training loss")
        acc_axes.set(xlabel="epoch", ylabel="accuracy (%)", title="training accuracy (first head: b or sic)")
        for axes in (loss_axes, acc_axes):
            axes.grid(alpha=0.3)
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.legend()
    return figure_to_svg(figure)


def ranking_grid(rankings: dict, root: Path, max_queries: int = 6, top_k: int = 10) -> list[dict]:
    """Rows of the ranked-retrieval grid: the query and its top-k gallery images, each with
    a thumbnail (None when the file is missing) and whether it is a true match."""
    rows = []
    for query in rankings.get("queries", [])[:max_queries]:
        rows.append(
            {
                "pid": query.get("pid"),
                "camid": query.get("camid"),
                "image": thumbnail_uri(root / query["path"]),
                "top": [
                    {
                        "pid": item.get("pid"),
                        "camid": item.get("camid"),
                        "distance": item.get("distance"),
                        "match": bool(item.get("match")),
                        "image": thumbnail_uri(root / item["path"]),
                    }
                    for item in query.get("top", [])[:top_k]
                ],
            }
        )
    return rows


def channel_mask_svg(channel_masks: np.ndarray) -> str:
    """Histogram of CIC mask values m (batch, parts, channels), one colour per stripe.

    B = A * m keeps the channels with m near 1; RCAM's hard example C = A * (1 - m) keeps
    the others. A peak at 0.5 (the sigmoid's start) means the masks learnt nothing."""
    parts = channel_masks.shape[1]
    with plt.rc_context(SVG_STYLE):
        figure, axes = plt.subplots(figsize=(4.4, 3.0))
        bins = np.linspace(0.0, 1.0, 41)
        for part in range(parts):
            axes.hist(channel_masks[:, part].ravel(), bins=bins, histtype="step", linewidth=1.4, label=f"stripe {part + 1}")
        axes.set(xlabel="channel mask m", ylabel="channels", title="CIC channel mask distribution")
        axes.grid(alpha=0.3)
        axes.legend()
    return figure_to_svg(figure)


def class_map_overlay(image: np.ndarray, class_map: np.ndarray, colour=(220, 30, 30), alpha: float = 0.7) -> np.ndarray:
    """RSAM's map h (feature-map resolution, values in [0, 1]) painted over the input image,
    opacity `alpha * h`: the reddest cells are the ones D = B * (1 - h) erases most.

    h is upsampled with nearest neighbour so each feature cell covers its image block."""
    height, width = image.shape[:2]
    cells = np.asarray(class_map, dtype=np.float32)
    rows = np.arange(height) * cells.shape[0] // height
    cols = np.arange(width) * cells.shape[1] // width
    weight = alpha * np.clip(cells[rows][:, cols], 0.0, 1.0)[..., None]
    out = (1.0 - weight) * np.asarray(image, dtype=np.float32) + weight * np.asarray(colour, dtype=np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def erased_share(class_map: np.ndarray, erase: str, erase_threshold: float) -> float:
    """The share of B that RSAM removes in training: mean h (soft), or the cells with
    h >= erase_threshold (hard)."""
    class_map = np.asarray(class_map, dtype=np.float64)
    return float(class_map.mean() if erase == "soft" else (class_map >= erase_threshold).mean())


def attention_evidence(images: np.ndarray, maps: dict, erase: str = "soft", erase_threshold: float = 0.6) -> dict:
    """Figures from `DRANet.attention_maps(images, labels)` outputs (numpy arrays); `erase` and
    `erase_threshold` are the model's (they say how h erases).

    Returns {"channel_svg": str | None, "erase": str, "samples": [{"image", "overlay", "erased_share"}]}.
    """
    images = np.asarray(images)
    channel_masks = maps.get("channel_masks")
    class_map = maps.get("class_map")
    samples = []
    for index, image in enumerate(images):
        sample = {"image": png_data_uri(np.clip(image, 0, 255)), "overlay": None, "erased_share": None}
        if class_map is not None:
            sample["overlay"] = png_data_uri(class_map_overlay(image, class_map[index]))
            sample["erased_share"] = erased_share(class_map[index], erase, erase_threshold)
        samples.append(sample)
    return {
        "channel_svg": channel_mask_svg(np.asarray(channel_masks)) if channel_masks is not None else None,
        "erase": erase if erase == "soft" else f"hard, h ≥ {erase_threshold:g}",
        "samples": samples,
    }


def stratum_gain_svg(claim: dict) -> str:
    """C4's evidence: per hard/easy pair (and the occluded split), the difference-in-differences
    of dra - baseline mAP with its 95% interval over seeds; 0 = the gain is the same on hard and easy."""
    rows = [(f"occluded split - standard", c["interval"]) for c in claim["comparisons"]]
    rows += [(f"{s['axis']}: {s['hard']} - {s['easy']}", s["interval"]) for s in claim["strata"]]
    labels, means = [label for label, _ in rows], np.array([iv["mean"] for _, iv in rows], dtype=float)
    low = np.array([iv["low"] for _, iv in rows], dtype=float)
    high = np.array([iv["high"] for _, iv in rows], dtype=float)
    figure, axis = plt.subplots(figsize=(6.4, 0.5 + 0.45 * len(rows)))
    y = np.arange(len(rows))[::-1]
    errors = np.vstack([means - low, high - means])
    axis.errorbar(means, y, xerr=np.where(np.isfinite(errors), errors, 0), fmt="o", color=VARIANT_COLOURS["dra"], capsize=3)
    axis.axvline(0, color="#6e7781", linewidth=0.8)
    axis.set_yticks(y, labels)
    axis.set_xlabel("difference in (dra - baseline) mAP, hard minus easy (points; 95% interval over seeds)")
    figure.tight_layout()
    return figure_to_svg(figure)
