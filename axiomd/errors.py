"""Every error axiomd raises on purpose, in one hierarchy.

Messages are written for the person who has to act on them: an artist whose file was
refused, or an operator whose config or server is wrong.
"""

from __future__ import annotations


class AxiomdError(Exception):
    """Base class for all errors axiomd raises deliberately."""


class ConfigError(AxiomdError):
    """The configuration file or environment is unusable."""


class UsageError(AxiomdError):
    """A command was given arguments that cannot work together."""


class NameRejected(AxiomdError):
    """A file name does not follow the drop root's naming rule."""

    def __init__(self, rejection: object) -> None:
        super().__init__(str(rejection))
        self.rejection = rejection


class VersionConflict(AxiomdError):
    """The version number in a file name is not the asset's next version."""

    def __init__(self, message: str, next_number: int | None = None) -> None:
        super().__init__(message)
        self.next_number = next_number


class VersionGap(VersionConflict):
    """A file asks for a number past the asset's next one: a lower one may be on its way."""

    def __init__(self, asset: str, requested: int, next_number: int) -> None:
        super().__init__(f"v{requested:03d} of {asset} is early: the next version is "
                         f"v{next_number:03d}; waiting for it to arrive", next_number)
        self.asset, self.requested = asset, requested


class DuplicateContent(AxiomdError):
    """The file's content is already stored as a version of the same asset."""

    def __init__(self, message: str, asset: str, version_label: str) -> None:
        super().__init__(message)
        self.asset = asset
        self.version_label = version_label


class SidecarInvalid(AxiomdError):
    """A dropped file's `NAME.axiomd.json` cannot be used; the file is refused with it."""


class SourceUnreadable(AxiomdError):
    """The dropped file cannot be read (permissions, I/O error); the artist must fix it."""


class NotFound(AxiomdError):
    """An asset, version or job named on the command line does not exist."""


class ReviewRefused(AxiomdError):
    """A review change (or a rollback) the version's state does not allow."""


class StoreError(AxiomdError):
    """The managed store cannot take or give a file (space, permissions, missing file)."""


class CatalogUnavailable(AxiomdError):
    """The catalog database cannot be reached."""


class BrokerError(AxiomdError):
    """RabbitMQ refused or dropped a connection, a publish or a confirm."""


class MalformedMessage(AxiomdError):
    """A queue message is not a job message axiomd understands."""


class JobFailed(AxiomdError):
    """A job's work failed; the message is the reason stored on the job."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
