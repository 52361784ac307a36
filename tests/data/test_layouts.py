"""discover(): every layout, auto-detection, non-sample files, bad manifests."""

from pathlib import Path

import pytest

from bcnet_tf.data.layouts import discover, normalise_magnification, parse_breakhis_name
from bcnet_tf.errors import DatasetError
from tests.conftest import write_bad, write_image


def test_folders_layout_any_depth(folder_dataset: Path) -> None:
    index = discover(folder_dataset)
    assert index.layout == "folders"
    assert index.class_counts() == {"benign": 8, "malignant": 8, "normal": 8}
    assert any("/nested/" in r.path for r in index.records)
    assert not index.has_patients()


def test_non_samples_are_skipped_with_reasons(folder_dataset: Path) -> None:
    write_image(folder_dataset / "benign" / "benign_0_mask.png")
    write_image(folder_dataset / "benign" / "masks" / "x.png")
    write_image(folder_dataset / "benign" / "tiny.png", size=(16, 16))
    write_image(folder_dataset / "benign" / ".hidden.png")
    (folder_dataset / "labels.csv").write_text("path,label\n")
    (folder_dataset / "benign" / "notes.txt").write_text("notes")
    write_bad(folder_dataset / "benign" / "broken.png", "empty")
    write_bad(folder_dataset / "benign" / "text.jpg", "text")
    index = discover(folder_dataset)
    assert index.class_counts()["benign"] == 8
    reasons = {Path(s.path).name: s.reason for s in index.skipped}
    assert reasons["benign_0_mask.png"].startswith("segmentation mask")
    assert reasons["x.png"].startswith("segmentation mask")
    assert reasons["tiny.png"].startswith("thumbnail-sized")
    assert reasons[".hidden.png"] == "hidden or system file"
    assert reasons["labels.csv"].startswith("not an image file")
    assert reasons["notes.txt"].startswith("not an image file")
    assert "empty" in reasons["broken.png"]
    assert "not a recognised image" in reasons["text.jpg"]


def test_loose_images_at_root_are_skipped(folder_dataset: Path) -> None:
    write_image(folder_dataset / "stray.png")
    index = discover(folder_dataset)
    assert {Path(s.path).name: s.reason for s in index.skipped}["stray.png"] == (
        "not inside a class folder"
    )


def test_empty_class_folder_is_reported(folder_dataset: Path) -> None:
    (folder_dataset / "atypical").mkdir()
    index = discover(folder_dataset)
    assert index.empty_classes == ["atypical"]
    assert "atypical" not in index.class_names


def test_unknown_layout_and_bad_paths(tmp_path: Path) -> None:
    write_image(tmp_path / "flat" / "a.png")
    with pytest.raises(DatasetError, match="cannot detect the layout"):
        discover(tmp_path / "flat")
    with pytest.raises(DatasetError, match="does not exist"):
        discover(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image files"):
        discover(tmp_path / "empty")
    with pytest.raises(DatasetError, match="unknown layout"):
        discover(tmp_path / "flat", layout="dicom")


def test_only_unreadable_images_is_an_error(tmp_path: Path) -> None:
    write_bad(tmp_path / "ds" / "a" / "x.png", "truncated")  # header ok, data cut
    write_bad(tmp_path / "ds" / "b" / "y.png", "empty")
    index = discover(tmp_path / "ds")  # the truncated one passes the header probe
    assert [Path(r.path).name for r in index.records] == ["x.png"]
    write_bad(tmp_path / "ds2" / "a" / "y.png", "text")
    with pytest.raises(DatasetError, match="no usable image"):
        discover(tmp_path / "ds2")


BREAKHIS_FILES = [
    "benign/SOB/adenosis/SOB_B_A_14-22549AB/40X/SOB_B_A-14-22549AB-40-001.png",
    "benign/SOB/adenosis/SOB_B_A_14-22549AB/100X/SOB_B_A-14-22549AB-100-001.png",
    "benign/SOB/fibroadenoma/SOB_B_F_14-9133/40X/SOB_B_F-14-9133-40-001.png",
    "malignant/SOB/ductal_carcinoma/SOB_M_DC_14-2523/40X/SOB_M_DC-14-2523-40-010.png",
    "malignant/SOB/ductal_carcinoma/SOB_M_DC_14-2523/40X/SOB_M_DC-14-2523-40-011.png",
]


def test_breakhis_layout(tmp_path: Path) -> None:
    for i, name in enumerate(BREAKHIS_FILES):
        write_image(tmp_path / name, seed=i)
    write_image(tmp_path / "benign" / "odd_name.png")
    index = discover(tmp_path)
    assert index.layout == "breakhis"
    assert index.class_counts() == {"benign": 3, "malignant": 2}
    assert {r.patient for r in index.records} == {"14-22549AB", "14-9133", "14-2523"}
    assert "does not follow the BreakHis" in index.skipped[0].reason
    by_subtype = discover(tmp_path, label_by="subtype", magnification="40x")
    assert by_subtype.class_counts() == {"adenosis": 1, "ductal_carcinoma": 2, "fibroadenoma": 1}


def test_breakhis_real_samples(shared: Path) -> None:
    index = discover(shared / "data" / "breakhis_samples")
    assert index.layout == "breakhis" and len(index.records) == 12
    assert len({r.patient for r in index.records}) == 9
    assert len({r.subtype for r in index.records}) == 8
    assert {r.magnification for r in index.records} == {"40X", "100X", "200X", "400X"}
    assert len(discover(shared / "data" / "breakhis_samples", magnification="40X").records) == 9


def test_databiox_layout(tmp_path: Path) -> None:
    for grade in (1, 2):
        for patient in (1, 2):
            for mag in ("4x", "10x"):
                write_image(
                    tmp_path / f"BC_IDC_Grade_{grade}" / f"{patient}" / mag / "img1.jpg",
                    "jpeg",
                    seed=grade * 10 + patient,
                )
    index = discover(tmp_path)
    assert index.layout == "databiox"
    assert index.class_counts() == {"BC_IDC_Grade_1": 4, "BC_IDC_Grade_2": 4}
    assert len({r.patient for r in index.records}) == 4  # patient ids stay unique per grade
    assert {r.magnification for r in index.records} == {"4X", "10X"}
    assert len(discover(tmp_path, magnification="10X").records) == 4


def write_manifest(root: Path, rows: list[str], header: str = "path,label,patient") -> Path:
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join([header, *rows]) + "\n")
    return manifest


def test_csv_manifest(tmp_path: Path) -> None:
    for i in range(4):
        write_image(tmp_path / "imgs" / f"{i}.png", seed=i)
    manifest = write_manifest(
        tmp_path, [f"imgs/{i}.png,{'cancer' if i % 2 else 'normal'},p{i // 2}" for i in range(4)]
    )
    for source in (manifest, tmp_path):
        index = discover(source, layout="csv")
        assert index.layout == "csv"
        assert index.class_counts() == {"cancer": 2, "normal": 2}
        assert [r.patient for r in index.records] == ["p0", "p0", "p1", "p1"]
    assert discover(manifest).layout == "csv"  # a file is always a manifest


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("imgs/missing.png,normal,p1", "do not exist"),
        ("../outside.png,normal,p1", "outside its folder"),
        ("/etc/passwd,normal,p1", "outside its folder"),
        ("imgs/0.png,,p1", "empty path or label"),
    ],
)
def test_csv_manifest_errors(tmp_path: Path, row: str, message: str) -> None:
    write_image(tmp_path / "imgs" / "0.png")
    write_image(tmp_path.parent / "outside.png")
    manifest = write_manifest(tmp_path, ["imgs/0.png,normal,p0", row])
    with pytest.raises(DatasetError, match=message) as caught:
        discover(manifest)
    assert str(manifest) in str(caught.value)


def test_csv_manifest_needs_path_and_label_columns(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, ["a.png,x"], header="file_name,diagnosis")
    with pytest.raises(DatasetError, match="needs a path column"):
        discover(manifest)


def test_parsers() -> None:
    name = parse_breakhis_name("SOB_M_PC-14-9146-400-001.png")
    assert (name.tumor_class, name.subtype, name.patient, name.magnification) == (
        "malignant",
        "papillary_carcinoma",
        "14-9146",
        "400X",
    )
    assert parse_breakhis_name("benign (1).png") is None
    assert normalise_magnification("10x") == "10X"
    assert normalise_magnification("patient_7") is None
