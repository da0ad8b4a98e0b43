"""A worker loop run in a thread of the web process: the embedded setup (`lti-tool serve`) delivers grades,
sends mail and builds EQA packs this way, each with its own loop (`run_worker` of grading.worker,
notifications.delivery and eqa.jobs), where a production deployment runs each loop as a process of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask

# A worker loop: runs until the event is set.
Loop = Callable[[Flask, threading.Event], object]


class BackgroundWorker(threading.Thread):
    def __init__(self, app: Flask, name: str, loop: Loop) -> None:
        super().__init__(name=name, daemon=True)  # daemon: the process may end without waiting for a poll
        self.app = app
        self.loop = loop
        self.stop_event = threading.Event()

    def run(self) -> None:
        self.loop(self.app, self.stop_event)

    def stop(self, timeout: float = 10) -> None:
        self.stop_event.set()
        self.join(timeout)


def start_worker(app: Flask, name: str, loop: Loop) -> BackgroundWorker:
    worker = BackgroundWorker(app, name, loop)
    worker.start()
    return worker


def workers_named(name: str) -> list[BackgroundWorker]:
    """The background workers of this process with this name, running."""
    return [t for t in threading.enumerate() if isinstance(t, BackgroundWorker) and t.name == name]
