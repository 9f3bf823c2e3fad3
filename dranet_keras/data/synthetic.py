"""A procedural person re-id data set, written to disk in Market-1501's layout.

Each identity is a distinct combination of shirt and trouser colours, a shirt texture, hair,
sleeve and trouser length, body build and an accessory (backpack, shoulder bag, hat). Each
camera has its own background, lighting (colour cast, brightness, shading), person scale and
position, blur, noise, mix of front/back views and rate of partial occlusion; every image adds
its own pose (leg and arm swing), jitter and, sometimes, an occluder. Retrieval across cameras
is therefore learnable but not trivial: a back view hides the shirt texture behind a backpack,
an occluder hides the trousers, a colour cast moves the hues, and many identities share some
attributes.

Every image's difficulty is recorded in `attributes.csv` beside the images (see
`ATTRIBUTES`, docs/formats.md): occluder and the share of the person it hides, view, whether a
backpack hides the shirt, the camera's lighting and blur, the person's scale and shift. With
`occluded_ids` the set also holds an occluded-query split in `occluded/` (Occluded-DukeMTMC's
protocol: its own test identities, every query occluded, a whole-body gallery).

Deterministic: every image is drawn from its own generator seeded by (seed, kind, pid, camera,
index), so the output does not depend on the order of rendering. Written atomically: the set
is rendered into a temporary sibling folder that replaces `root` when complete.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dranet_keras.data.records import Split
from dranet_keras.errors import UserError
from dranet_keras.io import atomic_path

MARKER = "synthetic.json"
ATTRIBUTES_FILE = "attributes.csv"
OCCLUDED_SPLIT = "occluded"  # <root>/occluded/{query,bounding_box_test}: the occluded-query split
# One row per image (path relative to the set's root): what made it hard.
ATTRIBUTES = (
    "path",
    "occluded",  # 0/1: an occluder was drawn
    "occluded_share",  # share of the person's pixels the occluder hides (0 when none)
    "back_view",  # 0/1: seen from the back
    "backpack_hides_shirt",  # 0/1: back view with a backpack over the shirt
    "brightness",  # the image's overall brightness factor (camera x per-image jitter; 1 = neutral)
    "colour_cast",  # largest deviation of the camera's per-channel gain from 1
    "blur",  # Gaussian blur radius applied (pixels; 0 when below 0.3, where none is applied)
    "scale",  # person height / image height
    "shift",  # horizontal offset of the person's centre / image width (0 = centred)
)
# Rendering version: bump when the pictures change, so cached sets are regenerated.
VERSION = 1

SHIRT_COLOURS = np.array(
    [
        (200, 30, 30), (235, 120, 20), (230, 200, 30), (40, 150, 50), (20, 160, 150), (60, 170, 230),
        (30, 60, 190), (25, 30, 80), (120, 40, 160), (230, 110, 170), (235, 235, 235), (40, 40, 40),
    ],
    dtype=np.float32,
)
TROUSER_COLOURS = np.array(
    [(25, 25, 30), (30, 40, 90), (70, 100, 160), (120, 120, 125), (180, 160, 110), (100, 65, 35), (225, 225, 220), (40, 80, 45)],
    dtype=np.float32,
)
HAIR_COLOURS = np.array([(20, 15, 10), (90, 55, 25), (210, 180, 100), (150, 150, 150)], dtype=np.float32)
SKIN_COLOURS = np.array([(240, 200, 170), (205, 155, 115), (150, 100, 70), (95, 60, 40)], dtype=np.float32)
ACCENT_COLOURS = np.array(
    [(250, 250, 250), (20, 20, 20), (220, 40, 40), (240, 210, 40), (40, 90, 200), (40, 160, 80)], dtype=np.float32
)
TEXTURES = ("plain", "horizontal_stripes", "vertical_stripes", "checks", "two_tone", "logo")
ACCESSORIES = ("none", "backpack", "shoulder_bag", "hat", "backpack_and_hat")


@dataclass(frozen=True)
class Identity:
    """What a person looks like, independent of the camera."""

    shirt: np.ndarray
    accent: np.ndarray
    texture: str
    trousers: np.ndarray
    shorts: bool
    long_sleeves: bool
    hair: np.ndarray
    long_hair: bool
    skin: np.ndarray
    accessory: str
    bag: np.ndarray
    build: float


@dataclass(frozen=True)
class Camera:
    """How one camera sees people."""

    wall: np.ndarray
    floor: np.ndarray
    horizon: float
    panel_period: float
    gain: np.ndarray
    brightness: float
    shading: float
    scale: float
    shift: float
    blur: float
    noise: float
    back_view: float
    occlusion: float


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _identity(code: int, rng: np.random.Generator) -> Identity:
    """Identity number `code` of the combinatorial attribute space, with continuous jitter."""
    code, shirt = divmod(code, len(SHIRT_COLOURS))
    code, trousers = divmod(code, len(TROUSER_COLOURS))
    code, texture = divmod(code, len(TEXTURES))
    code, accessory = divmod(code, len(ACCESSORIES))
    code, hair = divmod(code, len(HAIR_COLOURS))
    shorts, long_sleeves = divmod(code % 4, 2)

    def tone(colour):
        return np.clip(colour + rng.normal(0, 12, 3), 0, 255).astype(np.float32)

    return Identity(
        shirt=tone(SHIRT_COLOURS[shirt]),
        accent=tone(ACCENT_COLOURS[rng.integers(len(ACCENT_COLOURS))]),
        texture=TEXTURES[texture],
        trousers=tone(TROUSER_COLOURS[trousers]),
        shorts=bool(shorts),
        long_sleeves=bool(long_sleeves),
        hair=tone(HAIR_COLOURS[hair]),
        long_hair=bool(rng.random() < 0.3),
        skin=tone(SKIN_COLOURS[rng.integers(len(SKIN_COLOURS))]),
        accessory=ACCESSORIES[accessory],
        bag=tone(ACCENT_COLOURS[rng.integers(len(ACCENT_COLOURS))] * 0.6),
        build=float(rng.uniform(0.85, 1.2)),
    )


def _camera(rng: np.random.Generator) -> Camera:
    grey = rng.uniform(70, 190)
    return Camera(
        wall=np.clip(grey + rng.normal(0, 25, 3), 0, 255).astype(np.float32),
        floor=np.clip(rng.uniform(60, 160) + rng.normal(0, 15, 3), 0, 255).astype(np.float32),
        horizon=float(rng.uniform(0.55, 0.8)),
        panel_period=float(rng.uniform(0.15, 0.5)),
        gain=rng.uniform(0.82, 1.18, 3).astype(np.float32),
        brightness=float(rng.uniform(0.7, 1.25)),
        shading=float(rng.uniform(0.0, 0.35)),
        scale=float(rng.uniform(0.72, 0.95)),
        shift=float(rng.uniform(-0.12, 0.12)),
        blur=float(rng.uniform(0.0, 1.3)),
        noise=float(rng.uniform(2.0, 9.0)),
        back_view=float(rng.uniform(0.2, 0.7)),
        occlusion=float(rng.uniform(0.05, 0.35)),
    )


def _box(u, v, left, right, top, bottom):
    return (u >= left) & (u <= right) & (v >= top) & (v <= bottom)


def _shirt_pattern(texture: str, u, v, back: bool) -> np.ndarray:
    """Where the shirt shows its accent colour (texture drawn in body coordinates)."""
    if texture == "horizontal_stripes":
        return (v * 22) % 1 < 0.5
    if texture == "vertical_stripes":
        return (u * 22) % 1 < 0.5
    if texture == "checks":
        return ((v * 16) % 1 < 0.5) ^ ((u * 16) % 1 < 0.5)
    if texture == "two_tone":
        return v > 0.35
    if texture == "logo" and not back:
        return _box(u, v, -0.05, 0.05, 0.23, 0.31)
    return np.zeros(u.shape, dtype=bool)


def _render(identity: Identity, camera: Camera, rng: np.random.Generator, height: int, width: int, occlude: bool | None = None):
    """One image (height, width, 3) uint8 of `identity` seen by `camera`, and its attributes
    (`ATTRIBUTES` but the path). `occlude` forces the occluder on or off (None: the camera's
    rate decides); the random draws are the same either way up to that decision."""
    from PIL import Image, ImageFilter

    big_h, big_w = 2 * height, 2 * width  # render at 2x, then downsample: smooth edges
    ys, xs = np.mgrid[0:big_h, 0:big_w].astype(np.float32) + 0.5
    # Background: wall with panels above the horizon, floor below.
    wall = camera.wall + 18 * np.sign(np.sin(2 * np.pi * xs / (camera.panel_period * big_w)))[..., None]
    canvas = np.where((ys > camera.horizon * big_h)[..., None], camera.floor, wall)
    canvas += rng.normal(0, 6, 3).astype(np.float32)

    back = bool(rng.random() < camera.back_view)
    person_h = camera.scale * rng.uniform(0.94, 1.06) * big_h
    top = (big_h - person_h) * rng.uniform(0.2, 0.8)
    centre = big_w * (0.5 + camera.shift + rng.normal(0, 0.04))
    u, v = (xs - centre) / person_h, (ys - top) / person_h
    w = 0.11 * identity.build
    leg_swing, arm_swing = rng.uniform(-0.12, 0.12), rng.uniform(-0.25, 0.25)

    person = np.zeros(canvas.shape[:2], dtype=bool)

    def paint(mask, colour):
        canvas[mask] = colour
        person[mask] = True

    # Legs (trousers, skin below shorts), shoes.
    for side in (-1, 1):
        lu = u - side * leg_swing * np.clip(v - 0.52, 0, None)
        leg = _box(lu * side, v, 0.008, 0.8 * w, 0.5, 0.95)
        paint(leg, identity.trousers)
        if identity.shorts:
            paint(leg & (v > 0.68), identity.skin)
        paint(_box(lu * side, v, 0.0, 0.85 * w, 0.93, 0.99), np.float32([35, 30, 30]))
    # Arms (sleeves, hands).
    for side in (-1, 1):
        au = u * side - arm_swing * side * np.clip(v - 0.18, 0, None) * 0.4
        arm = _box(au, v, w, w + 0.045, 0.18, 0.48)
        paint(arm, identity.skin)
        paint(arm & (v < (0.44 if identity.long_sleeves else 0.28)), identity.shirt)
    # Torso with its texture, hips.
    torso = _box(u, v, -w, w, 0.17, 0.52)
    paint(torso, identity.shirt)
    paint(torso & _shirt_pattern(identity.texture, u, v, back), identity.accent)
    paint(_box(u, v, -w, w, 0.49, 0.56), identity.trousers)
    # Neck and head; hair covers the back of the head.
    paint(_box(u, v, -0.025, 0.025, 0.12, 0.18), identity.skin)
    head = (u / 0.055) ** 2 + ((v - 0.085) / 0.065) ** 2 <= 1
    paint(head, identity.hair if back else identity.skin)
    paint(head & (v < 0.055), identity.hair)
    if identity.long_hair:
        paint(_box(u, v, -0.065, 0.065, 0.06, 0.24) & (back | (np.abs(u) > 0.045)), identity.hair)
    # Accessories.
    if "hat" in identity.accessory:
        paint(_box(u, v, -0.07, 0.07, 0.01, 0.05), identity.bag)
    if "backpack" in identity.accessory:
        if back:
            paint(_box(u, v, -0.85 * w, 0.85 * w, 0.2, 0.46), identity.bag)
        else:
            paint(_box(np.abs(u), v, 0.5 * w, 0.5 * w + 0.018, 0.17, 0.36), identity.bag)
    if identity.accessory == "shoulder_bag":
        side = -1 if back else 1
        paint(_box(u * side, v, w, w + 0.08, 0.42, 0.54), identity.bag)
        paint(torso & (np.abs(u * side - (0.9 * (v - 0.17) - w)) < 0.013), identity.bag)
    # Partial occlusion by a parked object (bottom) or a passer-by (side).
    occluded = rng.random() < camera.occlusion
    occluder = np.zeros_like(person)
    if occluded if occlude is None else occlude:
        colour = rng.uniform(20, 230, 3).astype(np.float32)
        if rng.random() < 0.5:
            occluder = ys > big_h * rng.uniform(0.55, 0.8)
        else:
            edge = big_w * rng.uniform(0.25, 0.4)
            occluder = xs < edge if rng.random() < 0.5 else xs > big_w - edge
        canvas[occluder] = colour
    # Lighting: colour cast, brightness, vertical shading, sensor noise.
    jitter = rng.uniform(0.92, 1.08)
    light = camera.gain * camera.brightness * jitter
    canvas *= light * (1 - camera.shading * ys / big_h)[..., None]
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * camera.noise
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).resize((width, height), Image.BOX)
    blur = camera.blur * rng.uniform(0.7, 1.3)
    attributes = {
        "occluded": int(occluder.any()),
        "occluded_share": round(float((occluder & person).sum() / max(person.sum(), 1)), 4),
        "back_view": int(back),
        "backpack_hides_shirt": int(back and "backpack" in identity.accessory),
        "brightness": round(camera.brightness * float(jitter), 4),
        "colour_cast": round(float(np.max(np.abs(camera.gain - 1.0))), 4),
        "blur": round(float(blur) if blur > 0.3 else 0.0, 4),
        "scale": round(float(person_h / big_h), 4),
        "shift": round(float(centre / big_w - 0.5), 4),
    }
    return np.asarray(image.filter(ImageFilter.GaussianBlur(blur)) if blur > 0.3 else image), attributes


@dataclass(frozen=True)
class SyntheticSpec:
    """Size and seed of a synthetic set (what `synthetic.json` records). These defaults are
    also DataConfig's `synthetic_*` defaults. Sized for the 2-core demo (4 variants trained from
    scratch in <= 15 min at 128x64)."""

    train_ids: int = 64
    test_ids: int = 50
    cameras: int = 6
    images_per_camera: int = 2
    distractors: int = 25
    occluded_ids: int = 0  # identities of the occluded-query split (0: none)
    height: int = 128
    width: int = 64
    seed: int = 0
    version: int = VERSION


def _write_jpeg(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=92)
    path.write_bytes(buffer.getvalue())


def _render_identity(job) -> list[dict]:
    """Write the shots of one identity; their attribute rows."""
    staging, spec, identity, shots = job
    rows = []
    for name, camera, rng, occlude in shots:
        pixels, attributes = _render(identity, camera, rng, spec.height, spec.width, occlude)
        _write_jpeg(staging / name, pixels)
        rows.append({"path": name, **attributes})
    return rows


def check_replaceable(root: str | Path) -> None:
    """Refuse a `root` the generator did not create: only a missing path, an empty folder or a
    folder holding our marker may be replaced (a user's data set must never be deleted)."""
    root = Path(root)
    if not (root.exists() or root.is_symlink()):
        return
    if root.is_dir() and not root.is_symlink() and ((root / MARKER).is_file() or not any(root.iterdir())):
        return
    raise UserError(
        f"data.root {root} exists and is not a synthetic set made by dranet (no {MARKER} in it); "
        f"refusing to replace it. For a real data set set data.name (e.g. --set data.name=market1501); "
        f"for the synthetic one choose another data.root"
    )


def _codes(spec: SyntheticSpec) -> tuple[list[int], list[int]]:
    """Attribute-space codes of the main set's identities (train, test, distractors), and of
    the occluded split's: a stream of its own, minus the main set's codes."""
    space = len(SHIRT_COLOURS) * len(TROUSER_COLOURS) * len(TEXTURES) * len(ACCESSORIES) * len(HAIR_COLOURS) * 4
    num_ids = spec.train_ids + spec.test_ids + spec.distractors
    codes = [int(c) for c in _rng(spec.seed, 0).choice(space, size=num_ids, replace=False)]
    taken = set(codes)
    extra = [int(c) for c in _rng(spec.seed, 5).choice(space, size=num_ids + spec.occluded_ids, replace=False) if c not in taken]
    return codes, extra[: spec.occluded_ids]


def generate(root: str | Path, spec: SyntheticSpec) -> Path:
    """Render the set described by `spec` into `root` and return it. `root` must be missing,
    empty or an earlier synthetic set (see `check_replaceable`); that is replaced.

    Layout: `bounding_box_train` (train ids 1..T, every camera, `images_per_camera` each),
    `query` (the first image of each test id in each camera), `bounding_box_test` (the other
    images of the test ids, plus `distractors` one-off people with pid 0), `attributes.csv`,
    `synthetic.json`; with `occluded_ids`, `occluded/query` (each of those identities' first
    image per camera, always occluded) and `occluded/bounding_box_test` (the others, never
    occluded), the identities disjoint from the main set's, the cameras the same.
    """
    root = Path(root)
    check_replaceable(root)
    if spec.cameras < 2 or spec.images_per_camera < 2 or spec.train_ids < 1 or spec.test_ids < 1:
        raise ValueError("synthetic set: need >= 2 cameras, >= 2 images per camera, >= 1 train and test id")
    num_ids = spec.train_ids + spec.test_ids + spec.distractors
    codes, extra = _codes(spec)
    identities = [_identity(code, _rng(spec.seed, 1, i)) for i, code in enumerate(codes)]
    cameras = [_camera(_rng(spec.seed, 2, c)) for c in range(spec.cameras)]

    jobs, frame = [], 0
    for index, identity in enumerate(identities):
        pid = index + 1 if index < spec.train_ids + spec.test_ids else 0
        views = (
            [(c, k) for c in range(spec.cameras) for k in range(spec.images_per_camera)]
            if pid
            else [(int(_rng(spec.seed, 3, index).integers(spec.cameras)), 0)]
        )
        shots = []
        for camera, k in views:
            frame += 1
            if 0 < pid <= spec.train_ids:
                folder = "bounding_box_train"
            else:
                folder = "query" if pid and k == 0 else "bounding_box_test"
            name = f"{folder}/{pid:04d}_c{camera + 1}s1_{frame:06d}_{k:02d}.jpg"
            shots.append((name, cameras[camera], _rng(spec.seed, 4, index, camera, k), None))
        jobs.append((identity, shots))
    # The occluded-query split: identities of their own (a stream of codes of its own, minus the
    # main set's), pids after the main set's; queries always occluded, the gallery never.
    for offset, code in enumerate(extra):
        index = num_ids + offset
        pid = spec.train_ids + spec.test_ids + 1 + offset
        identity = _identity(code, _rng(spec.seed, 1, index))
        shots = []
        for camera in range(spec.cameras):
            for k in range(spec.images_per_camera):
                frame += 1
                folder = f"{OCCLUDED_SPLIT}/{'query' if k == 0 else 'bounding_box_test'}"
                name = f"{folder}/{pid:04d}_c{camera + 1}s1_{frame:06d}_{k:02d}.jpg"
                shots.append((name, cameras[camera], _rng(spec.seed, 4, index, camera, k), k == 0))
        jobs.append((identity, shots))

    with atomic_path(root, directory=True) as staging:
        folders = ["bounding_box_train", "query", "bounding_box_test"]
        if spec.occluded_ids:
            folders += [f"{OCCLUDED_SPLIT}/query", f"{OCCLUDED_SPLIT}/bounding_box_test"]
        for folder in folders:
            (staging / folder).mkdir(parents=True)
        # Rendering is numpy- and Pillow-bound: one process per core ("spawn", so a parent that
        # has started TensorFlow's threads is never forked).
        workers = max(1, min(len(os.sched_getaffinity(0)), 8))
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            rows = [row for rendered in pool.map(_render_identity, [(staging, spec, *job) for job in jobs], chunksize=8) for row in rendered]
        write_attributes(staging / ATTRIBUTES_FILE, sorted(rows, key=lambda row: row["path"]))
        (staging / MARKER).write_text(json.dumps(asdict(spec), indent=2) + "\n")
    return root


def write_attributes(path: Path, rows: list[dict]) -> None:
    """The attribute table (`ATTRIBUTES` columns), one row per image."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ATTRIBUTES)
        writer.writeheader()
        writer.writerows(rows)


def read_attributes(path: str | Path) -> dict[str, dict]:
    """`attributes.csv` as {path: {attribute: number}}."""
    with open(path, newline="") as handle:
        return {row.pop("path"): {key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)}


def is_generated(root: str | Path, spec: SyntheticSpec) -> bool:
    """Whether `root` holds exactly the set `spec` describes (its attributes included)."""
    marker = Path(root) / MARKER
    try:
        return (Path(root) / ATTRIBUTES_FILE).is_file() and json.loads(marker.read_text()) == asdict(spec)
    except (OSError, ValueError):
        return False


def load_synthetic(root: str | Path, **spec) -> Split:
    """The synthetic set at `root` as a Split, generating it first unless already there.

    `spec` are the fields of `SyntheticSpec` (train_ids, test_ids, cameras, ...).
    """
    from dranet_keras.data.datasets.market1501 import read_market_layout

    wanted = SyntheticSpec(**spec)
    if not is_generated(root, wanted):
        generate(root, wanted)
    return read_market_layout(root)


def read_occluded_images(root: str | Path) -> Split:
    """The occluded split's own images at `root` (generated with `occluded_ids`): its occluded
    queries and its identities' whole-body gallery images. No training images."""
    from dranet_keras.data.datasets.market1501 import read_market_layout

    return read_market_layout(Path(root) / OCCLUDED_SPLIT, train_folder=None)


def occluded_split_stats(own: Split) -> dict:
    """What stats.json records of the occluded split `own`: its sizes and its images' content."""
    from dranet_keras.data.images import content_digest

    return {"query": len(own.query), "gallery": len(own.gallery), "images_sha256": content_digest(sorted(r.path for r in own.query + own.gallery))}


def occluded_gallery(own: Split, main: Split) -> list:
    """The gallery the occluded queries search: their identities' whole-body images, then
    `main`'s gallery (as Occluded-DukeMTMC's queries search the whole test gallery)."""
    return own.gallery + main.gallery


def identity_codes(spec: SyntheticSpec) -> set[int]:
    """The attribute-space codes of the set's identities (the main set's and the occluded
    split's): two sets whose codes are disjoint share no person."""
    codes, extra = _codes(spec)
    return set(codes) | set(extra)


def query_attributes(root: str | Path, records) -> list[dict] | None:
    """The attribute rows of `records` (images of the synthetic set at `root`), in their order;
    None when `root` has no attributes file (a real data set, or a set made before it existed)."""
    table_path = Path(root) / ATTRIBUTES_FILE
    if not table_path.is_file():
        return None
    relative = [os.path.relpath(record.path, root) for record in records]
    if any(path.startswith("..") for path in relative):  # images of another set than the one at `root`
        return None
    table = read_attributes(table_path)
    try:
        return [table[path] for path in relative]
    except KeyError as missing:
        raise UserError(f"{table_path}: no attributes for image {missing}; regenerate the set (dranet prepare)") from None
