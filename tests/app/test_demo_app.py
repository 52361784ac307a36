"""The Gradio demo in headless Chromium: upload an image, read the probabilities and
the input guard's verdict."""

import shutil
import socket
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_upload_and_read_the_result(bundle: Path, lesion_model: tuple[Path, Path]) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    pytest.importorskip("gradio")
    sync_api = pytest.importorskip("playwright.sync_api")
    from bcnet_tf.app import build_app

    _, data = lesion_model
    image = sorted((data / "lesion").glob("*.png"))[0]
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
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("input[type=file]").first.set_input_files(str(image))
            page.get_by_role("button", name="Classify").click()
            result = page.get_by_test_id("label-output-value")
            result.wait_for(timeout=60_000)
            text = result.inner_text()
            guard = page.locator("#guard").inner_text()
            overlays = page.locator("img").count()
            browser.close()
    finally:
        app.close()
    assert "lesion" in text.splitlines()[0]
    assert "Input guard: in distribution" in guard
    assert overlays >= 2  # the upload and the Grad-CAM overlay
