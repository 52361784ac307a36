"""A web demo for radiologists and pathologists (study 000 shipped one): upload an
image, read the class probabilities and see the Grad-CAM overlay. An image the bundle's
input guard rejects gets that message instead of classes.

A picture goes into the image box; a DICOM file (or any file the data layer decodes:
16-bit PNG, TIFF, ...) into the file box, where it is decoded as in training (DICOM
windowing, laterality for the bundle's preprocessing) and wins over the picture.

Probabilities come from the bundle's recommended TFLite file (what a device would
run); the overlay from the bundle's Keras model. Needs ``pip install bcnet_tf[app]``.

Example:
    >>> build_app("saved_models/resnet9-busi_256-bundle").launch()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from bcnet_tf.data.decode import decode_with_laterality
from bcnet_tf.edge.predictor import Predictor
from bcnet_tf.errors import BcnetError
from bcnet_tf.explain.gradcam import grad_cam
from bcnet_tf.explain.overlay import overlay
from bcnet_tf.models.saving import load_model

DISCLAIMER = "Research use only. Not a medical device: a clinician must review every result."


def build_app(bundle: str | os.PathLike[str]) -> Any:
    """A Gradio ``Blocks`` app for a bundle written by ``bcnet-tf export``."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry from clinics
    import gradio as gr

    predictor = Predictor(bundle)
    model, _ = load_model(Path(bundle) / "model.keras")

    def classify(
        image: np.ndarray | None, file: str | None
    ) -> tuple[dict[str, float], np.ndarray | None, str]:
        if file is not None:
            try:
                decoded, laterality = decode_with_laterality(file)
            except BcnetError as error:  # one line in the page, naming the file
                raise gr.Error(str(error)) from None
        elif image is not None:
            decoded, laterality = np.asarray(image, np.uint8)[..., :3], None
        else:
            return {}, None, ""
        pixels = predictor.pixels(decoded, laterality)
        tile_probabilities, features = predictor.outputs(pixels)
        verdict = predictor.verdict(decoded, features)
        if verdict.in_distribution is False:
            return {}, None, f"**{verdict.message}**"
        probabilities = predictor.combine(tile_probabilities)
        predicted = int(np.argmax(probabilities))
        # whole image; in tile mode the tile most confident of the image's class
        shown = int(np.argmax(tile_probabilities[:, predicted]))
        heat, _ = grad_cam(model, pixels[shown : shown + 1], predicted)
        scores = {n: float(p) for n, p in zip(predictor.class_names, probabilities, strict=True)}
        return scores, overlay(pixels[shown], heat[0]), f"Input guard: {verdict.message}"

    with gr.Blocks(title="bcnet_tf demo") as app:
        gr.Markdown(
            f"## {predictor.spec['architecture']}: {', '.join(predictor.class_names)}\n\n"
            f"{DISCLAIMER}\n\nModel file: `{predictor.artifact}`."
        )
        with gr.Row():
            with gr.Column():
                image = gr.Image(type="numpy", image_mode="RGB", label="image")
                file = gr.File(
                    type="filepath",
                    label="or a DICOM (or other image) file, used instead",
                    elem_id="image-file",
                )
            with gr.Column():
                guard = gr.Markdown(elem_id="guard")
                label = gr.Label(num_top_classes=len(predictor.class_names), label="probabilities")
                heat = gr.Image(type="numpy", label="Grad-CAM")
        button = gr.Button("Classify", variant="primary")
        button.click(classify, inputs=[image, file], outputs=[label, heat, guard])
    return app
