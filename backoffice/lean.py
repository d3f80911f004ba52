"""List pages without unfold's repetition: its per-cell utility classes named once, whitespace collapsed.

unfold styles with Tailwind utility classes written on every element, so a list of 100 rows carries
the same class strings a thousand times: a cell's 14 classes (165 bytes) on each of ~1,000 cells, the
row checkbox's 31 (540 bytes) on each row, and the indentation of its templates between them. That
was 55-75 % of a list page's 420-710 KB (bench/admin_pages.py, issue 14).

Here each such class list is an *alias*: one short class (``sd-cell``) whose rules are unfold's own
rules for those utilities, copied from unfold's stylesheet under the alias's name
(``stylesheet()``, kept in ``backoffice/static/backoffice/lean.css`` by
``manage.py lean_stylesheet``; a test fails when unfold's stylesheet or lists change and the file
was not made again). ``lean_html`` then writes the alias where unfold wrote the list, keeps the
classes unfold's stylesheet does not style (``action-checkbox``, which Django's actions.js looks
for), and drops the indentation after each line break, except inside ``<pre>``, ``<textarea>``
and ``<script>``.
The page looks the same: the same rules apply to the same elements, in the same layer and order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.utils.html import escape
from unfold.templatetags.unfold_list import TABLE_ACTION_CELL_CLASSES, TABLE_CELL_CLASSES
from unfold.widgets import CHECKBOX_CLASSES

UNFOLD_STYLESHEET = "unfold/css/styles.css"
STYLESHEET = Path(__file__).parent / "static" / "backoffice" / "lean.css"

# alias -> the class list it stands for, exactly as unfold joins it into a class attribute.
ALIASES: dict[str, Sequence[str]] = {
    "sd-cell": TABLE_CELL_CLASSES,  # every cell of a list
    "sd-check-cell": TABLE_ACTION_CELL_CLASSES,  # the cell of the row checkbox
    "sd-checkbox": CHECKBOX_CLASSES,  # the row checkbox and the "select all" box
}

# Written by our own code with the alias itself (nothing is replaced): only their rules are made.
OWN_ALIASES: dict[str, Sequence[str]] = {
    # A row's action links (bookings.admin.actions); they also wrote px-0.5, which unfold's
    # stylesheet never defined (Tailwind keeps only the classes unfold itself uses).
    "sd-row-action": ("text-base-400", "hover:text-primary-600"),
    "sd-icon-18": ("material-symbols-outlined", "md-18"),
    # A name over its detail (bookings.admin.base.two_lines).
    "sd-two-lines": ("flex", "flex-col", "text-start"),
    "sd-first-line": ("block", "font-normal"),
}

# Shortened only in what bookings.admin.base.badge and yes_no draw with unfold's label.html and
# boolean.html (``lean_fragment``), not page-wide: elsewhere such a list may sit beside a class that
# overrides one of its rules by coming later in unfold's stylesheet. Should unfold change these
# templates, their classes are merely not shortened.
FRAGMENT_ALIASES: dict[str, Sequence[str]] = {
    "sd-badge": (
        "inline-block",
        "font-semibold",
        "rounded-default",
        "text-[11px]",
        "uppercase",
        "whitespace-nowrap",
        "h-6",
        "leading-6",
        "px-2",
    ),
    "sd-mark": (
        "inline-flex",
        "font-semibold",
        "items-center",
        "justify-center",
        "leading-normal",
        "h-6",
        "w-6",
        "!rounded-full",
        "uppercase",
        "whitespace-nowrap",
    ),
    # The colours, after the badge's or the tick's classes.
    "sd-grey": ("bg-base-500/8", "text-base-700", "dark:bg-base-500/20", "dark:text-base-200"),
    "sd-unknown": ("bg-base-200", "text-base-600", "dark:bg-base-500/20", "dark:text-base-200"),
    "sd-blue": ("bg-blue-100", "text-blue-700", "dark:bg-blue-500/20", "dark:text-blue-400"),
    "sd-red": ("bg-red-100", "text-red-700", "dark:bg-red-500/20", "dark:text-red-400"),
    "sd-orange": ("bg-orange-100", "text-orange-700", "dark:bg-orange-500/20", "dark:text-orange-400"),
    "sd-green": ("bg-green-100", "text-green-700", "dark:bg-green-500/20", "dark:text-green-400"),
    "sd-primary": ("bg-primary-100", "text-primary-700", "dark:bg-primary-500/20", "dark:text-primary-400"),
}

# Whitespace is significant inside these (and a script's line breaks end its comments).
_KEPT = re.compile(r"<(pre|textarea|script)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
# A line break and the whitespace after it (the templates' indentation, blank lines): 2 ms for
# 700 KB. Runs of spaces within a line are left alone: they may be an attribute's value (a search
# typed with two spaces), and were 26 bytes of a 560 KB page.
_LINE_BREAKS = re.compile(r"\n\s+")


def lean_html(html: str) -> str:
    """``html`` with each aliased class list replaced by its alias, and each line break with the
    whitespace after it made one line break."""
    out, start = [], 0
    for kept in _KEPT.finditer(html):
        out += [_lean(html[start : kept.start()]), kept.group(0)]
        start = kept.end()
    out.append(_lean(html[start:]))
    return "".join(out)


def lean_fragment(html: str) -> str:
    """``lean_html`` for a small piece drawn by a template whose class attributes span lines (unfold's
    label.html): each class list on one line first, so that its alias is found."""
    html = _CLASS_ATTRIBUTE.sub(lambda found: f'class="{" ".join(found.group(1).split())}"', html)
    for joined, replacement in _replacements(fragment=True):
        html = html.replace(joined, replacement)
    return lean_html(html)


_CLASS_ATTRIBUTE = re.compile(r'class="([^"]*)"')


def _lean(text: str) -> str:
    text = _LINE_BREAKS.sub("\n", text)
    for joined, replacement in _replacements(fragment=False):
        text = text.replace(joined, replacement)
    return text


# unfold's boolean.html writes its classes on one line, tick and colour together: that whole list,
# found nowhere else, is shortened page-wide (the tutors list's yes/no columns are unfold's own).
PAGE_COMBINATIONS = (("sd-mark", "sd-unknown"), ("sd-mark", "sd-green"), ("sd-mark", "sd-red"))


@cache
def _replacements(*, fragment: bool) -> list[tuple[str, str]]:
    """(unfold's class string, what replaces it): the alias, then the classes it does not cover."""
    styled = _styled_classes()
    lists = dict(FRAGMENT_ALIASES) if fragment else dict(ALIASES)
    if not fragment:
        for combination in PAGE_COMBINATIONS:
            lists[" ".join(combination)] = [name for alias in combination for name in FRAGMENT_ALIASES[alias]]
    pairs = []
    for alias, classes in lists.items():
        unstyled = [name for name in classes if name not in styled]
        # As a template or format_html writes the list into an attribute: after:content-[&#x27;...
        pairs.append((escape(" ".join(classes)), " ".join([*unstyled, alias])))
    # The longest first: no class list is replaced inside a longer one that holds it.
    return sorted(pairs, key=lambda pair: -len(pair[0]))


# --- The stylesheet ---------------------------------------------------------------------------------


def _escape(name: str) -> str:
    """A class name as a CSS selector writes it (Tailwind's escaping: a backslash before anything else
    than letters, digits, ``-`` and ``_``)."""
    return "." + re.sub(r"([^a-zA-Z0-9_-])", r"\\\1", name)


def _unfold_css() -> str:
    path = finders.find(UNFOLD_STYLESHEET)
    if path is None:
        raise FileNotFoundError(f"{UNFOLD_STYLESHEET} is not among the static files")
    return Path(path).read_text()


def _rules(css: str) -> Iterator[tuple[tuple[str, ...], str, str]]:
    """Every style rule of ``css`` as (the at-rules around it, its selector, its declarations)."""
    wrappers: list[str] = []
    position, length = 0, len(css)
    while position < length:
        brace = _next(css, position, "{}")
        if brace == -1:
            return
        if css[brace] == "}":
            if wrappers:
                wrappers.pop()
            position = brace + 1
            continue
        prelude = css[position:brace].strip().rsplit(";", 1)[-1].strip()  # after any "@import ...;"
        if prelude.startswith("@"):
            wrappers.append(prelude)
            position = brace + 1
            continue
        end = _next(css, brace + 1, "}")
        yield tuple(wrappers), prelude, css[brace + 1 : end]
        position = end + 1


def _layers(css: str) -> list[str]:
    """The cascade layers of ``css`` in the order it first names them."""
    names: list[str] = []
    for statement in re.findall(r"@layer\s+([\w\s,.-]+?)\s*[;{]", css):
        names += [name.strip() for name in statement.split(",") if name.strip() not in names]
    return names


def _next(css: str, position: int, characters: str) -> int:
    """The index of the next of ``characters`` outside strings and comments, or -1."""
    quote = None
    index = position
    while index < len(css):
        char = css[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char == "\\":  # an escaped character of a selector: .after\:content-\[\'\'\]
            index += 1
        elif char in "\"'":
            quote = char
        elif css.startswith("/*", index):
            index = css.find("*/", index + 2)
            if index == -1:
                return -1
            index += 1
        elif char in characters:
            return index
        index += 1
    return -1


def _selectors(selector: str) -> list[str]:
    """A selector list split at its top-level commas."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += char in "(["
        depth -= char in ")]"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _owner(selector: str, escaped: dict[str, str]) -> str | None:
    """The class of ``escaped`` that ``selector`` styles, when it is that class alone (with its
    pseudo-classes and pseudo-elements: ``.first\\:border-t:first-child``), else None."""
    for name, text in escaped.items():
        if selector.startswith(text):
            rest = selector[len(text) :]
            if rest == "" or rest[0] == ":":
                return name
    return None


@cache
def _styled_classes() -> frozenset[str]:
    return frozenset(name for _wrappers, name, _selector, _body in _alias_rules())


def _alias_rules() -> list[tuple[tuple[str, ...], str, str, str]]:
    """(at-rules, class, selector with the alias in the class's place, declarations) for every rule of
    unfold's stylesheet that styles a class of an alias, in the stylesheet's order."""
    every = {**ALIASES, **OWN_ALIASES, **FRAGMENT_ALIASES}
    names = {name for classes in every.values() for name in classes}
    escaped = {name: _escape(name) for name in sorted(names, key=len, reverse=True)}
    aliases_of = {name: [alias for alias, classes in every.items() if name in classes] for name in names}
    found = []
    for wrappers, selector, body in _rules(_unfold_css()):
        for part in _selectors(selector):
            name = _owner(part, escaped)
            if name is None:
                continue
            for alias in aliases_of[name]:
                found.append((wrappers, name, "." + alias + part[len(escaped[name]) :], body))
    return found


def stylesheet() -> str:
    """The aliases' stylesheet: unfold's rules for their classes, under the aliases' names, inside
    the same at-rules (``@layer utilities``, ``@media (hover:hover)`` ...) and in the same order."""
    css = _unfold_css()
    lines = [
        "/* Made by `manage.py lean_stylesheet` from unfold's stylesheet (backoffice/lean.py): do not edit. */",
        # unfold's layers in unfold's order: this sheet is linked before unfold's, and the first sheet
        # to name a layer places it; named first here, "utilities" would rank below unfold's base.
        f"@layer {', '.join(_layers(css))};",
    ]
    for wrappers, name, selector, body in _alias_rules():
        rule = f"{selector}{{{body}}}"
        for wrapper in reversed(wrappers):
            rule = f"{wrapper}{{{rule}}}"
        lines.append(f"/* {name} */ {rule}")
    return "\n".join(lines) + "\n"
