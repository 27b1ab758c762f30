"""What the reference_*_calls.py scripts print, the same way under both packages.

Only what a rocksq 0.3.0 caller could rely on: values and result types, and
of an error the builtin family it belongs to (the two packages' exception
classes differ).
"""


def show(label, value):
    print(f"{label}: {value!r}")


def error_family(error):
    """The most specific builtin exception class that `error` is an instance of."""
    return next(
        kind.__name__
        for kind in (OverflowError, TypeError, ValueError, RuntimeError, Exception)
        if isinstance(error, kind)
    )


def outcome(call, *args, **kwargs):
    """The result of a call, or the builtin family of what it raised."""
    try:
        return ("returned", call(*args, **kwargs))
    except Exception as error:  # noqa: BLE001 - reporting it is the point
        return ("raised", error_family(error))
