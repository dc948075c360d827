"""Exceptions raised by the core. Every message names the problem and, where there is one, the
offending value, object index, file or field. All derive from :class:`Layout2ImError`, itself a
``ValueError``, so callers (the app, the CLI) can catch one type and show the message."""


class Layout2ImError(ValueError):
    """Base class of every documented error of the core."""


class LayoutError(Layout2ImError):
    """A layout cannot be rendered: empty, too many objects, bad bbox (NaN, inf, inverted, zero
    area) or a z of the wrong size."""


class UnknownCategoryError(LayoutError):
    """A category name or id is not in the model's vocabulary. ``.labels`` lists the unknown ones."""

    def __init__(self, message: str, labels=()):
        super().__init__(message)
        self.labels = tuple(labels)


class ModelFileError(Layout2ImError):
    """A model or checkpoint file is missing, truncated, not a model, or of another vocabulary or
    preset than required."""


class DataError(Layout2ImError):
    """A data set cannot be read: missing files, wrong schema, or no usable image."""


class DeviceError(Layout2ImError):
    """A device name is not one of ``auto``, ``cpu``, ``cuda``, ``cuda:<index>``, or names hardware
    this machine lacks."""


# --- message helpers ------------------------------------------------------------------------------
MAX_VALUE_CHARS = 80  # an offending value quoted in a message is cut to about this many characters


def clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters (the cut marked with "...", the full length
    given), so a message that quotes a value stays short however large the value is."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:max(limit - 20, 8)]}... ({len(text)} chars)"


def value_text(value, limit: int = MAX_VALUE_CHARS) -> str:
    """``repr(value)`` clipped (see :func:`clip`); containers are summarised before repr-ing, so a
    huge list is never turned into a huge string first."""
    if isinstance(value, (list, tuple, dict)) and len(value) > 16:
        return f"<{type(value).__name__} of {len(value)} items>"
    if isinstance(value, (str, bytes)) and len(value) > limit:
        return f"{repr(value[:max(limit - 24, 8)])}... ({len(value)} {'chars' if isinstance(value, str) else 'bytes'})"
    try:
        return clip(repr(value), limit)
    except Exception:  # a repr that fails or recurses
        return f"<{type(value).__name__}>"


def exception_reason(e: BaseException, limit: int = 160) -> str:
    """A short reason for a wrapped exception: its first meaningful line, clipped. A refusal of
    ``torch.load(weights_only=True)`` becomes "it needs code to load (...), which is never run", without
    torch's advice to load with ``weights_only=False`` (which would run code from the file)."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip() or type(e).__name__
    if "weights_only" in text or "Weights only load failed" in text or "WeightsUnpickler" in text:
        m = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\.?\s+Please|\n\n|$)", text, re.S)
        detail = " ".join(m.group(1).split()) if m else ""
        detail = detail.replace("GLOBAL ", "")
        return clip(f"it holds data that only code could rebuild{f' ({clip(detail, 90)})' if detail else ''}, "
                    f"and code in files is never run", limit)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(e).__name__)
    if len(first) > limit:  # keep whole sentences where one fits
        end = first.rfind(". ", 0, limit)
        first = first[:end + 1] if end > 20 else first
    return clip(first, limit)
