"""Rendered template fragments kept for as long as the data they show stays the same object.

Why: the home page's model picker is ~70 catalog rows of markup that depend on the catalog
and the keys set (one `PickerData` per catalog and providers, app/catalog/picker.py) and on
nothing about the viewer, yet rendering them was most of the page's CPU on every request.
A template wraps such a part in

    {% call fragment("families-shown", picker, cache=not chosen) %} … {% endcall %}

and it is rendered once per `owner` object (by identity: a new catalog, or a change of keys,
makes a new PickerData and so a new fragment). `cache=False` renders it afresh (the form
shown again with the visitor's own choices). Per-viewer parts (CSRF token, user menu) must
stay outside a cached fragment: only what is a function of `owner` may go inside.

`keyed` is the same for markup that is a function of a small hashable value rather than of one
long-lived object: a board card is a function of what it shows (`BoardCard.shown`, a tuple of
counts, poster ids and the like, app/web/board_view.py), so two viewers whose cards show the
same values share one rendering, and any change in what a card shows is a new key. The block
must read only the key (templates/board.html renders a card from `k = card.shown` alone); that
is what makes sharing safe: equal keys give equal markup, whoever asks.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from markupsafe import Markup

MAX_FRAGMENTS = 64
_FRAGMENTS: OrderedDict[tuple[str, int], tuple[Any, Markup]] = OrderedDict()
MAX_KEYED = 20_000   # board cards: 200 comparisons × 24 poster orders of 4 takes is 4,800 (~1 KB each)
_KEYED: OrderedDict[tuple[str, Any], Markup] = OrderedDict()


def fragment(name: str, owner: Any, *, cache: bool = True, caller) -> Markup:
    """The fragment `name` of `owner`, rendered by `caller` (the call block's body) the first
    time and kept while `owner` is the very same object (the entry holds it, so its id cannot
    be reused by another object while the entry lives)."""
    if not cache:
        return Markup(caller())
    key = (name, id(owner))
    hit = _FRAGMENTS.get(key)
    if hit is not None and hit[0] is owner:
        _FRAGMENTS.move_to_end(key)
        return hit[1]
    html = Markup(caller())
    _FRAGMENTS[key] = (owner, html)
    while len(_FRAGMENTS) > MAX_FRAGMENTS:
        _FRAGMENTS.popitem(last=False)
    return html


def keyed(name: str, key: Any, *, caller) -> Markup:
    """The fragment `name` rendered for the hashable value `key` (see the module docstring):
    rendered by `caller` the first time, then reused for any equal key; least recently used
    entries go beyond MAX_KEYED."""
    k = (name, key)
    html = _KEYED.get(k)
    if html is not None:
        _KEYED.move_to_end(k)
        return html
    html = Markup(caller())
    _KEYED[k] = html
    if len(_KEYED) > MAX_KEYED:
        _KEYED.popitem(last=False)
    return html
