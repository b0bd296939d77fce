"""Running the Faust app as a worker process."""

from __future__ import annotations

from typing import Any

import faust

from pipeline.adapters.faust.privates import check


def run_worker(app: faust.App, loglevel: str, logging_config: dict[str, Any]) -> None:
    """Run until stopped. Refuses to start, naming what is missing, when an upgrade of
    Faust, mode, aiokafka or rocksdict removed a private name LiveGate relies on."""
    check()
    worker = faust.Worker(
        app, loglevel=loglevel, quiet=True, redirect_stdouts=False,
        console_port=0, logging_config=logging_config,
    )  # fmt: skip
    # Faust's terminal spinner sets the root logger to DEBUG so that it spins on every
    # record: every debug call in aiokafka and Faust then builds a record (a fifth of the
    # worker's time in the profile). No spinner: the level stays what --loglevel says.
    worker.spinner = None
    worker.execute_from_commandline()
