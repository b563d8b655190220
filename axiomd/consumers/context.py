"""What a job handler is given and gives back. Its own module so that the handler
registry can import the media jobs, and the media jobs these types, without a cycle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from axiomd.catalog.jobs import ClaimedJob
from axiomd.config import Config, Preset
from axiomd.store import Store


@dataclass
class JobResult:
    outputs: dict[str, Any] | None = None
    media: dict[str, Any] | None = None


@dataclass
class JobContext:
    config: Config
    store: Store
    preset: Preset
    stop: threading.Event = field(default_factory=threading.Event)
    log: Any = None


Handler = Callable[[ClaimedJob, JobContext], JobResult]
