"""The app's clipboard payloads: JSON under the app's own MIME types (objects, looks), also as plain
text. The clipboard takes ownership of the QMimeData made here (docs/architecture.md, "Qt object
lifetimes")."""

from __future__ import annotations

import json
from typing import Any, Optional

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication


def put_json(mime_type: str, value: Any) -> None:
    """Put ``value`` (JSON-serialisable) on the clipboard as ``mime_type`` and as text."""
    payload = json.dumps(value)
    mime = QMimeData()
    mime.setData(mime_type, payload.encode("utf-8"))
    mime.setText(payload)
    QGuiApplication.clipboard().setMimeData(mime)


def get_json(mime_type: str) -> Optional[Any]:
    """The clipboard's ``mime_type`` payload, decoded; None when it holds none.

    Raises:
        ValueError: the payload is there but is not UTF-8 JSON.
    """
    mime = QGuiApplication.clipboard().mimeData()
    if mime is None or not mime.hasFormat(mime_type):
        return None
    return json.loads(bytes(mime.data(mime_type).data()).decode("utf-8"))
