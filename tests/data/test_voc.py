"""Pascal VOC XML (labelImg): boxes, difficult, image lookup, splits, and bad files named by element."""

from __future__ import annotations

import numpy as np
import pytest

from blendaug.data.errors import DataError, Warnings
from blendaug.data.imageio import save_image
from blendaug.data.voc import parse_voc_xml, read_voc


def voc_xml(filename: str, objects: list[tuple], size=(100, 80), folder="images", extra: str = "") -> str:
    """labelImg's layout; ``objects`` are ``(name, xmin, ymin, xmax, ymax[, difficult])``."""
    objs = "".join(
        f"\n\t<object>\n\t\t<name>{o[0]}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n"
        f"\t\t<difficult>{o[5] if len(o) > 5 else 0}</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{o[1]}</xmin>\n"
        f"\t\t\t<ymin>{o[2]}</ymin>\n\t\t\t<xmax>{o[3]}</xmax>\n\t\t\t<ymax>{o[4]}</ymax>\n\t\t</bndbox>\n\t</object>"
        for o in objects)
    return (f"<annotation>\n\t<folder>{folder}</folder>\n\t<filename>{filename}</filename>\n"
            f"\t<path>C:\\Users\\someone\\{folder}\\{filename}</path>\n\t<source>\n\t\t<database>Unknown</database>\n"
            f"\t</source>\n\t<size>\n\t\t<width>{size[0]}</width>\n\t\t<height>{size[1]}</height>\n"
            f"\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>{objs}{extra}\n</annotation>\n")


def _image(path, w=100, h=80):
    save_image(path, np.full((h, w, 3), 90, np.uint8))


def test_labelimg_file_beside_its_image(tmp_path):
    _image(tmp_path / "frame1.jpg")
    (tmp_path / "frame1.xml").write_text(voc_xml("frame1.jpg", [("van", 10, 20, 40, 60), ("car", 50.5, 5, 99, 30),
                                                                ("car", 1, 2, 3, 4, 1)]))
    warnings = Warnings()
    ds = read_voc(tmp_path, warnings=warnings)
    assert ds.names == ["car", "van"]
    (rec,) = ds.images
    assert (rec.width, rec.height, rec.split, rec.rel_path.as_posix()) == (100, 80, "train", "frame1.jpg")
    np.testing.assert_array_equal(rec.boxes_xyxy_px, [[10, 20, 40, 60], [50.5, 5, 99, 30]])
    np.testing.assert_array_equal(rec.class_ids, [1, 0])
    assert warnings.counts == {"VOC difficult object left out (pass --keep-difficult to train on it)": 1}
    kept = read_voc(tmp_path, keep_difficult=True)
    np.testing.assert_array_equal(kept.images[0].boxes_xyxy_px[-1], [1, 2, 3, 4])


def test_difficult_is_kept_as_a_flag_when_parsing(tmp_path):
    (tmp_path / "a.xml").write_text(voc_xml("a.jpg", [("car", 1, 2, 3, 4, 1), ("car", 1, 2, 5, 6)]))
    assert [o.difficult for o in parse_voc_xml(tmp_path / "a.xml").objects] == [True, False]


def test_devkit_layout_split_folders_and_size_mismatch(tmp_path):
    # VOC devkit: Annotations/ beside JPEGImages/; Roboflow: train/ and valid/ folders holding both.
    _image(tmp_path / "voc" / "JPEGImages" / "a.jpg")
    (tmp_path / "voc" / "Annotations").mkdir(parents=True)
    (tmp_path / "voc" / "Annotations" / "a.xml").write_text(voc_xml("a.jpg", [("car", 1, 1, 9, 9)], size=(640, 480)))
    warnings = Warnings()
    assert read_voc(tmp_path / "voc", warnings=warnings).images[0].path.name == "a.jpg"
    assert list(warnings.counts) == ["VOC <size> differs from the image (the image wins)"]
    rf = tmp_path / "rf"
    for split in ("train", "valid"):
        _image(rf / split / f"{split}1.jpg")
        (rf / split / f"{split}1.xml").write_text(voc_xml(f"{split}1.jpg", [("car", 1, 1, 9, 9)]))
    assert [(r.split, r.rel_path.as_posix()) for r in read_voc(rf).images] == [("train", "train1.jpg"),
                                                                               ("val", "valid1.jpg")]


def test_images_dir_and_unlabelled_images(tmp_path):
    _image(tmp_path / "pics" / "a.png")
    (tmp_path / "xml").mkdir()
    (tmp_path / "xml" / "a.xml").write_text(voc_xml("a.png", [("car", 1, 1, 9, 9)]))
    with pytest.raises(DataError, match=r"a\.xml: annotation/filename: image 'a\.png' not found"):
        read_voc(tmp_path / "xml")
    assert read_voc(tmp_path / "xml", images_dir=tmp_path / "pics").images[0].n_boxes == 1
    _image(tmp_path / "b.jpg")
    (tmp_path / "b.xml").write_text(voc_xml("b.jpg", [("car", 1, 1, 9, 9)]))
    _image(tmp_path / "c.jpg")
    warnings = Warnings()
    ds = read_voc(tmp_path / "b.xml", warnings=warnings)
    assert [r.path.name for r in ds.images] == ["b.jpg"] and warnings.counts == {}
    read_voc(tmp_path, skip_bad=True, warnings=warnings)  # xml/a.xml cannot find pics/a.png: skipped
    assert warnings.counts["image without a VOC XML left out"] == 2  # c.jpg and pics/a.png
    assert warnings.counts["bad VOC file skipped"] == 1


def test_boxes_are_clipped_and_bad_boxes_named(tmp_path):
    _image(tmp_path / "a.jpg")
    (tmp_path / "a.xml").write_text(voc_xml("a.jpg", [("car", -3, 10, 120, 30), ("car", 30, 10, 30, 40)]))
    with pytest.raises(DataError, match=r"a\.xml: annotation/object\[2\]/bndbox: zero-area box"):
        read_voc(tmp_path)
    warnings = Warnings()
    ds = read_voc(tmp_path, skip_bad=True, warnings=warnings)
    np.testing.assert_array_equal(ds.images[0].boxes_xyxy_px, [[0, 10, 100, 30]])
    assert warnings.counts == {"VOC box clipped to the image": 1, "zero-area VOC box skipped": 1}
    assert warnings.skipped == {"zero-area VOC box skipped"}


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (voc_xml("a.jpg", [("car", 1, "abc", 9, 9)]), r"annotation/object\[1\]/bndbox/ymin: not a number: 'abc'"),
        (voc_xml("a.jpg", [("", 1, 1, 9, 9)]), r"annotation/object\[1\]/name: missing or empty"),
        (voc_xml("a.jpg", [("car", 1, 1, 9, 9, 2)]), r"annotation/object\[1\]/difficult: expected 0 or 1, got '2'"),
        (voc_xml("a.jpg", []).replace("</annotation>", "<object><name>car</name></object></annotation>"),
         r"annotation/object\[1\]/bndbox: missing"),
        ("<annotation><filename>a.jpg</filename>", "not valid XML"),
        ("<labels/>", r"<labels>: expected a Pascal VOC <annotation> root element"),
    ],
    ids=["not-a-number", "no-name", "bad-difficult", "no-bndbox", "truncated", "wrong-root"],
)
def test_bad_xml_names_the_file_and_element(tmp_path, xml, message):
    _image(tmp_path / "a.jpg")
    (tmp_path / "a.xml").write_text(xml)
    with pytest.raises(DataError, match=rf"a\.xml: {message}") as err:
        read_voc(tmp_path)
    assert "\n" not in str(err.value)


def test_entity_expansion_is_refused_not_expanded(tmp_path):
    # "Billion laughs": 10 levels of 10x expansion would be 10**10 copies of "lol"; defusedxml refuses entities.
    levels = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY lol0 "lol">{levels}]>'
            "<annotation><filename>a.jpg</filename><object><name>&lol9;</name></object></annotation>")
    _image(tmp_path / "a.jpg")
    (tmp_path / "a.xml").write_text(bomb)
    with pytest.raises(DataError, match=r"a\.xml: refused: the XML declares entities or external references"):
        read_voc(tmp_path)
