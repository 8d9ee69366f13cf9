"""Model cards made safe to show. The Model card tab renders the README.md of any Hub repo a user names, so a card
is hostile input: `safe_card_markdown` keeps its markdown and an allow-list of HTML, drops every other tag,
attribute, comment and URL scheme that could run code, send a form or load a page, and leaves code blocks and code
spans exactly as written wherever the renderer (CommonMark, and marked in Gradio's frontend) is sure to show them
as code.
"""

from __future__ import annotations

import bisect
import html
import re
import secrets

__all__ = ["safe_card_markdown"]

ALLOWED_TAGS = frozenset(
    "h1 h2 h3 h4 h5 h6 p br hr b strong i em u s del code pre kbd sub sup blockquote ul ol li "
    "table thead tbody tr th td a img span div details summary dl dt dd".split()
)
VOID_TAGS = frozenset({"br", "hr", "img"})
# dropped with everything up to their end tag: scripts, styles, embedded pages and inputs, raw-text elements
DROP_WITH_CONTENT = frozenset(
    "script style iframe object embed template noscript textarea select svg math title xmp noembed noframes".split()
)
ALLOWED_ATTRS = {
    "a": ("href", "title"),
    "img": ("src", "alt", "title", "width", "height"),
    "th": ("align", "colspan", "rowspan"),
    "td": ("align", "colspan", "rowspan"),
}
_NUMBER_ATTRS = frozenset({"width", "height", "colspan", "rowspan"})
_ALIGNS = frozenset({"left", "right", "center", "justify"})


def safe_card_markdown(text: str) -> str:
    """The card with only allow-listed HTML and http(s)/relative/#fragment URLs left; markdown and code unchanged.

    Code blocks and code spans are set aside, the rest sanitized, then they are put back; a piece goes back
    only if the result still shows it as code (else it is sanitized like the text around it).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # what the renderer does first
    keep = [span for span in _code_spans(text) if _needs_keeping(text[span[0] : span[1]])]
    for _ in range(3):
        out, placed = _render(text, keep)
        sure = set(_code_spans(out))
        doubtful = {i for i, span in placed.items() if span not in sure}
        if not doubtful:
            return out
        keep = [span for i, span in enumerate(keep) if i not in doubtful]
    return _render(text, [])[0]


def _needs_keeping(code: str) -> bool:
    return "<" in code or "]" in code  # the only characters the sanitizer acts on


# --- set-aside text ---------------------------------------------------------------------------------
class _Stash:
    """Stand-ins for code and for the tags the sanitizer emits, so that the passes after it touch neither: a digit
    first (a '<' before one stays text), then letters and digits no card contains."""

    def __init__(self, text: str) -> None:
        prefix = "0x" + secrets.token_hex(8)
        while prefix in text:
            prefix = "0x" + secrets.token_hex(8)
        self.prefix, self.items, self.code = prefix, [], set()
        self.pattern = re.compile(prefix + r"(\d+)z")

    def add(self, piece: str, code: bool = False) -> str:
        if code:
            self.code.add(len(self.items))
        self.items.append(piece)
        return f"{self.prefix}{len(self.items) - 1}z"

    def resolve(self, text: str) -> str:
        return self.pattern.sub(lambda m: self.items[int(m[1])], text)


def _render(text: str, keep: list[tuple[int, int]]) -> tuple[str, dict[int, tuple[int, int]]]:
    """Sanitized text with the `keep` spans put back verbatim, and where each one that survived landed."""
    stash, parts, last = _Stash(text), [], 0
    for start, end in keep:
        parts += [text[last:start], stash.add(text[start:end], code=True)]
        last = end
    parts.append(text[last:])
    s = _rewrite_links(_sanitize_html("".join(parts), stash), stash)
    out, placed, pos, size = [], {}, 0, 0
    for m in stash.pattern.finditer(s):
        index, piece = int(m[1]), stash.items[int(m[1])]
        out += [s[pos : m.start()], piece]
        size += m.start() - pos
        if index in stash.code:  # code went in first: its stand-ins are numbered like `keep`
            placed[index] = (size, size + len(piece))
        size += len(piece)
        pos = m.end()
    out.append(s[pos:])
    return "".join(out), placed


# --- HTML ---------------------------------------------------------------------------------------------
# a tag as CommonMark and marked read raw HTML (anything else that starts like one is shown as text)
_ATTR = r"""[ \t\n\f\r]+([A-Za-z_:][A-Za-z0-9_.:-]*)(?:[ \t\n\f\r]*=[ \t\n\f\r]*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?"""
_START_TAG = re.compile(rf"<([A-Za-z][A-Za-z0-9_-]*)((?:{_ATTR})*)[ \t\n\f\r]*/?>")
_END_TAG = re.compile(r"</([A-Za-z][A-Za-z0-9_:-]*)[ \t\n\f\r]*>")
_ATTRS = re.compile(_ATTR)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}):[^\s<>\x00-\x1f]*>")
_POINTY_DEST = re.compile(r"\]\([ \t]*\n?[ \t]*\Z")
_EMAIL_LINK = re.compile(r"<[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9][A-Za-z0-9.\-]*>")


def _sanitize_html(s: str, stash: _Stash) -> str:
    return _Sanitizer(s, stash).run()


class _Sanitizer:
    """Allowed tags re-emitted (as stand-ins) with their allowed attributes; everything else that a browser or
    the markdown renderer would read as markup dropped or escaped; text left as written. Linear time even on
    crafted input (the caches below)."""

    def __init__(self, s: str, stash: _Stash) -> None:
        self.s, self.stash = s, stash
        self.last: dict[str, int] = {}  # last occurrence of a string: no search past it
        self.closers: dict[str, list[int]] = {}  # where each dropped element's end tags are

    def run(self) -> str:
        s, out, i = self.s, [], 0
        while True:
            j = s.find("<", i)
            if j < 0:
                out.append(s[i:])
                return "".join(out)
            out.append(s[i:j])
            end = self.markup(j, out) if j < self.find_last(">") else -1
            if end < 0:
                out.append(self.lone_lt(j))
                end = j + 1
            i = end

    def find(self, sub: str, start: int) -> int:
        return -1 if start > self.find_last(sub) else self.s.find(sub, start)

    def find_last(self, sub: str) -> int:
        if sub not in self.last:
            self.last[sub] = self.s.rfind(sub)
        return self.last[sub]

    def lone_lt(self, i: int) -> str:
        """A '<' that starts no markup: kept when what follows can never make it a tag, else escaped."""
        nxt = self.s[i + 1 : i + 2]
        return "<" if nxt and nxt not in "<!/?" and not _letter(nxt) else "&lt;"

    def markup(self, i: int, out: list[str]) -> int:
        """Handle the '<' at s[i]: where the text goes on after it, or -1 when it starts no markup."""
        s, nxt = self.s, self.s[i + 1 : i + 2]
        if s.startswith("<!--", i):
            end = self.find("-->", i + 4)
            return end + 3 if end >= 0 else -1
        if s.startswith("<![CDATA[", i):
            end = self.find("]]>", i)
            return end + 3 if end >= 0 else -1
        if nxt == "?":  # a processing instruction
            end = self.find("?>", i + 2)
            return end + 2 if end >= 0 else -1
        if nxt == "!" and _letter(s[i + 2 : i + 3]):  # a declaration (doctype)
            return self.find(">", i) + 1 or -1
        if _letter(nxt) or (nxt == "/" and _letter(s[i + 2 : i + 3])):
            return self.element(i, out)
        return -1

    def element(self, i: int, out: list[str]) -> int:
        """An autolink or a start or end tag at s[i]."""
        s, stash = self.s, self.stash
        link = _AUTOLINK.match(s, i)
        if link:
            url = stash.resolve(link[0][1:-1])
            if link[1].lower() not in ("http", "https"):  # shown as text, with no scheme left to follow
                out.append("&lt;" + link[0][1:].replace(":", "&#58;", 1))
            elif _POINTY_DEST.search(s, max(0, i - 8), i):  # [text](<url>): the bare URL says the same
                out.append(stash.add(re.sub(r"([()\\])", r"\\\1", url)))
            else:  # as an <a>: the same link wherever it is read as HTML
                out.append(stash.add(f'<a href="{_escape(url)}">{_escape(url)}</a>'))
            return link.end()
        if _EMAIL_LINK.match(s, i):
            return -1
        tag = self.parse_tag(i)
        if tag is None:
            return -1
        name, closing, attrs, end = tag
        if name in DROP_WITH_CONTENT and not closing:
            if name not in self.closers:
                pattern = rf"</{re.escape(name)}(?=[\t\n\f\r />])"
                self.closers[name] = [m.start() for m in re.finditer(pattern, s, re.IGNORECASE)]
            k = bisect.bisect_left(self.closers[name], end)
            if k == len(self.closers[name]):  # no end tag: only the start tag goes
                return end
            return self.find(">", self.closers[name][k]) + 1 or len(s)
        if name in ALLOWED_TAGS and not (closing and name in VOID_TAGS):
            out.append(stash.add(f"</{name}>" if closing else _start_tag(name, attrs, stash)))
        return end

    def parse_tag(self, i: int) -> tuple[str, bool, list[tuple[str, str | None]], int] | None:
        """(name, is an end tag, attributes, end) of the tag at s[i]; None if it isn't one."""
        end = _END_TAG.match(self.s, i)
        if end:
            return end[1].lower(), True, [], end.end()
        start = _START_TAG.match(self.s, i)
        if start is None:
            return None
        attrs = [(m[1], m[2][1:-1] if m[2] and m[2][0] in "\"'" else m[2]) for m in _ATTRS.finditer(start[2])]
        return start[1].lower(), False, attrs, start.end()


def _letter(c: str) -> bool:
    return c.isascii() and c.isalpha()


def _start_tag(name: str, attrs: list[tuple[str, str | None]], stash: _Stash) -> str:
    kept, seen = [], set()
    for key, raw in attrs:
        key = key.lower()
        if key in seen:  # a browser keeps the first of repeated attributes
            continue
        seen.add(key)
        if key not in ALLOWED_ATTRS.get(name, ()):
            continue
        value = _attr_value(key, html.unescape(stash.resolve(raw or "")))
        if value is not None:
            kept.append(f' {key}="{_escape(value)}"')
    return f"<{name}{''.join(kept)}>"


def _escape(value: str) -> str:
    """Quoted-attribute-safe, and on one line with no backtick, so no markdown reading can split the tag."""
    return html.escape(value, quote=True).replace("`", "&#96;").replace("\n", "&#10;")


def _attr_value(key: str, value: str) -> str | None:
    """The value to emit for an allowed attribute, or None to drop it."""
    if key == "href":
        return value if _url_ok(value, relative=True) else None
    if key == "src":
        return value if _url_ok(value, relative=False) else None
    if key in _NUMBER_ATTRS:
        return value.strip() if re.fullmatch(r"[0-9]{1,5}", value.strip()) else None
    if key == "align":
        return value.strip().lower() if value.strip().lower() in _ALIGNS else None
    return value  # title, alt


# --- URLs -------------------------------------------------------------------------------------------
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def _url_ok(url: str, relative: bool) -> bool:
    """http(s), or (when `relative`) a URL with no scheme: a path or a #fragment. Entities and markdown escapes
    are decoded, whitespace and control characters taken out, as browsers and markdown do before reading a
    scheme; anything else with a ':' before its first '/', '?' or '#' is refused."""
    v = _MD_ESCAPE.sub(r"\1", html.unescape(url))
    head = _PATH_START.split(v, maxsplit=1)[0]
    if ":" not in head:
        return relative
    scheme = head.split(":", 1)[0]
    if len(scheme) > 64:
        return False
    return "".join(c for c in scheme if c.isprintable() and not c.isspace()).lower() in ("http", "https")


_PATH_START = re.compile(r"[/?#]")
_LINK_OPEN = re.compile(r"\]\(")
_REF_DEF = re.compile(r"\[(?:\\.|[^\[\]\\])*\]:[ \t]*(?:\n[ \t>]*)?")


def _rewrite_links(s: str, stash: _Stash) -> str:
    """Markdown link, image and reference-definition destinations that aren't allowed URLs become '#'."""
    stops = _stops(s)
    edits = [_destination(s, m.end(), stops, balanced=True) for m in _LINK_OPEN.finditer(s)]
    edits += [_destination(s, m.end(), stops, balanced=False) for m in _REF_DEF.finditer(s)]
    out, pos = [], 0
    for start, end, whole in sorted(edits):
        if start < pos or end == start:
            continue
        dest = stash.resolve(s[start:end])
        if whole and dest.startswith("<") and dest.endswith(">"):
            dest = dest[1:-1]
        if not _url_ok(dest, relative=whole):  # a cut-off destination passes only as http(s)
            out += [s[pos:start], "#"]  # what a cut-off one goes on with is then a #fragment
            pos = end
    out.append(s[pos:])
    return "".join(out)


_DEST_MAX = 4096  # longer destinations, or ones with many parentheses, are judged on their first characters
_DEST_MARKS = re.compile(r"[()\\]")


def _stops(s: str) -> list[int]:
    """Where a link destination must end: whitespace and control characters."""
    return [m.start() for m in re.finditer(r"[\s\x00-\x1f]", s)]


def _destination(s: str, q: int, stops: list[int], balanced: bool) -> tuple[int, int, bool]:
    """(start, end, whole) of the link destination at or after s[q]: <...> or a run without whitespace (whose
    parentheses balance, in an inline link); `whole` is False when it was cut short."""
    n = len(s)
    while q < n and s[q] in " \t\n":
        q += 1
    if s.startswith("<", q):
        gt = s.find(">", q, q + _DEST_MAX)
        if gt > 0 and "\n" not in s[q:gt] and "<" not in s[q + 1 : gt]:
            return q, gt + 1, True
    k = bisect.bisect_left(stops, q)
    end = min(stops[k] if k < len(stops) else n, q + _DEST_MAX)
    whole = end - q < _DEST_MAX
    if balanced:
        depth, escaped, marks = 0, -1, 0
        for m in _DEST_MARKS.finditer(s, q, end):
            if m.start() == escaped:
                continue
            marks += 1
            if m[0] == "\\":
                escaped = m.start() + 1
            elif m[0] == "(":
                depth += 1
            elif depth:
                depth -= 1
            else:
                return q, m.start(), whole
            if marks > 16:
                return q, m.start(), False
    return q, end, whole


# --- where the renderer is sure to show code --------------------------------------------------------
# Checked both against CommonMark and against marked (what Gradio's frontend uses); wherever the two might
# disagree, or the block structure depends on list or quote nesting, nothing is reported as code.
_PREFIX = r"[ \t>*+\-.)0-9]*"  # indentation and container markers, loosely
_FENCE_LIKE = re.compile(_PREFIX + r"(?:```|~~~)")
_HTML_LIKE = re.compile(_PREFIX + r"<")
_OPENER = re.compile(r"( {0,3})(`{3,}|~{3,})(.*)")
_DEEP_FENCE = re.compile(r" *[`~]{3,}[ \t]*")
_RUN = re.compile(r"`+")
_DELIMITER_ROW = re.compile(r"[ \t>*+\-.)0-9]*[|:\- \t]*-[|:\- \t]*")
# marked's own block rule for reference definitions: label, destination and title may each span lines
_MARKED_DEF = re.compile(
    r" {0,3}\[(?!\s*\])(?:\\[\s\S]|[^\[\]\\])+\]: *(?:\n[ \t]*)?(?:[^<\s]\S*|<.*?>)"
    r"(?:(?: +(?:\n[ \t]*)?| *\n[ \t]*)(?:\"(?:\\\"?|[^\"\\])*\"|'[^'\n]*(?:\n[^'\n]+)*\n?'|\([^()]*\)))? *(?:\n+|\Z)"
)


def _blank(line: str) -> bool:
    return not line.strip(" \t")


def _code_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of the fenced code blocks and code spans the renderer is sure to show as code."""
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    blocks, tables = _HtmlBlocks(lines), _table_lines(lines)
    spans, region_end, unsure, clean, i = [], -1, False, True, 0
    while i < len(lines):
        line = lines[i]
        if not line.strip(" "):  # a paragraph ends here for both renderers (a tab-only line doesn't, for marked)
            clean, i = True, i + 1
            continue
        m = _HTML_LIKE.match(line)
        if m:
            region_end = max(region_end, blocks.end(i, m.end() - 1))
        if line.lstrip(" ").startswith("["):  # marked lets a reference definition run over the lines after it
            d = _MARKED_DEF.match(text, starts[i])
            if d:
                region_end = max(region_end, i + text.count("\n", starts[i], len(d[0].rstrip("\n")) + starts[i]))
        in_html = i <= region_end
        if _FENCE_LIKE.match(line):
            close = None if in_html or unsure else _fence_close(lines, i)
            if close is not None:
                spans.append((starts[i], starts[close] + len(lines[close])))
                clean, i = True, close + 1
                continue
            unsure = True  # a fence we can't place: from here on, no block is sure to be code
        found, ok = _line_code_spans(line, tables[i])
        if clean and ok and not in_html:
            spans += [(starts[i] + a, starts[i] + b) for a, b in found]
        clean = clean and ok
        i += 1
    return spans


_BLOCK_ENDS = (("<!--", "-->"), ("<?", "?>"), ("<![cdata[", "]]>"), ("<!", ">"))


class _HtmlBlocks:
    """The last line an HTML block starting on a line can reach (the later of CommonMark's and marked's end)."""

    def __init__(self, lines: list[str]) -> None:
        self.lower = [line.lower() for line in lines]
        self.run_end = list(range(len(lines)))
        for k in range(len(lines) - 2, -1, -1):
            if not _blank(lines[k + 1]):
                self.run_end[k] = self.run_end[k + 1]
        self.hits: dict[str, list[int]] = {}

    def end(self, i: int, at: int) -> int:
        rest, end = self.lower[i][at:], self.run_end[i]
        kind = re.match(r"<(script|pre|style|textarea)", rest)
        if kind:
            opener, marker = kind[0], f"</{kind[1]}>"
        else:
            opener, marker = next(((o, m) for o, m in _BLOCK_ENDS if rest.startswith(o)), ("", ""))
        if not marker or marker in rest[len(opener) :]:
            return end
        if marker not in self.hits:
            self.hits[marker] = [k for k, line in enumerate(self.lower) if marker in line]
        hits = self.hits[marker]
        k = bisect.bisect_right(hits, i)
        return max(end, hits[k] if k < len(hits) else len(self.lower) - 1)


def _fence_close(lines: list[str], i: int) -> int | None:
    """The closing line of the fence opened on lines[i], or None when renderers could disagree about it."""
    m = _OPENER.fullmatch(lines[i])
    if not m or (m[2][0] == "`" and "`" in m[3]) or i == len(lines) - 1:
        return None  # not an opener; or the last line, which marked doesn't let interrupt a paragraph
    indent, fence = len(m[1]), m[2]
    closes = re.compile(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*")  # CommonMark
    closes_marked = re.compile(rf" {{0,3}}{re.escape(fence)}[~`]* *")
    for j in range(i + 1, len(lines)):
        line = lines[j]
        a, b = closes.fullmatch(line), closes_marked.fullmatch(line)
        if a and b:
            return j if line.startswith(" " * indent) else None
        if a or b:
            return None
        # an indented fence may sit in a list item: sure only if every line stays inside that item
        if indent and (not (line.startswith(" " * indent) or not line.strip(" ")) or _DEEP_FENCE.fullmatch(line)):
            return None
    return len(lines) - 1 if indent == 0 else None


def _table_lines(lines: list[str]) -> list[bool]:
    """Whether each line may be a table row: its paragraph has a line that could be a table's delimiter row."""
    out, start = [False] * len(lines), 0
    for k in range(len(lines) + 1):
        if k == len(lines) or not lines[k].strip(" "):
            if any(_DELIMITER_ROW.fullmatch(line) for line in lines[start:k]):
                out[start:k] = [True] * (k - start)
            start = k + 1
    return out


def _line_code_spans(line: str, table: bool) -> tuple[list[tuple[int, int]], bool]:
    """Code spans of one line, if both renderers are sure to read them so; and whether the line leaves the next
    one's reading alone (every backtick paired, none inside a link destination or angle brackets, nothing open).
    In a table row a '|' splits cells even inside a code span."""
    runs = [m.span() for m in _RUN.finditer(line)]
    spans, paired, pos, k = [], True, 0, 0
    while k < len(runs):
        a, b = runs[k]
        before = line[pos:a]
        if (len(before) - len(before.rstrip("\\"))) % 2:
            a += 1  # an escaped backtick
        close = next((j for j in range(k + 1, len(runs)) if runs[j][1] - runs[j][0] == b - a), None) if a < b else None
        if close is None:
            paired = paired and a == b  # a run left open may pair with one on a later line
            k += 1
            continue
        spans.append((a, runs[close][1]))
        pos, k = runs[close][1], close + 1
    ok, gaps = True, [m.start() for m in re.finditer(r"\s", line)]
    for a, b in spans:
        inner = line[a:b].strip("`")
        k = bisect.bisect_left(gaps, a)
        word = line[max(gaps[k - 1] + 1 if k else 0, a - 200) : a].lower()  # the text glued to the backtick
        if "`" in inner or (table and "|" in inner) or "~" in inner or not _balanced(inner):
            ok = False
        if len(word) == 200 or word.endswith("~") or "://" in word or "www." in word:
            ok = False  # a bare URL or a '~' right before takes the backtick
    starts, stops = [a for a, _ in spans], None
    for m in _LINE_MARKUP.finditer(line):
        p = m.start()
        k = bisect.bisect_right(starts, p) - 1
        if k >= 0 and p < spans[k][1]:
            continue  # inside a code span
        if m[0] == "<":
            if line[p + 1 : p + 2] in ("", " "):
                continue
            q = _ANGLE.search(line, p + 1)
            if q is None or (q[0] == ">" and "`" in line[p : q.start()]):
                ok = False
        else:
            stops = _stops(line) if stops is None else stops
            end = _link_tail(line, p + 2, stops)
            if end is None or "`" in line[p:end]:
                ok = False
    return (spans if ok else []), ok and paired


_LINE_MARKUP = re.compile(r"<|\]\(")
_ANGLE = re.compile(r"[<>]")


def _link_tail(line: str, q: int, stops: list[int]) -> int | None:
    """End of an inline link's destination and title starting at line[q]; None if they could go on a later line."""
    n = len(line)
    while q < n and line[q] in " \t":
        q += 1
    if q >= n:
        return None
    _, e, whole = _destination(line, q, stops, balanced=True)
    if e >= n or not whole:
        return None
    t = e
    while t < n and line[t] in " \t":
        t += 1
    if t < n and line[t] in "\"'(":
        closer, x = ")" if line[t] == "(" else line[t], t + 1
        while x < n and line[x] != closer:
            x += 2 if line[x] == "\\" else 1
        return x + 1 if x < n else None
    return e


def _balanced(s: str) -> bool:
    depth = 0
    for c in s:
        depth += (c == "[") - (c == "]")
        if depth < 0:
            return False
    return depth == 0
