"""OS names for the worker's own threads, so that `top -H`, `ps -L` and the bench tell them
apart: Python names every thread it starts after the process ("python"), and only the
kernel's name (`/proc/<pid>/task/<tid>/comm`, at most 15 bytes) is seen from outside.
librdkafka names its own threads ("rdk:main", "rdk:broker1", ...)."""

from __future__ import annotations

import contextlib
import ctypes
import sys

CONSUMER = "lg-consumer"  # Faust's consumer thread: aiokafka's fetches, in its own event loop
DELIVERIES = "lg-deliveries"  # the librdkafka sender's delivery reports (rdkafkasend.py)
_PR_SET_NAME = 15


def name_this_thread(name: str) -> None:
    """Give the calling thread its OS name (Linux; elsewhere nothing happens)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # no prctl: a convenience only
        ctypes.CDLL(None).prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
