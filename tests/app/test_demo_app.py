"""The Gradio demo in headless Chromium: upload a picture or a DICOM file, read the
probabilities and the input guard's verdict."""

import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_upload_a_picture_or_a_dicom_file_and_read_the_result(
    bundle: Path, lesion_model: tuple[Path, Path], tmp_path: Path
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    pytest.importorskip("gradio")
    sync_api = pytest.importorskip("playwright.sync_api")
    from bcnet_tf.app import build_app
    from tests.dicom_files import write_dicom

    _, data = lesion_model
    image = sorted((data / "lesion").glob("*.png"))[0]
    pixels = np.asarray(Image.open(image).convert("RGB"))
    # the same pixels as an RGB DICOM file, and a file the app must refuse in one line
    dicom = write_dicom(tmp_path / "lesion.dcm", pixels, photometric="RGB")
    frames = write_dicom(tmp_path / "frames.dcm", np.stack([pixels[..., 0]] * 2))
    port = _free_port()
    app = build_app(bundle)
    app.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )

            def classify(selector: str, path: Path) -> sync_api.Page:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                page.locator(selector).first.set_input_files(str(path))
                page.get_by_role("button", name="Classify").click()
                return page

            page = classify("input[type=file]", image)  # the image box comes first
            result = page.get_by_test_id("label-output-value")
            result.wait_for(timeout=60_000)
            picture_text, overlays = result.inner_text(), page.locator("img").count()
            guard = page.locator("#guard").inner_text()
            result = classify("#image-file input[type=file]", dicom)
            result = result.get_by_test_id("label-output-value")
            result.wait_for(timeout=60_000)
            dicom_text = result.inner_text()
            refused = classify("#image-file input[type=file]", frames).get_by_text("2 frames")
            refused.first.wait_for(timeout=60_000)
            browser.close()
    finally:
        app.close()
    assert "lesion" in picture_text.splitlines()[0]
    assert "Input guard: in distribution" in guard
    assert overlays >= 2  # the upload and the Grad-CAM overlay
    assert dicom_text == picture_text  # the DICOM file decodes to the picture's pixels
