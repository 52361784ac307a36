"""The bundle's model card (Mitchell et al. 2019), in Markdown."""

from __future__ import annotations

from typing import Any

from bcnet_tf.edge.benchmark import recommendation_section
from bcnet_tf.evaluation.bootstrap import bootstrap_text, interval_text

_HEADLINE = (
    ("accuracy", "Accuracy"),
    ("balanced_accuracy", "Balanced accuracy"),
    ("macro_f1", "Macro F1"),
    ("roc_auc_macro", "ROC-AUC (one-vs-rest, macro)"),
    ("gmean", "G-mean"),
    ("iba", "IBA"),
)


def _metrics_section(metrics: dict[str, Any] | None) -> list[str]:
    if metrics is None:
        return [
            "Not evaluated before export. Run `bcnet-tf evaluate RUN` and export again "
            "to quote metrics with confidence intervals here.",
        ]
    values = metrics["metrics"]
    lines = [
        f"On the **{metrics['split']}** part ({values['n']} images"
        f"{', test-time augmentation' if metrics.get('tta') else ''}). "
        + (bootstrap_text(metrics) or "No confidence intervals were computed."),
        "",
        "| metric | value | 95 % CI |",
        "|---|---|---|",
    ]
    for key, label in _HEADLINE:
        lines.append(f"| {label} | {values[key]:.3f} | {interval_text(metrics, key)} |")
    if "patient_accuracy" in values:
        lines.append(f"| Patient-level accuracy | {values['patient_accuracy']:.3f} | |")
        lines.append(f"| Patient recognition rate | {values['patient_recognition_rate']:.3f} | |")
    lines += [
        "",
        "| class | precision | recall | specificity | F1 | support |",
        "|---|---|---|---|---|---|",
    ]
    for name, scores in values["per_class"].items():
        lines.append(
            f"| {name} | {scores['precision']:.3f} | {scores['recall']:.3f} | "
            f"{scores['specificity']:.3f} | {scores['f1']:.3f} | {scores['support']} |"
        )
    split = metrics.get("split_summary") or {}
    if split:
        lines += ["", "Images per split part and class:", ""]
        lines += [f"- {part}: {counts}" for part, counts in split.items()]
    return lines


def _guard_section(guard: dict[str, Any] | None) -> list[str]:
    if guard is None:
        return [
            "No input guard in this bundle: every image gets a class, whatever it shows.",
        ]
    groups = list(next(iter(guard["accepted"].values()), {}))
    rows = [
        f"| `{file}` | {guard['thresholds'][file]:.4g} | "
        + " | ".join(f"{accepted[group]:.1%}" for group in groups)
        + f" | {guard['agreement_with_keras'][file]:.1%} |"
        for file, accepted in guard["accepted"].items()
    ]
    checks = guard["checks"]
    return [
        "Before a class is shown, each image passes two stages; an image failing either is",
        'reported as "this image does not look like the images this model was trained on".',
        "",
        f"1. Image checks on the decoded image: not blank, not saturated, at least "
        f"{checks['min_side']} px per side, colour mode `{checks['colour']}` as in training.",
        f"2. {guard['method']}, on the {guard['dimensions']}-dimensional `{guard['features']}` "
        f"features ({guard['components']} covariance directions kept), fitted on "
        f"{guard['fitted_on']['images']} images of the `{guard['fitted_on']['part']}` part.",
        "",
        f"Each file's threshold accepts {guard['acceptance_target']:.0%} of the "
        f"{guard['threshold_set_on']['images']} images of the "
        f"`{guard['threshold_set_on']['part']}` part (split-conformal quantile of that file's "
        "own scores). Share of images accepted (both stages), and agreement of the "
        "accept/reject decisions with the Keras model:",
        "",
        f"| file | threshold | {' | '.join(groups)} | agreement |",
        "|---" * (len(groups) + 3) + "|",
        *rows,
        "",
        '"noise" is uniform noise and "shuffled pixels" held-out images with their pixels',
        "shuffled: generic probes, not a measurement on real out-of-distribution images.",
        "",
        f"![guard scores]({guard['figure']})",
        "",
        "Limits: the guard says whether an image resembles the training images, not whether",
        "it is of diagnostic quality, nor whether the answer is right. By design about",
        f"{1 - guard['acceptance_target']:.0%} of in-distribution images are rejected. Images "
        "of the same modality but another scanner, site or body part may be accepted or",
        "rejected: measure it on your own images before relying on it.",
    ]


def _int8_section(int8: dict[str, Any] | None) -> list[str]:
    """How the int8 file was made: every op is int8; which layers' channels were
    equalised, which layers' biases corrected and which layers' hard-swish spelled out
    before conversion."""
    if int8 is None:
        return []
    rescaled = int8.get("equalized_layers", [])
    corrected = int8.get("bias_corrected_layers", [])
    steps = []
    if rescaled:
        steps.append(
            f"after equalising the output channels of {len(rescaled)} layers "
            f"({_names(rescaled)}; the same function)"
        )
    if corrected:
        steps.append(
            f"{'then ' if rescaled else 'after '}moving each channel's mean int8 error on the "
            f"calibration images into the biases of {len(corrected)} layers ({_names(corrected)})"
        )
    how = ", ".join(steps) if steps else "from the model as is (no channels equalised)"
    lines = ["", f"`model_int8.tflite` computes every layer in int8 (none kept in float), {how}."]
    spelled = int8.get("spelled_out_layers", [])
    if spelled:
        lines.append(
            f"The hard-swish of {len(spelled)} layers ({_names(spelled)}) is written as "
            "relu6(x + 3) * (x / 6), the same function, so that XNNPACK runs it in int8."
        )
    return lines


def _names(layers: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in layers)


def model_card(spec: dict[str, Any], metrics: dict[str, Any] | None) -> str:
    """Markdown model card for a bundle's ``spec.json`` and evaluation ``metrics``."""
    artifacts = [
        f"| `{name}` | {a['bytes'] / 1e6:.2f} MB | {a['verification']['criterion']} | "
        f"{a['verification']['max_abs_diff']:.2g} | {a['verification']['top1_agreement']:.1%} | "
        f"{'pass' if a['verification']['passed'] else '**FAIL**'} |"
        for name, a in spec["artifacts"].items()
    ]
    lines = [
        f"# Model card: {spec['architecture']} ({', '.join(spec['class_names'])})",
        "",
        "**Research use only. Not a medical device**: not cleared or approved for clinical",
        "diagnosis; every output must be reviewed by a qualified clinician.",
        "",
        "## Intended use",
        "",
        f"Classify breast images into {len(spec['class_names'])} classes "
        f"({', '.join(spec['class_names'])}) for research, education and decision-support",
        "prototyping, on images like those it was trained on (same modality, scanner and",
        "preparation).",
        "",
        "## Model",
        "",
        f"- Architecture: `{spec['architecture']}`; input {spec['image_size'][0]}x"
        f"{spec['image_size'][1]} RGB, {spec['input']['pixels']}.",
        f"- Resize: {spec['input']['resize']}; normalisation {spec['input']['normalisation']}.",
        f"- Made with bcnet_tf {spec['bcnet_tf']}, TensorFlow {spec['tensorflow']}, "
        f"on {spec['created']}.",
        "",
        "## Recommended on-device file",
        "",
        *recommendation_section(spec),
        "",
        "## Data",
        "",
        f"Trained and evaluated on `{spec['data']}` with a patient- (or duplicate-) grouped",
        "split, so no patient's images are on both sides.",
        "",
        "## Metrics",
        "",
        *_metrics_section(metrics),
        "",
        "## Artifacts and their verification against the Keras model",
        "",
        "| file | size | criterion | max abs diff | top-1 agreement | result |",
        "|---|---|---|---|---|---|",
        *artifacts,
        *_int8_section(spec["artifacts"].get("model_int8.tflite")),
        "",
        "## Input guard (out-of-distribution check)",
        "",
        *_guard_section(spec.get("guard")),
        "",
        "## Limitations",
        "",
        "- Performance was measured on one dataset; other scanners, stains, populations and",
        "  acquisition protocols will shift it. Validate locally before any use.",
        "- Confidence intervals cover sampling of the test patients, not dataset shift.",
        "- The input guard flags images unlike the training images; it does not catch",
        "  every such image, and it is no check of image quality (see above).",
        "- Grad-CAM overlays show where the model looked, not why; they are no proof of",
        "  correctness.",
        "- Quantised (int8) files trade a little agreement for size and speed: see above.",
        "  They are ~4x smaller everywhere but faster only on CPUs with int8 dot-product",
        "  instructions (x86 VNNI, Arm SDOT); on AVX2-only x86 CPUs time them before",
        "  choosing them over float16/float32.",
        "",
    ]
    return "\n".join(lines)
