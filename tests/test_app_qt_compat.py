"""PySide6 6.12 on CPython < 3.12 drops a reference to None at every call of a void method; the app
makes None immortal so a long drag cannot abort the interpreter ("deallocating None")."""

import sys

import pytest
from PySide6.QtCore import QObject

from app.qt_compat import protect_none

pytestmark = pytest.mark.gui


def test_none_survives_many_void_calls(qapp):
    protect_none()
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(5000):
        probe.setObjectName("x")  # returns nothing
    lost = before - sys.getrefcount(None)
    assert lost < 100 or sys.getrefcount(None) > 2 ** 40, "None's reference count is running down"
