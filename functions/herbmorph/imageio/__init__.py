"""Loading and validating input images: the one place bytes become an RGB array.

Every stage and every adapter (CLI, OSCAR handler, embedded runtime, DEEPaaS, batch) loads images
through :func:`load_image`, so the same file is accepted or refused the same way everywhere, with
the same ``kind`` in the ``herbmorph/error/1`` document.

Guarantees of :func:`load_image`
-------------------------------
* The bytes are read once (a path is ``stat``-ed first, so an over-size file is refused before it
  is read) and hashed; ``info.sha256`` is the SHA-256 of those original bytes.
* The content decides the format, never the file name. Only a fixed allow-list of Pillow formats is
  tried (:data:`SUPPORTED_FORMATS`), so e.g. EPS (which would start Ghostscript) is never opened.
* The pixel count is checked from the header, before any pixel is decoded.
  ``PIL.Image.MAX_IMAGE_PIXELS`` is raised to at least ``max_pixels`` (never lowered), so Pillow's
  own decompression-bomb guard stays on but only ever fires above our limit; when it does fire
  (more than twice the limit) it is reported as our ``decompression-bomb``.
* Truncated data is an error, never grey fill: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced back
  to ``False`` if anything in the process turned it on.
* The array is H x W x 3 ``uint8`` RGB in the *displayed* orientation (EXIF/TIFF orientation
  applied), and ``info.width`` / ``info.height`` are the displayed ones.
* Conversions to RGB (grey, palette, CMYK, LAB, alpha, 16/32-bit, float) follow the rules in
  :mod:`.convert`; each non-trivial one adds a line to ``LoadedImage.warnings``.
* Multi-page TIFF: the largest page (by pixel count, first one on ties) is used. Other multi-frame
  formats (animated GIF/WebP/PNG, MPO) use their first frame.
* TIFFs that Pillow cannot decode (float RGB, unusual sample layouts, ...) are read with
  ``tifffile`` when it is installed; otherwise they are refused as ``unsupported-mode``.

Error kinds (``InputError.kind``)
---------------------------------
``empty``, ``too-large``, ``not-an-image``, ``truncated``, ``too-small``, ``decompression-bomb``,
``unsupported-mode``; and for paths only, ``not-found`` (no such file) and ``unreadable`` (e.g.
permission denied). An :class:`InputError` raised here carries ``image_info`` (an
:class:`ImageInfo` with whatever was known: uri, size, sha256, declared dimensions) for the error
document; :func:`describe` gives the same best-effort information without raising.

Modules, each importing only those listed before it
----------------------------------------------------
``formats`` (the allow-list, sniffing the first bytes), ``diagnose`` (failures -> ``InputError``
kinds and messages), ``read`` (a source's bytes under the byte limit), ``convert`` (any mode ->
``uint8`` RGB), ``tiff`` (the ``tifffile`` fallback), ``decode`` (Pillow: header checks, frame,
orientation), ``header`` (:func:`describe`), ``load`` (:func:`load_image`).

Only Pillow and numpy are imported here (``tifffile`` lazily), so the area stage stays light.
"""
from __future__ import annotations

from .formats import SUPPORTED_FORMATS
from .header import DESCRIBE_HASH_LIMIT, describe
from .load import LoadedImage, load_image
from .read import BYTES_URI, Source, sha256_bytes

__all__ = [
    "BYTES_URI",
    "DESCRIBE_HASH_LIMIT",
    "SUPPORTED_FORMATS",
    "LoadedImage",
    "Source",
    "describe",
    "load_image",
    "sha256_bytes",
]
