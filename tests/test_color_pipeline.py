"""Colour management in the real proxy and thumbnail jobs, not only in the filter builders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from axiomd.app import App
from axiomd.catalog import schema
from axiomd.catalog.versions import get_version
from axiomd.config import load_config
from axiomd.errors import ConfigError
from tests.colortools import read_png, write_exr
from tests.helpers import ASSET, ingest, outputs, run_all_jobs

COLOR = """
[color]
[color.inputs]
exr = "ACEScg"

[transcode.presets.thumbnail]
kind = "thumbnail"
format = "png"
"""


def test_a_linear_exr_gets_a_colour_managed_thumbnail_and_proxy_and_says_so(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    """0.18 scene-linear grey shows as OCIO's display code (89 for ACES 2.0 SDR; ~25 before)."""
    app = App(load_config(write_config(f"sqlite:///{tmp_path / 'catalog.db'}", extra=COLOR,
                                       jobs='["probe", "proxy_h264", "thumbnail"]')))
    schema.upgrade(app.engine)
    exr = write_exr(tmp_path / f"{ASSET}_v001.exr", np.full((240, 320, 3), 0.18, np.float32))
    ingest(app, exr)
    run_all_jobs(app)
    version = get_version(app.engine, ASSET, 1)
    assert version.status == "complete", version.error
    assert version.media is not None and version.media["color"]["input"] == "ACEScg"
    thumb = read_png(outputs(app)["thumbnail"])
    assert np.abs(thumb[120, 160].astype(int) - 89).max() <= 2
    app.close()


def test_an_unknown_colour_space_is_a_config_error_at_load(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    path = write_config(f"sqlite:///{tmp_path / 'c.db'}",
                        extra='[color]\n[color.inputs]\nexr = "ACEScgg"\n')
    with pytest.raises(ConfigError, match=r"color.inputs.exr: unknown colour space 'ACEScgg'"):
        load_config(path)
