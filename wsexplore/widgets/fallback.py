"""Static fallbacks: every view also says, as plain HTML, what it shows when it is displayed.

A widget's output in a notebook is a reference to a model that lives in the
kernel (``application/vnd.jupyter.widget-view+json``). Without that kernel,
on GitHub or nbviewer (both render with nbconvert), there is nothing to draw
and the reader sees at best the ``text/plain`` repr. So each view's
``_repr_mimebundle_`` also returns ``text/html``: the bit grid, the rows, the
handshake table or the log as the view shows them at that moment, inline CSS
only, no script.

Which one a reader sees:

* JupyterLab with the kernel's outputs (trusted) renders the live widget: its
  renderer outranks ``text/html``;
* JupyterLab with a notebook it does not trust yet (one just cloned) renders
  only "safe" types, so ``text/html``, sanitized, until the cell is run;
* nbconvert, and with it GitHub and nbviewer, renders a widget only when the
  notebook's metadata holds that widget's state; ``make notebooks`` stores no
  widget state, so they render the ``text/html``.

The HTML is a snapshot taken when the view is displayed (nbval compares it
with the stored one, so it must be the same on every run: no times, no
object ids). A view that changes later (a live Explorer) is shown as it was;
display it again to store a later state.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["StaticFallback", "static_block", "STATIC_CLASS"]

#: The class of every fallback's outer element (tests and style sheets find it by this).
STATIC_CLASS = "wsx-static"


def static_block(kind: str, body: str, note: str = "") -> str:
    """``body`` framed as the static view of a ``kind`` widget, with a one-line caption."""
    caption = f"{kind}, as displayed (static view: run the notebook for the live widget)"
    if note:
        caption += f"; {note}"
    return (f'<div class="{STATIC_CLASS}" data-widget="{escape(kind, quote=True)}" '
            'style="border:1px solid #ccc;padding:4px 6px;margin:2px 0">'
            f'<div style="font-family:sans-serif;font-size:11px;color:#777;margin-bottom:3px">{escape(caption)}</div>'
            f"{body}</div>")


class StaticFallback:
    """Mixin for a widget class: adds ``text/html`` (``static_html()``) to the widget's mime bundle.

    Put it before the ipywidgets base class; the class implements
    ``static_html()``. A closed widget has no bundle, and gets no HTML either.
    """

    def static_html(self) -> str:
        """What the view shows now, as HTML that needs no kernel and no script."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        # ipywidgets returns the data dict, anywidget a (data, metadata) pair; None when there is no view.
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if data is not None:
            data["text/html"] = self.static_html()
        return bundle
