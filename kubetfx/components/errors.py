"""The small exception hierarchy every kubetfx stage raises.

The CLI maps these to exit codes: `ConfigError` is a usage error (exit 2, no traceback);
the others fail the run (exit 1) after their message is printed.
"""


class KubetfxError(Exception):
    """Base class: a failure kubetfx understands and can explain to the user."""


class ConfigError(KubetfxError):
    """A config value or CLI flag is wrong. The message names the field, the value and the fix."""


class DataError(KubetfxError):
    """Input data cannot be read or does not fit what the config says about it."""


class ValidationFailed(KubetfxError):
    """Data validation found blocking anomalies; the report artifact has the details."""
