"""``precision="auto"``: the mixed-precision policy that trains fastest on this machine.

=====================================  ==============================================
hardware                               policy
=====================================  ==============================================
NVIDIA GPU with tensor cores (>= 7.0)  ``mixed_float16``
CPU advertising bf16 (AVX512_BF16/AMX)  ``mixed_bfloat16`` only if a short measurement
                                       shows it at least :data:`BF16_MIN_SPEEDUP` x
                                       faster than float32, else ``float32``
anything else                          ``float32``
=====================================  ==============================================

A CPU flag says what the CPU offers, not what TensorFlow's kernels make of it: on some
CPUs that list AVX512_BF16, bfloat16 training is slower than float32. So the first
``auto`` on such a CPU times a few training steps of a small convolutional network in
both policies (about two seconds) and caches the decision per CPU model, CPU flags,
TensorFlow and Keras version in ``<cache>/precision.json`` (see :func:`bcnet_tf.io.cache_dir`).
``python -m bench.precision`` compares ``auto`` with float32 on real models.
"""

from __future__ import annotations

import hashlib
import json
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from bcnet_tf.io import atomic_write_json, cache_dir

POLICIES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
#: How much faster than float32 mixed_bfloat16 must train for ``auto`` to choose it.
BF16_MIN_SPEEDUP = 1.1
CACHE_FILE = "precision.json"

#: Seconds per training step for each policy name, e.g. ``{"float32": 0.02, ...}``.
Measurement = Callable[[tuple[str, ...]], dict[str, float]]


def _cpuinfo(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        return cpuinfo.read_text()
    except OSError:
        return ""


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU advertises AVX512_BF16 or AMX-BF16 (Linux ``/proc/cpuinfo``)."""
    flags = _cpuinfo(cpuinfo)
    return " avx512_bf16" in flags or " amx_bf16" in flags


def gpu_has_tensor_cores() -> bool:
    """True when a visible GPU has compute capability 7.0 or newer."""
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and capability >= (7, 0):
            return True
    return False


def machine_key() -> str:
    """What a cached CPU decision depends on: CPU model and flags, TensorFlow, Keras."""
    lines = _cpuinfo().splitlines()
    wanted = ("model name", "flags")
    cpu = sorted({line for line in lines if line.split(":")[0].strip() in wanted})
    parts = [platform.machine(), platform.processor(), *cpu, tf.__version__, keras.__version__]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def time_train_steps(policies: tuple[str, ...], steps: int = 6) -> dict[str, float]:
    """Median seconds of a training step of a small conv net computing in each policy.

    Each policy's net is warmed up (traced) first, then the timed steps alternate
    between policies so that a load change hits all alike. Layers get their policy
    through ``dtype``, so Keras' global policy is never touched.

    Example:
        >>> time_train_steps(("float32", "mixed_bfloat16"))  # doctest: +SKIP
        {'float32': 0.021, 'mixed_bfloat16': 0.034}
    """
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (16, 64, 64, 3)).astype("float32")
    labels = keras.utils.to_categorical(np.arange(16) % 3, 3)

    def net(policy: str) -> keras.Model:
        init = keras.initializers.GlorotUniform(seed=0)  # no draw from the global seed
        inputs = keras.Input((64, 64, 3), name="probe_images")
        x = inputs
        for i, width in enumerate((32, 64, 64)):
            x = keras.layers.Conv2D(
                width,
                3,
                strides=1 + i % 2,
                padding="same",
                kernel_initializer=init,
                dtype=policy,
                name=f"probe_conv{i}",
            )(x)
            x = keras.layers.BatchNormalization(dtype=policy, name=f"probe_bn{i}")(x)
            x = keras.layers.ReLU(dtype=policy, name=f"probe_relu{i}")(x)
        x = keras.layers.GlobalAveragePooling2D(dtype=policy, name="probe_pool")(x)
        outputs = keras.layers.Dense(
            3, activation="softmax", kernel_initializer=init, dtype="float32", name="probe_out"
        )(x)
        model = keras.Model(inputs, outputs, name=f"probe_{policy}")
        model.compile(keras.optimizers.SGD(0.01), "categorical_crossentropy")
        model.train_on_batch(images, labels)  # trace and warm up
        model.train_on_batch(images, labels)
        return model

    models = {policy: net(policy) for policy in policies}
    times: dict[str, list[float]] = {policy: [] for policy in policies}
    for _ in range(steps):
        for policy, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(images, labels)
            times[policy].append(time.perf_counter() - start)
    return {policy: statistics.median(values) for policy, values in times.items()}


def cpu_policy(measure: Measurement = time_train_steps) -> str:
    """``mixed_bfloat16`` if it measurably trains faster than float32 on this CPU, else
    ``float32``; measured once per machine (:func:`machine_key`) and cached.

    Example:
        >>> cpu_policy()  # doctest: +SKIP
        precision auto: float32 (mixed_bfloat16 measured 0.6x float32 on this CPU; ...)
        'float32'
    """
    if not cpu_has_native_bf16():
        return "float32"
    path = cache_dir() / CACHE_FILE
    key = machine_key()
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(key)
    if not isinstance(entry, dict) or entry.get("policy") not in POLICIES:
        seconds = measure(("float32", "mixed_bfloat16"))
        speedup = seconds["float32"] / seconds["mixed_bfloat16"]
        entry = {
            "policy": "mixed_bfloat16" if speedup >= BF16_MIN_SPEEDUP else "float32",
            "bf16_speedup": round(speedup, 3),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        atomic_write_json(path, {**cache, key: entry})
    print(
        f"precision auto: {entry['policy']} (mixed_bfloat16 measured "
        f"{entry['bf16_speedup']:.2g}x float32 on this CPU; cached in {path})"
    )
    return entry["policy"]


def resolve_precision(precision: str = "auto", measure: Measurement = time_train_steps) -> str:
    """The Keras dtype policy name ``precision`` stands for on this machine.

    ``measure`` times training steps per policy (only ``auto`` on a bf16 CPU uses it,
    once per machine).

    Example:
        >>> resolve_precision("float32")
        'float32'
    """
    if precision not in POLICIES:
        raise ValueError(f"precision must be one of {POLICIES}, not {precision!r}")
    if precision != "auto":
        return precision
    if gpu_has_tensor_cores():
        return "mixed_float16"
    if tf.config.list_physical_devices("GPU"):
        return "float32"
    return cpu_policy(measure)


def set_precision(precision: str = "auto") -> str:
    """Resolve ``precision`` and make it Keras' global policy; returns the policy name.

    Call it before building the model (``keras.backend.clear_session()`` resets it).
    """
    policy = resolve_precision(precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy


@contextmanager
def precision_scope(precision: str = "auto") -> Iterator[str]:
    """:func:`set_precision` for the block; the caller's global policy comes back after
    it, so models built later in the same process are not mixed precision by surprise.

    Example:
        >>> with precision_scope("float32") as policy:
        ...     print(policy)
        float32
    """
    caller = keras.mixed_precision.global_policy()
    try:
        yield set_precision(precision)
    finally:
        keras.mixed_precision.set_global_policy(caller)
