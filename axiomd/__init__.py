"""axiomd: a watch-folder media pipeline for VFX and animation studios."""

__version__ = "0.1.0"
