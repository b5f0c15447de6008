"""TensorFlow's start without its start-up noise in notebook cells.

Importing TensorFlow and finding its devices writes C++ log lines straight to the
process' stderr (file descriptor 2): "failed call to cuInit: CUDA error" on every
machine without a GPU, oneDNN and CPU-instruction notices. Jupyter kernels forward
that descriptor into the cell output, where they read as errors. :func:`start`
imports TensorFlow and lists its devices once, with descriptor 2 pointed at a
temporary file, then writes back (through ``sys.stderr``) every line that is not
one of these known start-up notices. Set ``NBINTERP_TF_LOGS=1`` to see them all.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading

#: start-up lines that say nothing is wrong (substrings)
BENIGN = (
    "failed call to cuInit",
    "Could not find cuda drivers",
    "oneDNN custom operations are on",
    "All log messages before absl::InitializeLog() is called",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
    "computation placer already registered",
    "TF-TRT Warning",
    "Attempting to register factory for plugin",
    "cuda_executor.cc",
    "rebuild TensorFlow with the appropriate compiler flags",
)

_lock = threading.Lock()
_started = False


def kept_lines(text: str) -> list[str]:
    """The lines of captured start-up output that are not known notices."""
    return [line for line in text.splitlines() if line.strip() and not any(b in line for b in BENIGN)]


def start() -> None:
    """Import TensorFlow and initialise its devices once, quietly (see the module docs)."""
    global _started
    if _started:
        return
    with _lock:
        if _started:
            return
        _started = True
        if os.environ.get("NBINTERP_TF_LOGS"):
            import tensorflow as tf

            tf.config.list_physical_devices()
            return
        try:
            saved = os.dup(2)
        except OSError:  # no descriptor 2 to redirect: nothing reaches a cell anyway
            import tensorflow  # noqa: F401
            return
        with tempfile.TemporaryFile(mode="w+b") as capture:
            try:
                sys.stderr.flush()
                os.dup2(capture.fileno(), 2)
                try:
                    import tensorflow as tf

                    tf.config.list_physical_devices()
                finally:
                    os.dup2(saved, 2)
                    os.close(saved)
            finally:
                capture.seek(0)
                lines = kept_lines(capture.read().decode("utf-8", "replace"))
        if lines:
            sys.stderr.write("\n".join(lines) + "\n")
