"""What a report's display objects hand the publishers: the custom MIME types of their bundles
and the heading anchors. Shared by the presentation layer, which writes them, and the publishers
and the engine, which read them; its own module so that those need not import the presentation
stack (pandas, matplotlib and seaborn: about 2 s per process; docs/architecture.md)."""

import re

#: The title block (``present.report_meta``): title, department, month, as-of, family.
META_MIME = "application/vnd.kp.report-meta+json"
#: The key messages at the top of a report (``present.key_messages``).
KEY_MESSAGES_MIME = "application/vnd.kp.key-messages+json"
#: The headline badge the portal shows for a report (``present.headline``).
HEADLINE_MIME = "application/vnd.kp.headline+json"
#: The bundles the title block or the portal show instead of the report body.
LIFTED_MIMES = (META_MIME, KEY_MESSAGES_MIME, HEADLINE_MIME)


def slug(text: str) -> str:
    """A heading's anchor id: 'Data notes' -> 'data-notes' (the HTML publisher numbers repeats)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
