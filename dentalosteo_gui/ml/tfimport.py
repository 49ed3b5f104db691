"""Import TensorFlow quietly: its C++ start-up chatter (absl/oneDNN notices) goes to stderr
before Python logging exists and would break the CLI's "one line on stderr" contract.

The native stderr is captured during the import and replayed only if the import fails.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from typing import Any

log = logging.getLogger(__name__)


def quiet_import_tensorflow() -> Any:
    """``import tensorflow`` with fd 2 captured; returns the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (frozen GUI on Windows): nothing to protect
        import tensorflow as tf

        return tf
    with tempfile.TemporaryFile(mode="w+b") as cap:
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        os.dup2(cap.fileno(), 2)
        try:
            import keras  # noqa: F401 - keras 3 start-up too
            import tensorflow as tf

            tf.constant(0.0) + 1.0  # first op: oneDNN prints its notice here
        except BaseException:
            os.dup2(saved, 2)
            os.close(saved)
            cap.seek(0)
            sys.stderr.write(cap.read().decode("utf-8", "replace")[-4000:])
            raise
        os.dup2(saved, 2)
        os.close(saved)
        cap.seek(0)
        noise = cap.read().decode("utf-8", "replace").strip()
        if noise:
            log.debug("TensorFlow start-up messages: %d lines", noise.count("\n") + 1)
    return tf
