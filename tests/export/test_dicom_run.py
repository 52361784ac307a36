"""A DICOM dataset goes through train -> evaluate -> explain -> export -> edge predict
with mammography preprocessing at a non-square input (48x40, height x width); splits are
patient-grouped from the headers, breasts are padded (never squashed) to the input's
aspect, and no output holds an identifying header value."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from bcnet_tf.data.pipeline import load_files
from bcnet_tf.edge.predictor import Predictor
from bcnet_tf.evaluation import evaluate
from bcnet_tf.explain import explain
from bcnet_tf.export import export
from bcnet_tf.training import train
from tests.dicom_files import PHI, breast_phantom, write_dicom

PATIENT_IDS = [f"MRN-{4700 + i}" for i in range(8)]
STUDY_UIDS = [f"1.2.826.0.1.3680043.99.{i}" for i in range(8)]
#: The model input, height x width, as a user types it.
SIZE = "48x40"


def _write_dataset(root: Path) -> list[Path]:
    """Eight women, two views each; malignant breasts carry a bright mass."""
    paths = []
    for i, (patient, study) in enumerate(zip(PATIENT_IDS, STUDY_UIDS, strict=True)):
        label = "malignant" if i % 2 else "benign"
        side = "L" if i % 4 < 2 else "R"
        for view in ("CC", "MLO"):
            pixels = breast_phantom(72, 60, seed=10 * i + len(view), side=side)
            if label == "malignant":
                centre = 12 if side == "L" else 48
                pixels[30:42, centre - 6 : centre + 6] = 3800
            path = root / label / f"{patient[-2:]}_{view}.dcm"
            paths.append(
                write_dicom(
                    path,
                    pixels,
                    bits_stored=12,
                    patient_id=patient,
                    study_uid=study,
                    ImageLaterality=side,
                    ViewPosition=view,
                )
            )
    return paths


def _all_bytes(folder: Path) -> bytes:
    """Every file under ``folder``, with the members of zip files (.keras) unpacked."""
    chunks = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        chunks.append(data)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                chunks += [archive.read(name) for name in archive.namelist()]
    return b"\n".join(chunks)


def _tissue_block(path: Path) -> Path:
    """A 120x150 grey PNG: a 100x40 bright block against the left edge (rows 10-109),
    black elsewhere: a breast whose shape the test knows."""
    grey = np.zeros((120, 150), np.uint8)
    grey[10:110, :40] = 200
    Image.fromarray(grey).save(path)
    return path


def test_dicom_train_evaluate_export_predict_without_phi(tmp_path: Path) -> None:
    paths = _write_dataset(tmp_path / "data")
    out = tmp_path / "out"
    result = train(
        data=str(tmp_path / "data"),
        run_dir=str(out / "run"),
        model="resnet9",
        weights=None,
        image_size=SIZE,
        preprocess="mammo",
        epochs=1,
        batch_size=8,
        augment="flip_rotate",
        precision="float32",
        val=0.25,
        test=0.25,
    )
    split = result.split
    assert split.group_by == "patient"
    parts = {
        part: {Path(r.path).name[:2] for r in records} for part, records in split.parts.items()
    }
    assert not (parts["train"] & parts["val"]) and not (parts["train"] & parts["test"])
    assert result.model.input_shape == (None, 48, 40, 3)
    evaluation = evaluate(out / "run", resamples=10, out=str(out / "evaluation"))
    assert len(evaluation.records) == len(split.test)
    (overlay,) = explain(result.best, paths[:1], out / "explained", methods=("gradcam",))
    assert Image.open(overlay).size == (2 * 40, 48)  # input and overlay side by side
    bundle = export(
        out / "run", out=out / "bundle", formats=("keras", "tflite"), quantize=("none",)
    ).bundle
    predictor = Predictor(bundle)
    assert predictor.preprocess == "mammo"
    assert predictor.spec["image_size"] == [48, 40]
    expected = load_files([str(p) for p in paths], (48, 40), preprocess="mammo")
    np.testing.assert_array_equal(predictor.load(paths), expected)
    predictions = predictor.predict(paths[:2], top_k=1)
    assert predictions[0].top[0][0] in ("benign", "malignant")

    # Padded, not squashed: the 100x40 block keeps its 2.5 aspect at the 48x40 input
    # (the whole image stretched to the input: 3.75; the crop stretched: 1.2), chest
    # wall on the left.
    (pixels,) = predictor.load([_tissue_block(tmp_path / "block.png")])
    tissue = pixels[..., 0] > 100
    rows, cols = np.flatnonzero(tissue.any(axis=1)), np.flatnonzero(tissue.any(axis=0))
    assert abs(len(rows) / len(cols) - 100 / 40) < 0.2, (len(rows), len(cols))
    assert cols[0] == 0 and not tissue[:, 24:].any()

    written = _all_bytes(out)
    for value in [*PHI.values(), *PATIENT_IDS, *STUDY_UIDS]:
        assert value.encode() not in written, value
