"""Pascal VOC XML: labelImg's default format (the seed paper labelled with it), also CVAT's and Roboflow's VOC exports.

Rules:

- Every ``*.xml`` under the folder (recursively) is one image's annotation; its root element must be
  ``<annotation>``. A single ``.xml`` file can be given too. Images without an XML are left out (counted),
  since labelImg writes none for an image nobody labelled.
- The image is found, first hit wins: ``images_dir/<filename>`` when ``images_dir`` is given (and only
  there); otherwise beside the XML (``<filename>``, then the XML's own name with an image suffix, as
  labelImg names them), then ``../JPEGImages/``, ``../images/`` (the VOC devkit and split layouts).
  ``<path>`` is not used: labelImg writes the labelling machine's absolute path there.
- ``<bndbox>`` corners are pixel edges, as labelImg draws, reads and converts them to YOLO. (The VOC devkit
  counts pixels from 1, which would move a box by at most one pixel; blendaug does not shift it.)
  Boxes are clipped to the image (counted); the image's own size wins over ``<size>`` (counted).
- ``<difficult>1</difficult>`` is kept as a flag when parsing; such objects are left out of the dataset with a
  counted warning unless ``keep_difficult``. Class names are the sorted set of every ``<object><name>``
  (difficult ones too, so ids do not change with ``keep_difficult``), or ``names`` in that order.
- Splits: an XML under a top folder named ``train``, ``valid``/``val`` or ``test`` (Roboflow's layout) goes
  to that split; everything else to ``train``.
- XML is parsed with defusedxml: a file that declares entities (the "billion laughs" expansion) or refers to
  external files is an error, not a hang.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as SafeET
import numpy as np

from blendaug.data.errors import DataError, Warnings
from blendaug.data.imageio import IMAGE_SUFFIXES, image_size, is_image_file
from blendaug.data.model import Dataset, ImageRecord, clip_boxes

SPLIT_FOLDERS = {"train": "train", "valid": "val", "val": "val", "test": "test"}


@dataclass
class VocObject:
    name: str
    box_xyxy_px: np.ndarray  # (4,) as written, before clipping
    difficult: bool
    element: str  # e.g. "annotation/object[2]", for messages


@dataclass
class VocFile:
    filename: str | None
    size: tuple[int, int] | None  # (width, height) from <size>, when present
    objects: list[VocObject]


def _text(elem: ET.Element, tag: str, at: str, path: Path, required: bool = True) -> str | None:
    child = elem.find(tag)
    if child is None or child.text is None or not child.text.strip():
        if required:
            raise DataError(f"{path}: {at}/{tag}: missing or empty")
        return None
    return child.text.strip()


def _number(elem: ET.Element, tag: str, at: str, path: Path) -> float:
    text = _text(elem, tag, at, path)
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}: {at}/{tag}: not a number: {text!r}") from None
    if not np.isfinite(value):
        raise DataError(f"{path}: {at}/{tag}: not a finite number: {text!r}")
    return value


def parse_voc_xml(path: Path) -> VocFile:
    """Parse one VOC XML file (defused: no entities, no external references).

    Raises:
        DataError: naming the file and the XML element for malformed XML, a forbidden entity, a missing
            ``<name>`` or ``<bndbox>`` corner, or a corner that is not a number.
    """
    try:
        root = SafeET.parse(path).getroot()
    except defusedxml.DefusedXmlException as e:
        raise DataError(f"{path}: refused: the XML declares entities or external references ({type(e).__name__}); "
                        "VOC annotations need none") from None
    except ET.ParseError as e:
        raise DataError(f"{path}: not valid XML ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if root.tag != "annotation":
        raise DataError(f"{path}: <{root.tag}>: expected a Pascal VOC <annotation> root element")
    size = None
    size_elem = root.find("size")
    if size_elem is not None and size_elem.find("width") is not None:
        w, h = _number(size_elem, "width", "annotation/size", path), _number(size_elem, "height", "annotation/size",
                                                                              path)
        size = (int(w), int(h))
    objects = []
    for i, obj in enumerate(root.findall("object"), start=1):
        at = f"annotation/object[{i}]"
        name = _text(obj, "name", at, path)
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise DataError(f"{path}: {at}/bndbox: missing (only boxes are read)")
        box = np.array([_number(bndbox, t, f"{at}/bndbox", path) for t in ("xmin", "ymin", "xmax", "ymax")])
        difficult = _text(obj, "difficult", at, path, required=False)
        if difficult not in (None, "0", "1"):
            raise DataError(f"{path}: {at}/difficult: expected 0 or 1, got {difficult!r}")
        objects.append(VocObject(name=name, box_xyxy_px=box, difficult=difficult == "1", element=at))
    return VocFile(filename=_text(root, "filename", "annotation", path, required=False), size=size, objects=objects)


def _image_for(xml: Path, voc: VocFile, images_dir: Path | None) -> Path:
    names = [voc.filename] if voc.filename else []
    if images_dir is not None:
        candidates = [images_dir / n for n in names] + [images_dir / (xml.stem + s) for s in IMAGE_SUFFIXES]
    else:
        beside = [xml.parent / n for n in names] + [xml.with_suffix(s) for s in IMAGE_SUFFIXES]
        up = [xml.parent.parent / d / n for d in ("JPEGImages", "images") for n in names]
        candidates = beside + up
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        looked = ", ".join(sorted({str(c.parent) for c in candidates}))
        raise DataError(f"{xml}: annotation/filename: image {voc.filename!r} not found (looked in {looked})")
    return found


def _split_and_base(xml: Path, src: Path) -> tuple[str, Path]:
    parts = xml.relative_to(src).parts
    if len(parts) > 1 and parts[0].lower() in SPLIT_FOLDERS:
        return SPLIT_FOLDERS[parts[0].lower()], src / parts[0]
    return "train", src


def _read_one(xml, src, images_dir, keep_difficult, skip_bad, warnings):
    """``(ImageRecord without boxes, [(name, box)])`` of one XML file."""
    voc = parse_voc_xml(xml)
    image = _image_for(xml, voc, images_dir)
    width, height = image_size(image)
    if voc.size is not None and voc.size != (width, height) and voc.size != (0, 0):
        warnings.add("VOC <size> differs from the image (the image wins)",
                     f"{xml}: annotation/size says {voc.size[0]}x{voc.size[1]}, {image} is {width}x{height}")
    split, base = _split_and_base(xml, src)
    resolved = image.resolve()
    rel = resolved.relative_to(base.resolve()) if resolved.is_relative_to(base.resolve()) else Path(image.name)
    labeled = []
    for obj in voc.objects:
        at = f"{xml}: {obj.element}"
        if obj.difficult and not keep_difficult:
            warnings.add("VOC difficult object left out (pass --keep-difficult to train on it)",
                         f"{at} ({obj.name!r}) is marked difficult")
            continue
        box = obj.box_xyxy_px
        clipped = clip_boxes(box, width, height)[0]
        problem = None
        if box[2] <= box[0] or box[3] <= box[1]:
            problem = ("zero-area VOC box skipped", f"{at}/bndbox: zero-area box {box.tolist()}")
        elif clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            problem = ("VOC box outside the image skipped",
                       f"{at}/bndbox: box {box.tolist()} is outside the {width}x{height} image")
        if problem is not None:
            if not skip_bad:
                raise DataError(problem[1])
            warnings.add(*problem, skipped=True)
            continue
        if not np.array_equal(clipped, box):
            warnings.add("VOC box clipped to the image", f"{at}/bndbox: box {box.tolist()} clipped")
        labeled.append((obj.name, clipped))
    rec = ImageRecord(path=image, width=width, height=height, split=split, rel_path=rel)
    return rec, labeled, [o.name for o in voc.objects]


def read_voc(
    src: str | os.PathLike,
    names: list[str] | None = None,
    skip_bad: bool = False,
    warnings: Warnings | None = None,
    images_dir: str | os.PathLike | None = None,
    keep_difficult: bool = False,
) -> Dataset:
    """Read a folder of Pascal VOC XML files (or one file); see the module docstring for the rules.

    Args:
        names: class names in id order; an object name not in it is an error (skipped with ``skip_bad``).
        skip_bad: skip bad files and boxes, counting them in ``warnings``.
        images_dir: the folder every ``<filename>`` is in (default: beside the XML, see the rules).
        keep_difficult: train on objects marked ``<difficult>1</difficult>`` too.

    Raises:
        DataError: naming the XML file and element.
    """
    src = Path(src)
    warnings = warnings if warnings is not None else Warnings()
    images_dir = Path(images_dir) if images_dir is not None else None
    if src.is_file():
        files, root = [src], src.parent
    elif src.is_dir():
        files, root = sorted(p for p in src.rglob("*.xml") if p.is_file()), src
    else:
        raise DataError(f"{src}: no such file or folder")
    if not files:
        raise DataError(f"{src}: no Pascal VOC .xml files found")
    parsed, seen_names, owner = [], set(), {}
    for xml in files:
        try:
            rec, labeled, object_names = _read_one(xml, root, images_dir, keep_difficult, skip_bad, warnings)
            if rec.path.resolve() in owner:
                raise DataError(f"{xml}: image {rec.path} is already labeled by {owner[rec.path.resolve()]}")
        except DataError as e:
            if not skip_bad:
                raise
            warnings.add("bad VOC file skipped", str(e), skipped=True)
            continue
        owner[rec.path.resolve()] = xml
        seen_names.update(object_names)
        parsed.append((rec, labeled, xml))
    if src.is_dir() and images_dir is None:
        for img in sorted(p for p in src.rglob("*") if p.is_file() and is_image_file(p)):
            if img.resolve() not in owner:
                warnings.add("image without a VOC XML left out", str(img))
    names = list(names) if names else sorted(seen_names)
    if not names:
        raise DataError(f"{src}: no <object> in any file, so no class names (pass --names)")
    index = {n: i for i, n in enumerate(names)}
    images = []
    for rec, labeled, xml in parsed:
        boxes, ids = [], []
        for name, box in labeled:
            if name not in index:
                message = f"{xml}: <name> {name!r} is not in the class names {names}"
                if not skip_bad:
                    raise DataError(message)
                warnings.add("VOC object not in the class names skipped", message, skipped=True)
                continue
            boxes.append(box)
            ids.append(index[name])
        rec.boxes_xyxy_px = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        rec.class_ids = np.asarray(ids, dtype=np.int64)
        images.append(rec)
    if not images:
        raise DataError(f"{src}: no usable VOC files")
    return Dataset(names=names, images=images, root=src)
