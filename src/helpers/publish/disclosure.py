"""Disclosure scan of a month's published outputs: the last check before a month goes out.

Survey data are respondent level in the warehouse and must never be published as rows; every
published survey figure must rest on at least ``min_n`` unweighted ratings (the suppression rule
of :mod:`helpers.analysis.survey`). :func:`scan_month` reads every file a month folder would
publish and returns a :class:`Finding` (file, location, kind, detail) for each breach:

``respondent_identifier``
    a respondent identifier: the ``respondent_id`` column name, or a primary sampling unit code
    in the warehouse's pattern (``<district pcode>-<YYMM>-<nn>``, e.g. ``PK528-2412-03``).
``respondent_rows``
    a table whose header carries respondent-level survey columns (``respondent_id`` or ``psu``,
    or three or more of the raw columns of ``survey_respondents``/``survey_ratings``, or the wide
    input layout such as ``sat_bhu``): a respondent-level extract, not an estimate.
``small_cell``
    a survey table row whose unweighted n (a column headed ``n``, ``Ratings (n)``,
    ``Respondents (n)``...) is below ``min_n`` but which still shows a figure: a numeric cell
    (class ``num``) other than the n itself, or any cell with a percentage or a decimal number
    (e.g. a confidence interval). Labels (names) and the status text are not figures.
``unreadable``
    a file the scan could not read (corrupt PDF or notebook): the scan fails closed.

What is read: ``*.html`` (visible text and tables; images and styles are skipped),
``*.ipynb`` (every output of every cell: HTML, plain text, markdown, streams, error tracebacks
and the report's JSON bundles; markdown cells), ``*.pdf`` (text of every page via PDFium;
tables in a PDF have no structure left, so the small-cell rule is checked on the HTML and the
notebook the PDF is rendered from), ``*.json`` (the manifest, which carries error excerpts).
HTML is parsed by :func:`parse_page` (the standard library's tokenizer, BeautifulSoup's tree
rules). PDF text comes from PDFium (``pypdfium2``): about ten times faster than pypdf's pure-Python
parser on these reports (0.04 s against 0.4 s for a seven-page report), with the same text.

Results per file content are memoised (``memo_dir``; key: the file's SHA-256, ``min_n`` and
:data:`SCANNER_VERSION`), so a month re-assembled from cached reports is re-scanned in
milliseconds. The engine runs the scan on every staged month before it is swapped in
(:func:`helpers.engine.assemble.publish_month`).
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from helpers.small_cells import DEFAULT_MIN_N

#: Folder of the scan memo inside the engine's cache (``outputs/.cache/disclosure``).
MEMO_DIR = "disclosure"
#: Bump when the rules change: memoised results of older versions are ignored.
SCANNER_VERSION = "4"

KINDS = ("respondent_identifier", "respondent_rows", "small_cell", "unreadable")

RESPONDENT_ID = re.compile(r"\brespondent[ _-]?ids?\b", re.I)
#: PSU codes as the warehouse stores them: district pcode, wave YYMM, cluster number.
PSU_CODE = re.compile(r"\b[A-Z]{2}\d{3,}-\d{4}-\d{2,}\b")
#: Column names that identify a respondent on their own.
IDENTIFIER_COLUMNS = frozenset({"respondent_id", "psu"})
#: Raw respondent-level columns (survey_respondents, survey_ratings) as the warehouse names them.
RAW_COLUMNS = frozenset(
    {
        "respondent_id",
        "psu",
        "weight",
        "stratum_population",
        "district_pcode",
        "gender",
        "age_band",
        "area",
        "overall_satisfaction",
        "satisfaction",
        "staff_behaviour",
        "waiting_time",
        "cost",
        "availability",
        "cleanliness",
    }
)
#: Raw columns distinctive enough to flag a line of plain text (a printed DataFrame header).
DISTINCTIVE_COLUMNS = frozenset(
    {
        "respondent_id",
        "psu",
        "stratum_population",
        "district_pcode",
        "age_band",
        "overall_satisfaction",
        "staff_behaviour",
        "waiting_time",
    }
)
#: The wide input layout of a survey wave file (used_<service>, sat_<service>, ...).
WIDE_COLUMN = re.compile(r"^(used|sat|staff|wait|cost|avail|clean)_[a-z0-9_]+$")
RAW_COLUMNS_FOR_ROWS = 3  # raw column headers in one HTML table
TEXT_COLUMNS_FOR_ROWS = 2  # distinctive column names on one line of text
N_HEADER = re.compile(
    r"(?:n|unweighted n|sample size|(?:ratings|respondents|responses|interviews)(?: \(n\))?"
    r"|[a-z ]*\(n\))"
)
STATUS_HEADER = re.compile(r"(?:status|disclosure|note|notes)")
FIGURE = re.compile(r"\d\s*%|\d\.\d")
BLANK_CELLS = frozenset({"", "\u2013", "\u2014", "-", "n/a", "na", "suppressed", "none", "nan"})

_DATA_URI = re.compile(r"""data:[a-z]+/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=\s]*""", re.I)
_MAX_DETAIL = 160


class ScanError(RuntimeError):
    """The scan itself could not run (e.g. the PDF reader is not installed)."""


@dataclass(frozen=True)
class Finding:
    """One disclosure problem: the file (relative to the month folder), where in it, what."""

    file: str
    location: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.file}: {self.location}: {self.kind}: {self.detail}"

    def to_dict(self) -> dict[str, str]:
        """Plain dict (for JSON: the ledger note, ``disclosure.json``)."""
        return asdict(self)


# ------------------------------------------------------------------------------- text rules


def _short(text: str) -> str:
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "\u2026"


@dataclass(frozen=True)
class _Names:
    """The respondent-level column names to look for: the warehouse's and the active survey
    instrument's own (its respondent id, design columns, item and category columns)."""

    identifiers: frozenset[str]
    raw: frozenset[str]
    distinctive: frozenset[str]
    wide: re.Pattern

    @functools.cached_property
    def in_text(self) -> _Names:
        """The names looked for on a line of text: only identifier names no sentence uses
        (respondent_id, not id)."""
        return dataclasses.replace(
            self,
            identifiers=frozenset(
                n for n in self.identifiers if n in IDENTIFIER_COLUMNS or re.search(r"[_\d]", n)
            ),
        )


_NAMES: dict[int, tuple[Any, _Names]] = {}  # id(instrument) -> (instrument, its names)
#: The names while one file is scanned (:func:`scan_file`): looked up once per file, not once
#: per table and text block (finding the active instrument reads the profile's files).
_SCANNING: contextvars.ContextVar[_Names | None] = contextvars.ContextVar(
    "disclosure_names", default=None
)


def _instrument_names() -> _Names:
    """The names for the active instrument, built once per instrument (every table and text
    block of every report asks)."""
    fixed = _SCANNING.get()
    if fixed is not None:
        return fixed
    try:
        from helpers.data import survey_instrument

        inst = survey_instrument.active()
    except Exception:  # no profile or instrument here: the warehouse names still apply
        return _Names(IDENTIFIER_COLUMNS, RAW_COLUMNS, DISTINCTIVE_COLUMNS, WIDE_COLUMN)
    hit = _NAMES.get(id(inst))
    if hit is None or hit[0] is not inst:
        hit = _NAMES[id(inst)] = (inst, _names_of(inst))
    return hit[1]


def warm_up() -> None:
    """Import what a scan needs (the survey instrument, PDFium) and build the instrument's
    names: a process that scans calls it while it would otherwise wait, so the
    first scan (in the driver: the month's gate, when nothing else runs) does not pay for it.
    Never raises: the scan itself reports a real problem."""
    try:
        import pypdfium2  # noqa: F401

        _instrument_names()
    except Exception:
        pass


def _names_of(inst) -> _Names:
    d = inst.design
    ident = {inst.respondent_id, d.psu} - {None}
    own = {d.weight, d.strata, d.fpc, inst.geography} | {i.column for i in inst.items.values()}
    own |= {c.column for c in inst.categories.values()}
    own -= {None}
    prefixes = {i.prefix or i.name for i in inst.service_items.values()} | {inst.used_prefix}
    prefixes |= {"used", "sat", "staff", "wait", "cost", "avail", "clean"}
    explicit = {c for i in inst.service_items.values() for c in i.columns.values()}
    wide = re.compile(
        r"^(?:("
        + "|".join(sorted(map(re.escape, prefixes)))
        + r")_[a-z0-9_]+"
        + "".join(f"|{re.escape(c)}" for c in sorted(explicit))
        + r")$"
    )
    return _Names(
        IDENTIFIER_COLUMNS | ident,
        RAW_COLUMNS | ident | own,
        # on a line of text, only names no sentence uses (wt_ss, not sex or age)
        DISTINCTIVE_COLUMNS | {c for c in ident | own if re.search(r"[_\d]", c)},
        wide,
    )


def _header_rows_rule(
    headers: Iterable[str], raw_columns=None, need: int = 3, names: _Names | None = None
) -> str | None:
    """Why a table with these column headers is respondent level (None when it is not)."""
    names = names or _instrument_names()
    raw_columns = names.raw if raw_columns is None else raw_columns
    cols = [str(h).strip() for h in headers]
    ident = sorted(set(cols) & names.identifiers)
    if ident:
        return f"identifier column(s) {', '.join(ident)}"
    raw = sorted(set(cols) & raw_columns)
    wide = sorted({c for c in cols if names.wide.match(c)})
    if len(raw) + len(wide) >= need:
        return f"raw survey columns {', '.join([*raw, *wide][:8])}"
    return None


def scan_text(text: str, file: str, location: str) -> list[Finding]:
    """Identifiers anywhere in ``text``; respondent-level headers on any one line of it."""
    found: list[Finding] = []
    if not text:
        return found
    for rx, what in ((RESPONDENT_ID, "respondent identifier"), (PSU_CODE, "PSU code")):
        m = rx.search(text)
        if m:
            found.append(Finding(file, location, "respondent_identifier", f"{what} {m.group(0)!r}"))
    names = _instrument_names().in_text
    # only a line with a respondent-level name on it can be a header line: each distinct word
    # of the text is looked up once, not once per line
    words = set(text.split())
    named = {w for w in words if w in names.identifiers or w in names.distinctive}
    named |= {w for w in words - named if names.wide.match(w)}
    if not named:
        return found
    for line in text.splitlines():
        tokens = line.split()
        if named.isdisjoint(tokens):
            continue
        why = _header_rows_rule(tokens, names.distinctive, TEXT_COLUMNS_FOR_ROWS, names)
        if why:
            found.append(
                Finding(file, location, "respondent_rows", f"{why} in line {_short(line)!r}")
            )
            break
    return found


# ------------------------------------------------------------------------------- HTML rules


def _cell_text(cell: Any) -> str:
    return re.sub(r"\s+", " ", cell.get_text(" ", strip=True)).strip()


def _parse_int(text: str) -> int | None:
    t = text.replace(",", "").replace("\u202f", "").replace("\u00a0", "").strip()
    return int(t) if re.fullmatch(r"\d+", t) else None


def _is_figure(tag: Any, text: str) -> bool:
    """A cell that shows a figure: a numeric cell (class ``num``, as helpers.present.table
    marks them) with a digit, or any cell with a percentage or a decimal number (intervals)."""
    classes = tag.get("class") or []
    if "num" in classes and re.search(r"\d", text):
        return True
    return bool(FIGURE.search(text))


def _table_findings(table: Any, file: str, where: str, min_n: int) -> list[Finding]:
    rows = table.find_all("tr")
    header: list[str] = []
    head = table.find("thead")
    if head is not None:
        last = head.find_all("tr")
        header = [_cell_text(c) for c in (last[-1].find_all(["th", "td"]) if last else [])]
    elif rows and rows[0].find("td") is None:
        header = [_cell_text(c) for c in rows[0].find_all("th")]
    caption = table.find("caption")
    label = f"{where} ({_short(_cell_text(caption))!r})" if caption is not None else where
    found: list[Finding] = []
    why = _header_rows_rule(header, None, RAW_COLUMNS_FOR_ROWS)
    if why:
        found.append(Finding(file, label, "respondent_rows", why))
    norm = [re.sub(r"\s+", " ", h.lower()).strip() for h in header]
    n_cols = [i for i, h in enumerate(norm) if N_HEADER.fullmatch(h) and "effective" not in h]
    if not n_cols:
        return found
    n_col = n_cols[0]
    skip = {n_col} | {i for i, h in enumerate(norm) if STATUS_HEADER.fullmatch(h)}
    body_rows = [r for r in rows if r.find("td") is not None]
    for r_i, row in enumerate(body_rows, start=1):
        tags = row.find_all(["th", "td"])
        cells = [_cell_text(c) for c in tags]
        if n_col >= len(cells):
            continue
        n = _parse_int(cells[n_col])
        if n is None or n >= min_n:
            continue
        shown = [
            (header[i] if i < len(header) else f"column {i + 1}", text)
            for i, (tag, text) in enumerate(zip(tags, cells, strict=True))
            if i not in skip and text.lower() not in BLANK_CELLS and _is_figure(tag, text)
        ]
        if shown:
            col, value = shown[0]
            found.append(
                Finding(
                    file,
                    f"{label}, row {r_i} ({_short(cells[0])!r})",
                    "small_cell",
                    f"n={n} below min_n={min_n} but {col!r} shows {_short(value)!r}",
                )
            )
    return found


#: Elements that never hold content (closed by their start tag), as BeautifulSoup lists them.
_VOID = frozenset(
    "area base br col embed hr img input keygen link menuitem meta param source track wbr "
    "basefont bgsound command frame image isindex nextid spacer".split()
)
#: Elements whose content is not page text (dropped with everything inside them).
_HIDDEN = frozenset({"style", "script", "template"})
_ASCII_SPACES = str.maketrans("", "", " \t\n\r\f")


class _Element:
    """One element of a parsed page: the part of BeautifulSoup's ``Tag`` the rules read
    (``find``, ``find_all``, ``get("class")``, ``get_text``)."""

    __slots__ = ("name", "classes", "children")

    def __init__(self, name: str, classes: list[str]):
        self.name = name
        self.classes = classes
        self.children: list[_Element | str] = []

    def get(self, attr: str) -> list[str] | None:
        return self.classes if attr == "class" else None

    def _walk(self) -> Iterator[_Element | str]:
        """Every descendant in document order (an explicit stack: pages nest deep)."""
        stack = [iter(self.children)]
        while stack:
            for child in stack[-1]:
                yield child
                if isinstance(child, _Element) and child.children:
                    stack.append(iter(child.children))
                    break
            else:
                stack.pop()

    def find_all(self, names: str | list[str]) -> list[_Element]:
        wanted = {names} if isinstance(names, str) else set(names)
        return [e for e in self._walk() if isinstance(e, _Element) and e.name in wanted]

    def find(self, name: str) -> _Element | None:
        return next((e for e in self._walk() if isinstance(e, _Element) and e.name == name), None)

    def get_text(self, sep: str = "", strip: bool = False) -> str:
        texts = (t for t in self._walk() if isinstance(t, str))
        if strip:
            texts = (t.strip() for t in texts)
            return sep.join(t for t in texts if t)
        return sep.join(texts)


class _PageParser(HTMLParser):
    """Builds the :class:`_Element` tree the way BeautifulSoup's ``html.parser`` builder does,
    on the same tokenizer (the standard library's): a start tag opens an element inside the
    current one (void elements close at once), an end tag closes the most recent open element
    of its name and everything opened inside it (an end tag with none open is ignored), each
    run of text between tags is one string (a run of only spaces becomes one space or one line
    break), comments and declarations are not text, CDATA sections are. The content of
    ``style``, ``script`` and ``template`` elements is left out, as the scan always removed it.
    A month's pages and notebooks scan in 6.6 s instead of 12.1 s with BeautifulSoup, with the
    same findings (``tests/adversarial/test_disclosure.py`` checks the trees against it).
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Element("[document]", [])
        self.stack = [self.root]
        self.hidden = 0  # open style/script/template elements
        self.data: list[str] = []

    def _end_data(self) -> None:
        if self.data:
            text = "".join(self.data)
            self.data = []
            if not text.translate(_ASCII_SPACES) and not any(
                e.name in ("pre", "textarea") for e in self.stack
            ):
                text = "\n" if "\n" in text else " "
            if not self.hidden:
                self.stack[-1].children.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._end_data()
        classes = next(((v or "").split() for k, v in reversed(attrs) if k == "class"), [])
        el = _Element(tag, classes)
        if not self.hidden:
            self.stack[-1].children.append(el)
        if tag not in _VOID:
            self.stack.append(el)
            self.hidden += tag in _HIDDEN

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        self._end_data()
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].name == tag:
                for el in self.stack[i:]:
                    self.hidden -= el.name in _HIDDEN
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.data.append(data)

    def handle_comment(self, data: str) -> None:
        self._end_data()  # a comment ends a run of text and is not text itself

    handle_decl = handle_pi = handle_comment

    def unknown_decl(self, data: str) -> None:
        if data.upper().startswith("CDATA["):
            self._end_data()
            self.data.append(data[len("CDATA[") :])
            self._end_data()

    def close(self) -> None:
        super().close()
        self._end_data()


def parse_page(html: str) -> _Element:
    """The element tree of an HTML page or fragment (see :class:`_PageParser`)."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.root


def scan_html(html: str, file: str, min_n: int = DEFAULT_MIN_N, where: str = "") -> list[Finding]:
    """Tables (respondent-level headers, small cells) and visible text (identifiers) of HTML."""
    soup = parse_page(_DATA_URI.sub("data:", html))
    prefix = f"{where}, " if where else ""
    found: list[Finding] = []
    for t_i, table in enumerate(soup.find_all("table"), start=1):
        found += _table_findings(table, file, f"{prefix}table {t_i}", min_n)
    text = soup.get_text("\n")
    found += scan_text(text, file, where or "page text")
    return found


# --------------------------------------------------------------------------- notebook rules


def _output_texts(out: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(mime-ish kind, text) pairs of one notebook output."""
    kind = out.get("output_type")
    if kind == "stream":
        yield "stream", _join(out.get("text"))
    elif kind == "error":
        yield "error", "\n".join([f"{out.get('ename')}: {out.get('evalue')}", *_tb(out)])
    else:
        for mime, value in (out.get("data") or {}).items():
            if mime.startswith("image/") and mime != "image/svg+xml":
                continue
            if isinstance(value, (dict, list)):
                yield mime, json.dumps(value, ensure_ascii=False)
            else:
                yield mime, _join(value)


def _join(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _tb(out: Mapping[str, Any]) -> list[str]:
    return [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(t)) for t in out.get("traceback") or []]


def scan_notebook(nb: Mapping[str, Any], file: str, min_n: int = DEFAULT_MIN_N) -> list[Finding]:
    """Every output of every cell (and markdown cells) of an executed notebook."""
    found: list[Finding] = []
    for c_i, cell in enumerate(nb.get("cells") or []):
        if cell.get("cell_type") == "markdown":
            found += scan_text(_join(cell.get("source")), file, f"cell {c_i} (markdown)")
            continue
        for o_i, out in enumerate(cell.get("outputs") or []):
            where = f"cell {c_i}, output {o_i}"
            for mime, text in _output_texts(out):
                if mime == "text/html":
                    found += scan_html(text, file, min_n, where=f"{where} (text/html)")
                else:
                    found += scan_text(text, file, f"{where} ({mime})")
    return found


# -------------------------------------------------------------------------------- PDF rules


_SOFT_HYPHEN = re.compile(r"[\x02\xad]\s*")


def pdf_text_pages(path: Path) -> list[str]:
    """Text of every page of a PDF (PDFium through ``pypdfium2``; line ends as ``\\n``)."""
    try:
        import pypdfium2 as pdfium
    except ImportError as exc:  # pragma: no cover - pypdfium2 is in requirements.lock
        raise ScanError("pypdfium2 is not installed: PDFs cannot be scanned") from exc
    doc = pdfium.PdfDocument(str(path))
    try:
        pages = []
        for i in range(len(doc)):
            page = doc[i]
            text = page.get_textpage()
            # A word Typst hyphenated (table headers) comes back as its halves around PDFium's
            # soft-hyphen marker (\x02): joined again, so a hyphenated identifier is still found.
            raw = text.get_text_bounded().replace("\r\n", "\n")
            pages.append(_SOFT_HYPHEN.sub("", raw))
            text.close()
            page.close()
        return pages
    finally:
        doc.close()


def scan_pdf(path: Path, file: str) -> list[Finding]:
    """Identifiers and respondent-level header lines in the text of each page."""
    found: list[Finding] = []
    for p_i, text in enumerate(pdf_text_pages(path), start=1):
        found += scan_text(text, file, f"page {p_i}")
    return found


# ------------------------------------------------------------------------------------ files

SCANNED_SUFFIXES = (".html", ".ipynb", ".pdf", ".json")


def scan_file(path: Path, file: str | None = None, min_n: int = DEFAULT_MIN_N) -> list[Finding]:
    """Scan one output file by its type; an unreadable file is itself a finding."""
    path = Path(path)
    file = file or path.name
    suffix = path.suffix.lower()
    fixed = _SCANNING.set(_instrument_names())
    try:
        if suffix == ".html":
            return scan_html(path.read_text(encoding="utf-8", errors="replace"), file, min_n)
        if suffix == ".ipynb":
            return scan_notebook(json.loads(path.read_text(encoding="utf-8")), file, min_n)
        if suffix == ".pdf":
            return scan_pdf(path, file)
        if suffix == ".json":
            return scan_text(path.read_text(encoding="utf-8", errors="replace"), file, "json")
    except ScanError:
        raise
    except Exception as exc:  # corrupt files of any kind: fail closed
        return [Finding(file, "whole file", "unreadable", f"{type(exc).__name__}: {_short(exc)}")]
    finally:
        _SCANNING.reset(fixed)
    return []


def _memo_key(path: Path, min_n: int, digest: str | None = None) -> str:
    """Memo name: the file's SHA-256 (``digest`` when the caller already has it), its type,
    ``min_n``, the scanner version and the survey instrument's column names."""
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
    n = _instrument_names()
    names = ",".join(sorted(n.identifiers | n.raw)) + n.wide.pattern  # the instrument's columns
    tag = hashlib.sha256(names.encode()).hexdigest()[:12]
    return f"{digest}-{path.suffix.lower().lstrip('.')}-{min_n}-v{SCANNER_VERSION}-{tag}"


def _memo_read(memo: Path, file: str) -> list[Finding] | None:
    try:
        cached = json.loads(memo.read_text(encoding="utf-8"))
        return [Finding(file, c["location"], c["kind"], c["detail"]) for c in cached]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _memo_write(memo: Path, found: list[Finding]) -> None:
    if any(f.kind == "unreadable" for f in found):
        return  # re-read next time: the file may have been caught half-written
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(memo.name + ".part")
        tmp.write_text(
            json.dumps([{k: v for k, v in f.to_dict().items() if k != "file"} for f in found]),
            encoding="utf-8",
        )
        tmp.replace(memo)
    except OSError:
        pass  # the memo is an optimisation only


def prescan(path: Path, min_n: int, memo_dir: Path, digest: str | None = None) -> None:
    """Scan one output file now and memoise the result under ``memo_dir`` (keyed by content),
    so the month's gate (:func:`scan_month` with the same ``memo_dir``) only reads the memo.
    The engine's workers call it as each report is published, spreading the PDF text
    extraction over the workers instead of the driver's final step. ``digest``: the file's
    SHA-256 when already known. Never raises."""
    try:
        path = Path(path)
        memo = Path(memo_dir) / f"{_memo_key(path, min_n, digest)}.json"
        if not memo.exists():
            _memo_write(memo, scan_file(path, path.name, min_n))
    except Exception:
        pass  # an optimisation only: the gate scans whatever has no memo


def _scan_task(args: tuple[str, str, int]) -> list[Finding]:
    path, file, min_n = args
    return scan_file(Path(path), file, min_n)


def month_files(month_dir: Path) -> list[Path]:
    """The files of a month folder the scan reads (sorted; hidden files and folders skipped)."""
    root = Path(month_dir)
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SCANNED_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


PARALLEL_FROM = 12  # files left to scan before a process pool pays for its start-up


def scan_month(
    month_dir: str | Path,
    min_n: int = DEFAULT_MIN_N,
    min_n_for: Mapping[str, int] | None = None,
    memo_dir: str | Path | None = None,
    jobs: int = 1,
) -> list[Finding]:
    """Scan every publishable file under ``month_dir``; return all findings (empty = clean).

    ``min_n_for`` maps a file path relative to ``month_dir`` (e.g.
    ``health/citizen_survey.html``) to the ``min_n`` its report ran with; other files use
    ``min_n``. ``memo_dir`` memoises results per file content. ``jobs`` > 1 scans files that
    are not memoised on that many processes (PDF text extraction dominates the cost).
    """
    root = Path(month_dir)
    if min_n < 1:
        raise ValueError(f"min_n must be at least 1, got {min_n}")
    overrides = dict(min_n_for or {})
    memo_root = Path(memo_dir) if memo_dir else None
    results: dict[str, list[Finding]] = {}
    todo: list[tuple[Path, str, int, Path | None]] = []
    for path in month_files(root):
        rel = path.relative_to(root).as_posix()
        n = int(overrides.get(rel, min_n))
        memo = memo_root / f"{_memo_key(path, n)}.json" if memo_root else None
        hit = _memo_read(memo, rel) if memo else None
        if hit is not None:
            results[rel] = hit
        else:
            todo.append((path, rel, n, memo))
    tasks = [(str(p), rel, n) for p, rel, n, _ in todo]
    if jobs > 1 and len(todo) >= PARALLEL_FROM:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=mp.get_context("spawn")) as ex:
            scanned = list(ex.map(_scan_task, tasks, chunksize=4))
    else:
        scanned = [_scan_task(t) for t in tasks]
    for (_, rel, _, memo), found in zip(todo, scanned, strict=True):
        results[rel] = found
        if memo is not None:
            _memo_write(memo, found)
    return [f for rel in sorted(results) for f in results[rel]]


def min_n_of(params: Mapping[str, Any] | None) -> int | None:
    """The ``min_n`` a job ran with (its ``min_n`` parameter, at least 1), or None."""
    value = (params or {}).get("min_n")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return max(1, value)


def min_n_by_file(manifest: Mapping[str, Any], default: int = DEFAULT_MIN_N) -> dict[str, int]:
    """{file relative to the month folder: the ``min_n`` parameter its job ran with}."""
    out: dict[str, int] = {}
    for job in manifest.get("jobs") or []:
        value = min_n_of(job.get("params"))
        if value is None:
            continue
        for rel in (job.get("files") or {}).values():
            out[str(rel)] = value
    return out


def summarise(findings: Iterable[Finding], limit: int = 5) -> str:
    """One line for the ledger and the summary: counts by kind and the first findings."""
    findings = list(findings)
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    head = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    first = "; ".join(str(f) for f in findings[:limit])
    more = f"; ... {len(findings) - limit} more" if len(findings) > limit else ""
    return f"disclosure scan: {head}: {first}{more}"
