"""Colour management for review media: the `[color]` settings, their validation against the
OCIO config, and display LUTs baked once per (config, input space, display, view).

OCIO is used only to bake: the pixels themselves go through ffmpeg's `lut1d` + `lut3d`,
so a proxy costs what bare ffmpeg costs. Scene-linear inputs cannot be sampled well by a
3D LUT on a [0, 1] grid, so a 1D shaper first maps linear light onto log2(x + 2^-7) over
[0, SHAPER_MAX] (13 stops, ~0.2 stop per 3D node); display-referred and log inputs go
straight into the cube.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import PyOpenColorIO as ocio

from axiomd.errors import ConfigError
from axiomd.log import get_logger

log = get_logger("color")

SHAPER_SIZE = 16384
SHAPER_MAX = 64.0
SHAPER_OFFSET = 2.0 ** -7
CUBE_SIZE = 65
BAKE_VERSION = "1"  # bump when the baking below changes, so cached LUTs are remade


@dataclass(frozen=True)
class ColorSettings:
    """The `[color]` section: which OCIO config, the review display/view, and the colour
    space of image sources by extension (a drop root may override `inputs`)."""

    config: str = "ocio://studio-config-latest"
    display: str = "sRGB - Display"
    view: str = "ACES 2.0 - SDR 100 nits (Rec.709)"
    inputs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    hdr_tonemap: str = "mobius"
    hdr_transition: float = 0.8
    hdr_reference_nits: float = 100.0

    def __post_init__(self) -> None:
        cleaned = {str(k).lower().lstrip("."): str(v) for k, v in dict(self.inputs).items()}
        object.__setattr__(self, "inputs", MappingProxyType(cleaned))

    def with_inputs(self, overrides: Mapping[str, str]) -> ColorSettings:
        """These settings with a drop root's `color_inputs` laid over `inputs`."""
        merged = {**self.inputs, **{k.lower().lstrip("."): v for k, v in overrides.items()}}
        return ColorSettings(self.config, self.display, self.view, merged, self.hdr_tonemap,
                             self.hdr_transition, self.hdr_reference_nits)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], base: Path | None = None) -> ColorSettings:
        """From the parsed `[color]` table; a relative config path resolves against `base`
        (the config file's folder)."""
        known = {"config", "display", "view", "inputs", "hdr_tonemap", "hdr_transition",
                 "hdr_reference_nits"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"color: unknown key(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        values = dict(raw)
        path = str(values.get("config", cls.config))
        if base is not None and not path.startswith("ocio://") and not Path(path).is_absolute():
            values["config"] = str(base / path)
        inputs = values.get("inputs", {})
        if not isinstance(inputs, Mapping):
            raise ConfigError("color.inputs: expected a table of extension = colour space")
        return cls(**values)


TONEMAPS = ("mobius", "hable", "reinhard", "clip", "linear", "gamma")


def load_config(source: str) -> ocio.Config:
    """An OCIO config from a built-in URI (`ocio://studio-config-latest`) or a file path."""
    try:
        return _load_config(source)
    except ocio.Exception as exc:
        raise ConfigError(f"color.config: cannot load OCIO config {source!r}: {exc}") from exc


@lru_cache(maxsize=8)
def _load_config(source: str) -> ocio.Config:
    if source.startswith("ocio://"):
        return ocio.Config.CreateFromBuiltinConfig(source)
    return ocio.Config.CreateFromFile(source)


def config_identity(config: ocio.Config, source: str) -> str:
    """What to record on a version so the look can be reproduced: the config's name (for a
    built-in URI it includes the ACES/OCIO versions) and OCIO's cache id of its content."""
    name = config.getName() or source
    return f"{name} ({source}) #{config.getCacheID()[:12]}"


def _unknown(key: str, kind: str, name: str, choices: list[str]) -> ConfigError:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f" (close: {', '.join(close)})" if close else f" (known: {', '.join(choices[:12])}…)"
    return ConfigError(f"{key}: unknown {kind} {name!r}{hint}")


def validate_color_settings(settings: ColorSettings, key: str = "color") -> None:
    """Fail at config load, naming the key and close matches, rather than at the first proxy."""
    config = load_config(settings.config)
    displays = list(config.getDisplays())
    if settings.display not in displays:
        raise _unknown(f"{key}.display", "display", settings.display, displays)
    views = list(config.getViews(settings.display))
    if settings.view not in views:
        raise _unknown(f"{key}.view", f"view for display {settings.display!r}", settings.view,
                       views)
    spaces = list(config.getColorSpaceNames())
    for ext, space in settings.inputs.items():
        if config.getColorSpace(space) is None:
            raise _unknown(f"{key}.inputs.{ext}", "colour space", space, spaces)
    if settings.hdr_tonemap not in TONEMAPS:
        raise _unknown(f"{key}.hdr_tonemap", "tone-mapping curve", settings.hdr_tonemap,
                       list(TONEMAPS))
    if not 0.0 < settings.hdr_transition < 1.0:
        raise ConfigError(f"{key}.hdr_transition: must be between 0 and 1 "
                          f"(got {settings.hdr_transition})")
    if settings.hdr_reference_nits <= 0:
        raise ConfigError(f"{key}.hdr_reference_nits: must be positive")


def canonical_space(settings: ColorSettings, space: str) -> str:
    """The config's own name for a colour space given by name, alias or role."""
    found = load_config(settings.config).getColorSpace(space)
    if found is None:
        raise ConfigError(f"color: unknown colour space {space!r}")
    return str(found.getName())


def is_scene_linear(settings: ColorSettings, space: str) -> bool:
    config = load_config(settings.config)
    return bool(config.isColorSpaceLinear(space, ocio.REFERENCE_SPACE_SCENE))


def display_processor(settings: ColorSettings, space: str) -> ocio.CPUProcessor:
    """OCIO's own CPU path from `space` to the review display/view: what the LUTs imitate,
    and what accuracy is measured against."""
    config = load_config(settings.config)
    transform = ocio.DisplayViewTransform(src=space, display=settings.display,
                                          view=settings.view)
    return config.getProcessor(transform).getDefaultCPUProcessor()


def apply_display(settings: ColorSettings, space: str, rgb: np.ndarray) -> np.ndarray:
    """`rgb` (…, 3) floats in `space` → display-encoded floats, by OCIO's CPU processor."""
    pixels = np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 3).copy()
    display_processor(settings, space).applyRGB(pixels)
    return pixels.reshape(np.shape(rgb))


@dataclass(frozen=True)
class BakedLut:
    """The LUT files for one (config, input space, display, view); `shaper` is None for
    inputs that are already in [0, 1] (display-referred or log)."""

    cube: Path
    shaper: Path | None
    identity: str


def shaper_encode(linear: np.ndarray) -> np.ndarray:
    lo, hi = np.log2(SHAPER_OFFSET), np.log2(SHAPER_MAX + SHAPER_OFFSET)
    clipped = np.clip(linear, 0.0, SHAPER_MAX)
    return (np.log2(clipped + SHAPER_OFFSET) - lo) / (hi - lo)


def shaper_decode(encoded: np.ndarray) -> np.ndarray:
    lo, hi = np.log2(SHAPER_OFFSET), np.log2(SHAPER_MAX + SHAPER_OFFSET)
    return np.exp2(encoded * (hi - lo) + lo) - SHAPER_OFFSET


def bake_key(settings: ColorSettings, space: str) -> str:
    config = load_config(settings.config)
    parts = [BAKE_VERSION, config.getCacheID(), space, settings.display, settings.view,
             str(CUBE_SIZE), str(SHAPER_SIZE)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def _write_atomic(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _rows(values: np.ndarray) -> str:
    return "\n".join(" ".join(f"{v:.7g}" for v in row) for row in values) + "\n"


def bake_display_lut(settings: ColorSettings, space: str, cache: Path) -> BakedLut:
    """The display LUT for `space`, baked on first use and then read from `cache`.

    Concurrent workers may bake the same LUT at once; each writes under a temporary name
    and renames, so a reader never sees half a file and the last rename wins harmlessly.
    """
    space = canonical_space(settings, space)
    key = bake_key(settings, space)
    cache.mkdir(parents=True, exist_ok=True)
    cube, shaper = cache / f"{key}.cube", cache / f"{key}-shaper.cube"
    linear = is_scene_linear(settings, space)
    identity = config_identity(load_config(settings.config), settings.config)
    if cube.is_file() and (not linear or shaper.is_file()):
        return BakedLut(cube, shaper if linear else None, identity)
    started = time.perf_counter()
    steps = np.linspace(0.0, 1.0, CUBE_SIZE, dtype=np.float64)
    b, g, r = np.meshgrid(steps, steps, steps, indexing="ij")  # .cube: red varies fastest
    grid = np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)
    if linear:
        grid = shaper_decode(grid)
        ramp = np.linspace(0.0, SHAPER_MAX, SHAPER_SIZE)
        encoded = np.repeat(shaper_encode(ramp)[:, None], 3, axis=1)
        _write_atomic(shaper, f"LUT_1D_SIZE {SHAPER_SIZE}\nDOMAIN_MIN 0 0 0\n"
                              f"DOMAIN_MAX {SHAPER_MAX} {SHAPER_MAX} {SHAPER_MAX}\n"
                      + _rows(encoded))
    display = np.clip(apply_display(settings, space, grid), 0.0, 1.0)
    _write_atomic(cube, f"LUT_3D_SIZE {CUBE_SIZE}\n" + _rows(display))
    log.info("color.lut_baked", key=key, input=space, display=settings.display,
             view=settings.view, shaper=linear,
             duration_ms=round((time.perf_counter() - started) * 1000))
    return BakedLut(cube, shaper if linear else None, identity)


def color_line(record: Mapping[str, Any]) -> str:
    """One line for `axiomd show` from the `color` record a proxy/thumbnail job stored."""
    if "input" in record:
        return (f"{record['input']} → {record.get('display')} / {record.get('view')} "
                f"[{record.get('config')}]")
    return f"{record.get('source', 'unknown source')}: {record.get('applied', '-')}"


def review_settings(section: Any, root_inputs: Mapping[str, str] | None = None) -> ColorSettings:
    """These settings from the config's `[color]` section, with a drop root's
    `color_inputs` laid over the inputs when given."""
    settings = ColorSettings(section.config, section.display, section.view,
                             dict(section.inputs))
    return settings.with_inputs(root_inputs) if root_inputs else settings
