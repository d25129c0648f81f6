"""The segsync exception tree.

Every error segsync raises on purpose is a :class:`SegsyncError`. The CLI maps each branch to
an exit code and prints its message without a traceback (unless ``--debug``)::

    SegsyncError                      base of everything below
    ├── ConfigError                   exit 2: segsync.toml, env overrides, segment definitions
    ├── InputError                    exit 2: a source file or record that cannot be read
    ├── PluginError                   exit 2: a plugin that fails to load or breaks the contract
    ├── StoreError                    exit 2: the store cannot be opened, or is from a newer segsync
    ├── LockHeldError                 exit 4: another run holds the store's lock
    ├── MissingExtraError             exit 2: an optional extra is not installed (an ImportError)
    ├── ModelError                    exit 2: a predictive model cannot be fitted or trusted
    └── ConnectorError                raised by connectors, classified once at the boundary
        ├── RetryableError            worth trying again: 429, 5xx, 423, timeouts, network
        └── FatalError                not worth retrying: bad credentials, bad request
            ├── AuthError             401/403: the credentials are wrong or lack a scope
            └── QuotaError            a quota (per day) is used up: stop until it resets

Connectors only *classify* what went wrong (retryable or fatal); the retry policy lives in one
place. Messages never contain secrets.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "ConnectorError",
    "FatalError",
    "InputError",
    "LockHeldError",
    "MissingExtraError",
    "ModelError",
    "PluginError",
    "QuotaError",
    "RetryableError",
    "SegsyncError",
    "StoreError",
]


class SegsyncError(Exception):
    """Base class of every error segsync raises on purpose."""

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(SegsyncError):
    """The configuration is invalid.

    ``errors`` holds one line per problem, each naming the file, the key path, what was
    expected and what was found.
    """

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        self.errors = errors or [message]
        super().__init__(message)

    def __str__(self) -> str:
        if len(self.errors) == 1:
            return self.errors[0]
        lines = [self.message, *("  - " + e for e in self.errors)]
        return "\n".join(lines)


class InputError(SegsyncError):
    """A source's data cannot be read: names the file, line or record and what was expected."""


class PluginError(SegsyncError):
    """A plugin failed to load, or registered something that breaks the contract."""


class StoreError(SegsyncError):
    """The store cannot be opened or migrated."""


class LockHeldError(SegsyncError):
    """Another segsync process holds the store's run lock."""

    exit_code = 4


class MissingExtraError(SegsyncError, ImportError):
    """A feature needs an optional extra that is not installed; the message says which
    ``pip install 'segsync[EXTRA]'`` brings it. Also an :class:`ImportError`, so code that
    probes for the feature with ``except ImportError`` keeps working."""

    def __init__(self, message: str, *, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


class ModelError(SegsyncError):
    """A predictive model (``segsync.predict``) cannot be fitted on the data, or fits too
    poorly to be used: the message says which model, what happened and what to change."""


class ConnectorError(SegsyncError):
    """Raised by a connector when talking to its platform failed.

    ``status`` is the HTTP status of the answer that failed, when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetryableError(ConnectorError):
    """A transient failure: the same request may succeed later.

    ``retry_after`` is the delay in seconds the platform asked for, when it said.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class FatalError(ConnectorError):
    """A failure that retrying will not fix."""


class AuthError(FatalError):
    """The platform refused the credentials (401) or they lack a permission (403)."""


class QuotaError(FatalError):
    """The platform's request quota for a period (a day) is used up.

    Nothing is wrong with the records: segsync stops the sync, keeps its changes pending and
    sends them on a later run, after the quota has reset.
    """
