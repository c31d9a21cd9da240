"""HTML from the files in ``templates/``: every value is escaped unless it is ``Markup``.

Templates use ``string.Template`` placeholders (``${name}``); a missing value is an
error, so a typo in a template fails the tests instead of showing a blank.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from functools import cache
from importlib import resources
from string import Template


class Markup(str):
    """HTML that is already safe (rendered from a template or escaped)."""


def escape(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[Markup]) -> Markup:
    return Markup("".join(escape(p) for p in parts))


@cache
def _template(name: str) -> Template:
    text = resources.files("moot.webadmin").joinpath("templates", name).read_text("utf-8")
    return Template(text)


def render(template: str, /, **values: object) -> Markup:
    return Markup(_template(template).substitute({k: escape(v) for k, v in values.items()}))
