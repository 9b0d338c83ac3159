"""HTML pages from Jinja2 templates (harness/reporting/templates): they open from disk, with no server or internet."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import jinja2
import pandas as pd

from harness.atomic import write_text, write_with
from harness.records import reason_text
from harness.reporting.i18n import status_word


class _Environment(jinja2.Environment):
    def getattr(self, obj, attribute):
        """`text.values` is the label "values", not the dict's method: in a mapping, keys come first."""
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


_templates = _Environment(
    loader=jinja2.PackageLoader("harness.reporting", "templates"), autoescape=jinja2.select_autoescape(["html"])
)


@jinja2.pass_context
def _status(context, status: str) -> str:
    """`{{ run.status | status }}`: a run's status in the page's language."""
    return status_word(status, context.get("lang", "en"))


@jinja2.pass_context
def _reason(context, reason: dict | str | None) -> str:
    """`{{ status.reason | reason }}`: why a run stopped, in the page's language."""
    return reason_text(reason, context.get("lang", "en")) or ""


_templates.filters |= {"status": _status, "reason": _reason}


def clean(value):
    """NaN and pandas' NA (missing values) show as an empty cell, not as 'nan' or '<NA>'."""
    missing = (isinstance(value, float) and math.isnan(value)) or value is pd.NA
    return None if missing else value


def japanese_font(reports_dir: Path) -> None:
    """Copy the IPAex Gothic font that matplotlib-fontja ships next to the pages, for browsers without one."""
    import matplotlib_fontja

    target = reports_dir / "_assets" / "ipaexg.ttf"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        source = Path(matplotlib_fontja.__file__).parent / "fonts" / "ipaexg.ttf"
        write_with(target, lambda path: shutil.copyfile(source, path))


def write_page(template: str, path: Path, reports_dir: Path, lang: str, **context) -> None:
    """Render a page; `root` in templates is the relative way from the page back to reports/."""
    if lang == "ja":
        japanese_font(reports_dir)
    root = os.path.relpath(reports_dir, path.parent)
    write_text(path, _templates.get_template(template).render(root=root, lang=lang, **context))
