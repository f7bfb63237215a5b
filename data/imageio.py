"""Reading and writing images the same way everywhere.

Every image is handed to the rest of the pipeline as ``uint8`` RGB, ``(H, W, 3)``, whatever is on
disk: grayscale, palette, RGBA (alpha dropped) and 16-bit PNGs are converted, and JPEG EXIF
orientation is applied, so the size we report is the size a viewer (and ultralytics) shows.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from blendaug.data.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# Pillow refuses huge images by default as a decompression-bomb guard; aerial mosaics can be big.
Image.MAX_IMAGE_PIXELS = 30_000 * 30_000
# Above that limit Pillow only warns (it raises above twice the limit) and would then allocate the
# pixels. Make the warning an error, so a bomb's header is refused before anything is decoded.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


# EXIF orientation -> the transpose that displays the image upright (as PIL.ImageOps.exif_transpose).
_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


@contextlib.contextmanager
def _readable(name: str) -> Iterator[None]:
    """Turn Pillow's many ways of failing on a bad file into one DataError naming it."""
    try:
        yield
    except DataError:
        raise
    except FileNotFoundError as e:
        raise DataError(f"{name}: image file not found") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{name}: refused as a possible decompression bomb ({e})") from e
    except UnidentifiedImageError as e:
        raise DataError(f"{name}: not a readable image (not in an image format Pillow knows)") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{name}: not a readable image ({type(e).__name__}: {e})") from e


def _reopen(source: str | os.PathLike | bytes, name: str) -> Image.Image:
    """``Image.open`` on a path or bytes, refusing empty input up front."""
    if isinstance(source, bytes):
        if not source:
            raise DataError(f"{name}: empty image data")
        return _not_a_bomb(Image.open(io.BytesIO(source)), name)
    if os.path.getsize(source) == 0:
        raise DataError(f"{name}: zero-byte image file")
    return _not_a_bomb(Image.open(source), name)


def _not_a_bomb(img: Image.Image, name: str) -> Image.Image:
    """Refuse an image whose header declares more pixels than the limit, before any pixel is decoded.

    Pillow itself only warns between the limit and twice the limit, and warning filters can be reset
    (pytest does, per test), so the limit is checked here as well.
    """
    width, height = img.size
    if Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS:
        img.close()
        raise DataError(f"{name}: refused as a possible decompression bomb (the header declares {width}x{height} "
                        f"pixels, over the limit of {Image.MAX_IMAGE_PIXELS})")
    return img


def _open(source: str | os.PathLike | bytes, name: str) -> Image.Image:
    with _readable(name):
        img = _reopen(source, name)
        img.load()
    return img


def _to_rgb8(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit (or 32-bit) grayscale: scale the full range down to 8 bits instead of clipping.
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = np.clip(np.round(arr * (255.0 / peak)), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.array(img, dtype=np.uint8)  # a writable copy (np.asarray would be a read-only view of bytes)


def load_image_rgb(source: str | os.PathLike | bytes, name: str | None = None) -> np.ndarray:
    """Load an image file (or encoded bytes) as a new, writable ``uint8`` RGB ``(H, W, 3)`` array, upright.

    16-bit PNGs are read with OpenCV, which keeps all 16 bits per channel (Pillow cannot for RGB).

    Raises:
        DataError: the file is missing, empty or not an image; the message names it.
    """
    name = name or str(source)
    if not isinstance(source, bytes) and str(source).lower().endswith(".png"):
        with _readable(name):
            _reopen(source, name).close()  # the header only: refuses a bomb before OpenCV allocates it
        raw = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
        if raw is not None and raw.dtype == np.uint16:
            rgb = raw if raw.ndim == 2 else raw[:, :, :3][:, :, ::-1]
            rgb8 = np.round(rgb.astype(np.float64) / 257.0).astype(np.uint8)
            if rgb8.ndim == 2:
                rgb8 = np.repeat(rgb8[:, :, None], 3, axis=2)
            # OpenCV's IMREAD_UNCHANGED ignores EXIF; apply it as image_size() does, so the two agree.
            orientation = _open(source, name).getexif().get(0x0112, 1)
            if orientation in _EXIF_TRANSPOSE:
                rgb8 = np.asarray(Image.fromarray(rgb8).transpose(_EXIF_TRANSPOSE[orientation]))
            return np.ascontiguousarray(rgb8)
    if not isinstance(source, bytes) and str(source).lower().endswith((".jpg", ".jpeg")):
        source = _read_bytes(source, name)  # read once: the fast path and Pillow share these bytes
    if isinstance(source, bytes):
        fast = _decode_jpeg(source)
        if fast is not None:
            return fast
    img = _open(source, name)
    img = ImageOps.exif_transpose(img)
    return _to_rgb8(img)


def _read_bytes(path: str | os.PathLike, name: str) -> bytes:
    with _readable(name):
        data = Path(path).read_bytes()
    if not data:
        raise DataError(f"{name}: zero-byte image file")
    return data


def _decode_jpeg(data: bytes) -> np.ndarray | None:
    """Decode a complete, upright RGB or grayscale JPEG with OpenCV; None for anything else.

    OpenCV's libjpeg-turbo decodes straight into one RGB array, about twice as fast as Pillow's
    decode plus its copies, with the same pixels (tested). Everything it would treat differently
    goes the Pillow way: other formats, CMYK, an EXIF rotation, and a truncated file (no end
    marker), which OpenCV would fill with grey instead of refusing.
    """
    if not (data.startswith(b"\xff\xd8") and data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9")):
        return None
    try:
        header = Image.open(io.BytesIO(data))
        if header.format != "JPEG" or header.mode not in ("RGB", "L") or header.getexif().get(0x0112, 1) != 1:
            return None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        return None  # Pillow's path below reports it (a bomb is refused there, from the header)
    rgb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    if rgb is None or (rgb.shape[1], rgb.shape[0]) != header.size:
        return None
    return rgb


def image_size(source: str | os.PathLike | bytes, name: str | None = None) -> tuple[int, int]:
    """Return ``(width, height)`` after EXIF rotation, decoding only the header where possible.

    Raises:
        DataError: the file is missing, empty or not an image.
    """
    name = name or str(source)
    with _readable(name):
        # verify() catches corrupt files without a full decode, but must come straight after open().
        _reopen(source, name).verify()
        img = _reopen(source, name)
        width, height = img.size
        orientation = img.getexif().get(0x0112, 1)
    # Orientations 5-8 swap width and height (rotations by 90 or 270 degrees).
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def encode_image(image_rgb: np.ndarray, suffix: str = ".png", jpeg_quality: int = 95) -> bytes:
    """Encode ``uint8`` RGB to PNG or JPEG bytes, deterministically (same array, same bytes)."""
    suffix = suffix.lower()
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    elif suffix == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    image = np.ascontiguousarray(image_rgb)
    # cvtColor swaps the channels several times faster than a copy of the reversed numpy view.
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 and image.shape[2] == 3 else image
    ok, buf = cv2.imencode(suffix, bgr, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode an image as {suffix}")
    return buf.tobytes()


def save_image(path: str | os.PathLike, image_rgb: np.ndarray, jpeg_quality: int = 95) -> None:
    """Write ``uint8`` RGB to ``path``; the format follows the suffix.

    A plain write: stages write whole folders inside :func:`data.atomic.atomic_dir`, which is what
    makes them atomic. Use ``atomic_write_bytes(path, encode_image(...))`` for a lone file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_image(image_rgb, path.suffix, jpeg_quality))


def load_mask(data: bytes, name: str) -> np.ndarray:
    """Decode an encoded mask image (labelme's base64 PNG masks) to ``(H, W)`` bool: any non-zero channel.

    Raises:
        DataError: empty, not an image, or a decompression bomb; the message names ``name``.
    """
    img = _open(data, name)
    arr = np.asarray(img)
    return arr.any(axis=2) if arr.ndim == 3 else arr.astype(bool)
