"""DICOM to display pixels, against values the tests compute from the standard's
formulas (PS3.3 C.11) on stored values they wrote themselves."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.uid import JPEG2000Lossless, JPEGLosslessSV1, JPEGLSLossless, RLELossless

from bcnet_tf.data.decode import decode_rgb
from bcnet_tf.data.dicom import PatientIdWarning, pseudonym, read_dicom, read_dicom_header
from bcnet_tf.data.duplicates import hash_images
from bcnet_tf.data.layouts import discover
from bcnet_tf.data.pipeline import load_files, make_dataset
from bcnet_tf.errors import BcnetError, DatasetError, ImageDecodeError
from tests.dicom_files import pydicom, transcode_with_gdcm, write_dicom

RAMP = np.arange(4096, dtype=np.uint16).reshape(64, 64)  # every 12-bit value once


def _linear(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 (LINEAR) to 0..255, unrounded."""
    y = ((x - (center - 0.5)) / (width - 1) + 0.5).clip(0, 1)
    y[x <= center - 0.5 - (width - 1) / 2] = 0
    return y * 255


def assert_display(actual: np.ndarray, exact: np.ndarray) -> None:
    """Each pixel is the exact value rounded (ties either way: float32 arithmetic)."""
    assert actual.shape == exact.shape
    assert np.abs(actual - exact).max() <= 0.5 + 1e-3


def _grey(path: Path) -> np.ndarray:
    rgb = decode_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape[-1] == 3
    assert np.array_equal(rgb[..., 0], rgb[..., 2])
    return rgb[..., 0].astype(float)


@pytest.mark.parametrize("compress", [None, RLELossless, JPEGLSLossless], ids=["raw", "rle", "jls"])
def test_window_linear_monochrome2_any_syntax(tmp_path: Path, compress) -> None:
    if compress is JPEGLSLossless:
        pytest.importorskip("jpeg_ls")
    path = write_dicom(
        tmp_path / "x.dcm",
        RAMP,
        bits_stored=12,
        compress=compress,
        WindowCenter=2000,
        WindowWidth=1001,
    )
    assert_display(_grey(path), _linear(RAMP.astype(float), 2000, 1001))
    assert read_dicom_header(path).transfer_syntax != ""


@pytest.fixture
def gdcm_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """JPEG 2000 and JPEG Lossless SV1 decode with python-gdcm alone, as in a
    ``bcnet_tf[dicom]`` install (other decoders a development install has are hidden)."""
    for syntax in (JPEG2000Lossless, JPEGLosslessSV1):
        decoder = get_decoder(syntax)
        if "gdcm" not in decoder.available_plugins:
            pytest.skip("python-gdcm is not installed")
        # pydicom keeps a decoder's usable plugins in this dict (no public setter)
        monkeypatch.setattr(decoder, "_available", {"gdcm": decoder._available["gdcm"]})


def test_jpeg2000_lossless_decodes_to_the_written_pixels(tmp_path: Path, gdcm_decodes) -> None:
    pytest.importorskip("openjpeg")  # pylibjpeg-openjpeg: the encoder (32x32 at least)
    path = write_dicom(
        tmp_path / "j2k.dcm",
        RAMP,
        bits_stored=12,
        compress=JPEG2000Lossless,
        WindowCenter=2000,
        WindowWidth=1001,
    )
    assert read_dicom_header(path).transfer_syntax == "JPEG 2000 Image Compression (Lossless Only)"
    assert_display(_grey(path), _linear(RAMP.astype(float), 2000, 1001))


def test_jpeg2000_from_another_encoder_matches_its_uncompressed_twin(gdcm_decodes) -> None:
    """pydicom ships one MR slice twice: uncompressed and as another encoder's JPEG 2000."""
    from pydicom.data import get_testdata_file

    plain = read_dicom(get_testdata_file("MR_small.dcm")).rgb
    compressed = read_dicom(get_testdata_file("MR_small_jp2klossless.dcm"))
    assert compressed.header.transfer_syntax.startswith("JPEG 2000")
    assert plain.std() > 10  # a real image, not a blank
    np.testing.assert_array_equal(compressed.rgb, plain)


def test_jpeg_lossless_sv1_decodes_to_the_written_pixels(tmp_path: Path, gdcm_decodes) -> None:
    plain = write_dicom(
        tmp_path / "plain.dcm", RAMP, bits_stored=12, WindowCenter=2000, WindowWidth=1001
    )
    path = transcode_with_gdcm(plain, tmp_path / "sv1.dcm", "JPEGLosslessProcess14_1")
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == JPEGLosslessSV1
    assert len(pydicom.dcmread(path).PixelData) != RAMP.nbytes  # encapsulated, encoded
    assert_display(_grey(path), _linear(RAMP.astype(float), 2000, 1001))


def test_monochrome1_is_inverted_after_the_window(tmp_path: Path) -> None:
    path = write_dicom(
        tmp_path / "m1.dcm",
        RAMP,
        photometric="MONOCHROME1",
        bits_stored=12,
        WindowCenter=1024,
        WindowWidth=2048,
    )
    assert_display(_grey(path), 255 - _linear(RAMP.astype(float), 1024, 2048))


def test_rescale_comes_before_the_window(tmp_path: Path) -> None:
    path = write_dicom(
        tmp_path / "r.dcm",
        RAMP,
        bits_stored=12,
        RescaleSlope=2,
        RescaleIntercept=-1000,
        WindowCenter=3000,
        WindowWidth=4000,
    )
    modality = RAMP * 2.0 - 1000
    assert_display(_grey(path), _linear(modality, 3000, 4000))


def test_linear_exact_and_sigmoid(tmp_path: Path) -> None:
    x = RAMP.astype(float)
    exact = write_dicom(
        tmp_path / "e.dcm",
        RAMP,
        bits_stored=12,
        WindowCenter=2048,
        WindowWidth=1000,
        VOILUTFunction="LINEAR_EXACT",
    )
    assert_display(_grey(exact), ((x - 2048) / 1000 + 0.5).clip(0, 1) * 255)
    sigmoid = write_dicom(
        tmp_path / "s.dcm",
        RAMP,
        bits_stored=12,
        WindowCenter=2048,
        WindowWidth=1000,
        VOILUTFunction="SIGMOID",
    )
    assert_display(_grey(sigmoid), 255 / (1 + np.exp(-4 * (x - 2048) / 1000)))


def test_voi_lut_sequence_wins_over_the_window(tmp_path: Path) -> None:
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 10]
    item.add_new(0x00283006, "US", [int(v) for v in (np.arange(4096) // 4)[::-1]])  # reversed
    path = write_dicom(
        tmp_path / "lut.dcm",
        RAMP,
        bits_stored=12,
        VOILUTSequence=[item],
        WindowCenter=10,
        WindowWidth=20,
    )
    assert_display(_grey(path), (RAMP[::-1, ::-1] // 4) / 1023 * 255)


def test_signed_pixels(tmp_path: Path) -> None:
    signed = (RAMP.astype(np.int32) - 2048).astype(np.int16)
    path = write_dicom(
        tmp_path / "signed.dcm", signed, bits_stored=12, WindowCenter=0, WindowWidth=2049
    )
    assert read_dicom_header(path).signed
    assert_display(_grey(path), _linear(signed.astype(float), 0, 2049))


@pytest.mark.parametrize("bits", [10, 12, 14, 16])
def test_bits_stored_set_the_range_not_the_image(tmp_path: Path, bits: int) -> None:
    top = 2**bits - 1
    stored = np.linspace(0, top, 64 * 64).round().astype(np.uint16).reshape(64, 64)
    path = write_dicom(
        tmp_path / f"b{bits}.dcm",
        stored,
        bits_stored=bits,
        WindowCenter=(top + 1) / 2,
        WindowWidth=top + 1,
    )
    assert read_dicom_header(path).bits_stored == bits
    assert_display(_grey(path), _linear(stored.astype(float), (top + 1) / 2, top + 1))


def test_no_window_uses_the_documented_default_percentiles(tmp_path: Path) -> None:
    stored = np.zeros((64, 64), np.uint16)  # air: 0
    rng = np.random.default_rng(0)
    stored[8:56, :48] = rng.integers(1000, 3001, (48, 48))  # tissue, uniform 1000..3000
    stored[0:4, 60:64] = 4095  # a marker
    stored[30, 10], stored[31, 10] = 2000, 1020
    path = write_dicom(tmp_path / "nowin.dcm", stored, bits_stored=12)
    grey = _grey(path)
    assert not read_dicom_header(path).windowed
    assert grey[0, 0] == 0 and grey[0, 63] == 255  # air black, marker white
    assert abs(grey[30, 10] - 127.5) <= 3  # the tissue's middle is mid-grey
    assert grey[31, 10] <= 3  # the tissue's 0.5th percentile is near black


def test_rgb_eight_bit_is_kept(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (40, 48, 3)).astype(np.uint8)
    path = write_dicom(tmp_path / "rgb.dcm", rgb, photometric="RGB")
    np.testing.assert_array_equal(decode_rgb(path), rgb)


def test_multi_frame_is_refused_unless_a_frame_is_chosen(tmp_path: Path) -> None:
    frames = np.stack([RAMP, RAMP[::-1]])
    path = write_dicom(
        tmp_path / "mf.dcm", frames, bits_stored=12, WindowCenter=2048, WindowWidth=4096
    )
    with pytest.raises(ImageDecodeError, match="2 frames") as caught:
        decode_rgb(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    second = read_dicom(path, frame=1).rgb[..., 0].astype(float)
    assert_display(second, _linear(RAMP[::-1].astype(float), 2048, 4096))


def test_a_manifest_frame_column_chooses_the_frame_of_multi_frame_files(tmp_path: Path) -> None:
    window = {"bits_stored": 12, "WindowCenter": 2048, "WindowWidth": 4096}
    frames = np.stack([RAMP, RAMP[::-1], np.ascontiguousarray(RAMP.T)])
    write_dicom(tmp_path / "mf.dcm", frames, patient_id="P1", **window)
    write_dicom(tmp_path / "unchosen.dcm", frames[:2], patient_id="P2", **window)
    write_dicom(tmp_path / "single.dcm", RAMP, patient_id="P3", **window)
    write_dicom(tmp_path / "short.dcm", frames[:2], patient_id="P4", **window)
    manifest = tmp_path / "manifest.csv"
    rows = ["mf.dcm,benign,2", "unchosen.dcm,benign,", "single.dcm,malignant,", "short.dcm,x,5"]
    manifest.write_text("path,label,frame\n" + "\n".join(rows) + "\n")

    index = discover(manifest)
    chosen = {Path(r.path).name: r.frame for r in index.records}
    assert chosen == {"mf.dcm": 2, "single.dcm": None}
    reasons = {Path(s.path).name: s.reason for s in index.skipped}
    assert "2 frames and none chosen" in reasons["unchosen.dcm"]
    assert "frame 5 of 2" in reasons["short.dcm"]

    third = _linear(RAMP.T.astype(float), 2048, 4096)  # frame 2, as the test wrote it
    record = next(r for r in index.records if r.frame == 2)
    assert_display(load_files([record], 64)[0, ..., 0].astype(float), third)
    images, _ = next(iter(make_dataset(index.records, index.class_names, image_size=64)))
    assert_display(images[index.records.index(record), ..., 0].numpy(), third)
    assert all(h.error is None for h in hash_images(index.records, progress=False))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["mf.dcm,benign,second"], r"line 2: frame 'second' is not a frame number"),
        (["mf.dcm,benign,0", "mf.dcm,benign,1"], r"lines 2 and 3: mf.dcm is listed with frames"),
    ],
)
def test_bad_frame_rows_name_the_manifest_line(tmp_path: Path, rows, message) -> None:
    write_dicom(tmp_path / "mf.dcm", np.stack([RAMP, RAMP]), bits_stored=12)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,label,frame\n" + "\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match=message):
        discover(manifest)


def test_cut_pixel_data_gives_one_line_naming_the_file(tmp_path: Path) -> None:
    whole = write_dicom(tmp_path / "whole.dcm", RAMP, bits_stored=12)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(whole.read_bytes()[:-2000])
    with pytest.raises(ImageDecodeError, match="cut or damaged") as caught:
        decode_rgb(cut)
    assert str(cut) in str(caught.value) and "\n" not in str(caught.value)


def test_header_gives_pseudonymous_patient_study_laterality_view(tmp_path: Path) -> None:
    path = write_dicom(
        tmp_path / "IM0001",
        RAMP,
        bits_stored=12,
        patient_id="MRN-4711",
        study_uid="1.2.3.4",
        ImageLaterality="R",
        ViewPosition="MLO",
    )
    header = read_dicom_header(path)
    assert (header.patient, header.study) == (pseudonym("MRN-4711"), pseudonym("1.2.3.4"))
    assert (header.laterality, header.view, header.has_patient_name) == ("R", "MLO", True)
    assert "MRN-4711" not in repr(header) and "Doe" not in repr(header)


def test_folders_of_dicom_files_become_patient_records(tmp_path: Path) -> None:
    for i in range(2):
        write_dicom(
            tmp_path / "data" / "benign" / f"b{i}.dcm",
            RAMP,
            bits_stored=12,
            patient_id="A",
            ImageLaterality="L",
            ViewPosition="CC",
        )
        write_dicom(
            tmp_path / "data" / "malignant" / f"IM{i}",
            RAMP,
            bits_stored=12,
            patient_id=None,
            study_uid=f"1.2.{i}",
        )
    (tmp_path / "data" / "malignant" / "notes").write_text("not an image")
    with pytest.warns(PatientIdWarning, match="2 DICOM file"):
        index = discover(tmp_path / "data")
    assert index.class_counts() == {"benign": 2, "malignant": 2}
    patients = {Path(r.path).name: r.patient for r in index.records}
    assert patients["b0.dcm"] == patients["b1.dcm"] == pseudonym("A")
    assert patients["IM0"] == pseudonym("1.2.0") != patients["IM1"]
    assert [s.path for s in index.skipped] == [str(tmp_path / "data" / "malignant" / "notes")]
    assert {(r.laterality, r.view) for r in index.records} == {("L", "CC"), (None, None)}


def test_missing_pydicom_is_one_line_naming_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_dicom(tmp_path / "x.dcm", RAMP, bits_stored=12)
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(BcnetError, match=r"pip install 'bcnet_tf\[dicom\]'"):
        decode_rgb(path)
    assert pydicom is not None


def test_inspect_reports_what_the_headers_say_and_no_identifying_value(tmp_path: Path) -> None:
    from bcnet_tf.data.inspection import inspect_dataset
    from tests.dicom_files import PHI

    views = [("L", "CC"), ("R", "MLO"), ("L", "MLO")]
    for i, (side, view) in enumerate(views):
        write_dicom(
            tmp_path / "benign" / f"b{i}.dcm",
            RAMP,
            bits_stored=12,
            patient_id="A",
            study_uid="1.9.1",
            ImageLaterality=side,
            ViewPosition=view,
            WindowCenter=2048,
            WindowWidth=4096,
        )
    write_dicom(
        tmp_path / "malignant" / "m0.dcm",
        RAMP,
        bits_stored=16,
        patient_id="B",
        photometric="MONOCHROME1",
        compress=RLELossless,
        ImageLaterality="R",
        ViewPosition="CC",
    )
    report = inspect_dataset(discover(tmp_path), check_duplicates=False, progress=False)
    dicom = report.dicom
    assert (dicom["files"], dicom["patients"], dicom["studies"]) == (4, 2, 2)
    assert dicom["views"] == {"CC": 2, "MLO": 2}
    assert dicom["lateralities"] == {"L": 2, "R": 2}
    assert dicom["photometrics"] == {"MONOCHROME1": 1, "MONOCHROME2": 3}
    assert dicom["bits_stored"] == {"12": 3, "16": 1}
    assert dicom["transfer_syntaxes"] == {"Explicit VR Little Endian": 3, "RLE Lossless": 1}
    assert dicom["default_window"] == 1 and len(dicom["patient_name_files"]) == 4
    text = report.format() + repr(report.to_dict())
    assert "default window" in text and "PatientName" in text
    for value in [*PHI.values(), "MRN-4711", "1.9.1"]:
        assert value not in text
