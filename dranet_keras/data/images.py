"""The one image check of every stage: a format TensorFlow's `tf.io.decode_image` reads (by its
first bytes, whatever the file is named), a pixel count under the limit, a complete decode.

Pillow does the work here so that `dranet prepare` and `dranet embed` need not start
TensorFlow; the signatures are those of the formats the tf.data pipeline decodes.
"""

from __future__ import annotations

import hashlib

# First bytes of JPEG, PNG, BMP and GIF: what tf.io.decode_image reads (not WebP, TIFF, ...).
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"BM", b"GIF8")
FORMATS = "JPEG/PNG/BMP/GIF"


def image_problem(path, max_pixels: int, decode: bool = True) -> str | None:
    """Why the image at `path` cannot be used (one short phrase), or None when it can.

    `decode=False` checks only the header (format and size), which is cheap.
    """
    from PIL import Image

    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if not head.startswith(SIGNATURES):
        return f"is not a {FORMATS} file (TensorFlow cannot decode it, whatever its name)"
    bits = _bmp_bits(head)
    if bits is not None and bits not in (24, 32):
        # tf.io.decode_bmp returns a palette BMP's indices as grey and fails on 1-bit ones
        return f"is a {bits}-bit BMP, which TensorFlow decodes wrongly; save it as a 24-bit BMP, PNG or JPEG"
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                return f"has {width}x{height} pixels, more than data.max_image_pixels={max_pixels}"
            if decode:
                image.load()
    except Image.DecompressionBombError as error:  # Pillow refuses before telling the size
        return f"has more pixels than data.max_image_pixels={max_pixels} allows ({error})"
    except (OSError, SyntaxError, ValueError) as error:
        return f"cannot be decoded ({error})"
    return None


def _bmp_bits(head: bytes) -> int | None:
    """Bits per pixel of a BMP from its first 32 bytes (None: not a BMP, or too short)."""
    if not head.startswith(b"BM") or len(head) < 30:
        return None
    offset = 24 if int.from_bytes(head[14:18], "little") == 12 else 28  # OS/2 1.x header, else Windows
    return int.from_bytes(head[offset : offset + 2], "little")


def content_digest(paths) -> str:
    """SHA-256 over the files' paths and bytes, in the given order: changes when any image
    changes under the same name (what DVC's dependency on the manifest alone would miss)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            digest.update(f"{path}\0".encode() + hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()
