"""The evaluation report shared by ``layout2im eval`` and ``layout2im check-scenes``: one figure entry
format, strict-JSON writing and a plain-text table.

A figure entry is ``{"value": float, "n": int, "target": {"op", "value"} | None, "pass": bool | None,
...extra}``; ``op`` is one of ``>=``, ``>``, ``<=``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import Layout2ImError

OPS = (">=", ">", "<=")


def check_output_folder(path) -> None:
    """Raise Layout2ImError when the folder a report (or another output file) would go in does not
    exist: checked before any work."""
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise Layout2ImError(f"output folder {folder} does not exist")


def entry(value: Optional[float], n: int, target: Optional[Tuple[str, float]] = None, **extra) -> Dict:
    """One figure: value, count, target and pass (None when there is no target or no value).

    Raises:
        Layout2ImError: an unknown comparison in ``target``.
    """
    v = float("nan") if value is None else float(value)
    e: Dict[str, Any] = {"value": v, "n": int(n), "target": None, "pass": None}
    if target is not None:
        op, t = target
        if op not in OPS:
            raise Layout2ImError(f"unknown comparison {op!r}; choose one of {OPS}")
        e["target"] = {"op": op, "value": float(t)}
        if math.isfinite(v):
            e["pass"] = bool(v >= t) if op == ">=" else bool(v > t) if op == ">" else bool(v <= t)
        else:
            e["pass"] = False
    e.update(extra)
    return e


def finite(obj):
    """NaN and infinities -> None, recursively, so the file is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def write_json(result: Dict, path) -> None:
    """Write a result as strict, indented JSON, atomically (temp file + fsync + rename)."""
    from ..checkpoint import atomic_write_bytes

    atomic_write_bytes(Path(path), (json.dumps(finite(result), indent=1) + "\n").encode())


def passed(figures: Dict[str, Dict]) -> bool:
    """True when every figure with a target passes."""
    return all(e["pass"] for e in figures.values() if isinstance(e, dict) and e.get("pass") is not None)


def format_value(e: Dict) -> str:
    """A figure's value as text ("n/a" for none; "%" unit shown; "± std" when the entry has a spread
    over more than one subset)."""
    v = e.get("value")
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if e.get("unit") == "%":
        txt = f"{v:.2f} %"
    else:
        txt = f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
    std = e.get("std")
    if std is not None and e.get("subsets", 2) > 1 and isinstance(std, (int, float)) and math.isfinite(std):
        txt += f" ± {std:.4f}" if abs(v) < 10 else f" ± {std:.2f}"
    return txt


def format_table(head: str, figures: Dict[str, Dict], extra_columns: Tuple[str, ...] = ()) -> str:
    """Plain-text table: figure, value, target, result, n (and ``extra_columns`` read from each entry),
    under ``head``, ending with the overall pass/fail line when any figure has a target."""
    import textwrap

    rows = [("figure", "value", "target", "result", "n") + tuple(extra_columns)]
    notes: List[str] = []
    for name, e in figures.items():
        if not isinstance(e, dict):  # a sentence, e.g. why a figure is not computed
            notes.append(name)
            notes += ["    " + line for line in textwrap.wrap(str(e), 96)]
            continue
        t = e.get("target")
        tgt = "" if not t else f"{t['op']} {t['value']:g}{' %' if e.get('unit') == '%' else ''}"
        ok = "" if e.get("pass") is None else ("pass" if e["pass"] else "FAIL")
        count = f"{e['n']} {e.get('count_of', 'crops' if e.get('unit') == '%' else 'layouts')}"
        if not tgt and not ok and not extra_columns:
            tgt = ok = ""
        more = tuple("" if e.get(c) is None else (format_value({"value": e[c], "unit": e.get("unit")})
                                                  if isinstance(e[c], (int, float)) else str(e[c]))
                     for c in extra_columns)
        rows.append((name, format_value(e), tgt, ok, count) + more)
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = [head] + ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows] + notes
    if any(isinstance(e, dict) and e.get("pass") is not None for e in figures.values()):
        lines.append("overall: " + ("pass" if passed(figures) else "FAIL"))
    return "\n".join(lines)
