"""What report notebooks display: one theme, formatted tables, charts with alt text, narrative.

Every display object renders as self-contained HTML (escaped text, base64 images) and carries
custom MIME bundles the publishers read (report metadata, key messages, headline badges).
"""

from helpers.present.display import (
    HEADLINE_MIME,
    KEY_MESSAGES_MIME,
    META_MIME,
    figure,
    heading,
    headline,
    key_messages,
    load_notes,
    note,
    report_meta,
    show,
    table,
)
from helpers.present.theme import PALETTE, apply_theme, fmt_money, fmt_pct, fmt_pkr, money_label

__all__ = [
    "META_MIME",
    "HEADLINE_MIME",
    "KEY_MESSAGES_MIME",
    "PALETTE",
    "apply_theme",
    "figure",
    "fmt_money",
    "fmt_pct",
    "fmt_pkr",
    "money_label",
    "heading",
    "headline",
    "key_messages",
    "load_notes",
    "note",
    "report_meta",
    "show",
    "table",
]
