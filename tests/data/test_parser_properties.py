"""Property-based tests of the file-name parsers and the CSV manifest reader."""

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcnet_tf.data.layouts import (
    BREAKHIS_SUBTYPES,
    normalise_magnification,
    parse_breakhis_name,
    read_manifest,
)
from bcnet_tf.errors import DatasetError

codes = st.sampled_from(sorted(BREAKHIS_SUBTYPES))
patients = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8)


@given(
    malignant=st.booleans(),
    code=codes,
    year=st.integers(10, 99),
    patient=patients,
    magnification=st.sampled_from([40, 100, 200, 400]),
    sequence=st.integers(1, 999),
)
def test_breakhis_names_round_trip(malignant, code, year, patient, magnification, sequence):
    name = (
        f"SOB_{'M' if malignant else 'B'}_{code}-{year}-{patient}-{magnification}-"
        f"{sequence:03d}.png"
    )
    parsed = parse_breakhis_name(name)
    assert parsed is not None
    assert parsed.tumor_class == ("malignant" if malignant else "benign")
    assert parsed.subtype == BREAKHIS_SUBTYPES[code]
    assert parsed.patient == f"{year}-{patient}"
    assert parsed.magnification == f"{magnification}X"
    assert parsed.sequence == sequence


@given(st.text(max_size=60))
def test_parsers_never_raise_on_arbitrary_names(name):
    parse_breakhis_name(name + ".png")
    result = normalise_magnification(name)
    assert result is None or result.endswith("X")


path_parts = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"), max_size=20
)


@settings(max_examples=60, deadline=None)
@given(st.lists(path_parts, min_size=1, max_size=4))
def test_manifest_never_resolves_outside_its_folder(tmp_path_factory, parts):
    root = tmp_path_factory.mktemp("m")
    raw = "/".join(parts)
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["path", "label"], [raw, "x"]])
    try:
        rows = read_manifest(manifest)
    except DatasetError:
        return  # rejected with a message: fine
    for row in rows:
        assert Path(row["path"]).resolve().is_relative_to(root.resolve())


@pytest.mark.parametrize("raw", ["../x.png", "/etc/passwd", "a/../../x.png", "./../x.png"])
def test_manifest_escapes_are_rejected(tmp_path: Path, raw: str) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "x.png").write_bytes(b"")
    manifest = tmp_path / "m" / "manifest.csv"
    manifest.write_text(f"path,label\n{raw},x\n")
    with pytest.raises(DatasetError, match="outside its folder"):
        read_manifest(manifest)
