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
            head = handle.read(8)
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if not head.startswith(SIGNATURES):
        return f"is not a {FORMATS} file (TensorFlow cannot decode it, whatever its name)"
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


def content_digest(paths) -> str:
    """SHA-256 over the files' paths and bytes, in the given order: changes when any image
    changes under the same name (what DVC's dependency on the manifest alone would miss)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            digest.update(f"{path}\0".encode() + hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()
