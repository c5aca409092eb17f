"""``show``: one cell per report section shows what one cell per item showed."""

from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from helpers.present import heading, note, show


def _shown(*items) -> list[str]:
    InteractiveShell.instance()
    with capture_output() as cap:
        show(*items)
    return [o.data.get("text/html", "") for o in cap.outputs]


def test_items_are_shown_in_order_and_none_shows_nothing():
    html = _shown(heading("Flags"), None, note("first"), [note("second"), None], (note("third"),))
    assert html == [
        heading("Flags").html,
        note("first").html,
        note("second").html,
        note("third").html,
    ]


def test_nothing_to_show_displays_nothing():
    assert _shown(None, [], (None,)) == []
