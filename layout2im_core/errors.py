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
    """A device was asked for that this machine does not have (e.g. ``cuda`` without CUDA), or is
    not a device name at all."""
