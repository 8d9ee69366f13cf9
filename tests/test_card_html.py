"""Model cards come from any Hub repo a user names (hybrid/card_html.py): no form, script, frame, event handler
or javascript:/data: URL survives, while the markdown, the allow-listed HTML and code come out as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hybrid.card_html import safe_card_markdown

BUNDLED_CARD = Path(__file__).resolve().parents[1] / "assets" / "models" / "ut-interaction-lite0" / "README.md"

HOSTILE = """\
# A model

<form action="http://evil/"><input name=q><button>Send</button></form>
<iframe src="https://evil/frame"></iframe>
<script>alert(1)</script>
<style>body{display:none}</style>
<img src=x onerror=alert(1)>
<img src="javascript:alert(1)">
<a href="javascript:alert(1)">one</a>
<a href=" JaVa&#x53;cript:alert(1)">two</a>
<a href="data:text/html,<script>alert(1)</script>">three</a>
<div style="position:fixed;inset:0" onclick="steal()">four</div>
<svg onload=alert(1)><circle r=5 /></svg>
<meta http-equiv=refresh content="0;url=http://evil/">
<base href="http://evil/">

[five](javascript:alert(1)) ![six](data:image/svg+xml,<svg onload=alert(1)>) [seven][r]

[r]: javascript:alert(1)

<javascript:alert(1)>

<!-- hidden: <script>alert(1)</script> -->
"""
ACTIVE = re.compile(
    r"<\s*/?\s*(?:form|input|button|iframe|script|style|svg|meta|base)\b|\bon[a-z]+\s*=|javascript:|data:|<!--", re.I
)
# code the renderer would not show as code: put back as written, each would run
SMUGGLED = [
    "<div>\n`<img src=x onerror=alert(1)>`\n</div>",  # inside an HTML block backticks make no code
    "<div>\n```\n<img src=x onerror=alert(1)>\n```\n</div>",
    "- item\n\n  ```\n<img src=x onerror=alert(1)>\n```",  # the fence ends with the list item
    "a `b\n`<img src=x onerror=alert(1)>`",  # the first backtick pairs with one on the next line
    '[r]: /u "\n```\n"\n<img src=x onerror=alert(1)>\n```',  # marked reads that fence line as a link title
    "<script>\n\nfoo</script><div>\n`<img src=x onerror=alert(1)>`",  # the cleaned text opens an HTML block
    "~`<img src=x onerror=alert(1)>`",  # marked's text rule takes '~`' as one piece
    '[a](u "`") <img src=x onerror=alert(1)> `',  # that backtick belongs to a link title
]


def test_a_hostile_card_keeps_no_active_html_and_keeps_its_text():
    assert len(ACTIVE.findall(HOSTILE)) > 20  # the control: every kind is there to begin with
    out = safe_card_markdown(HOSTILE)
    assert not ACTIVE.search(out), ACTIVE.findall(out)
    for kept in ("# A model\n", "Send", "<a>one</a>", "<a>two</a>", "<a>three</a>", "<div>four</div>", "<img>"):
        assert kept in out
    assert "[five](#) ![six](#) [seven][r]" in out
    assert "\n[r]: #\n" in out
    assert "&lt;javascript&#58;alert(1)>" in out  # shown as text, no longer a link
    assert "hidden" not in out


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        ('<form action="http://evil/"><input name=q><button>Send</button></form>', "Send"),
        ('<iframe src="https://evil/"></iframe>after', "after"),
        ("<script>alert(1)</script>after", "after"),
        ("<style>body{display:none}</style>after", "after"),
        ("<svg onload=alert(1)><circle r=5 /></svg>after", "after"),
        ('<meta http-equiv=refresh content="0;url=http://evil/"><base href="http://evil/">after', "after"),
        ("<img src=x onerror=alert(1)>", "<img>"),
        ('<img src="javascript:alert(1)" alt="a">', '<img alt="a">'),
        ('<a href="javascript:alert(1)">x</a>', "<a>x</a>"),
        ('<a href=" JaVa&#x53;cript:alert(1)">x</a>', "<a>x</a>"),
        ('<a href="java&#x73;cript:alert(1)">x</a>', "<a>x</a>"),
        ('<a href="jav&#x09;ascript:alert(1)">x</a>', "<a>x</a>"),
        ('<a href="javascript&colon;alert(1)">x</a>', "<a>x</a>"),
        ('<a href="vbscript:msgbox(1)">x</a><a href="file:///etc/passwd">y</a>', "<a>x</a><a>y</a>"),
        ('<a href="data:text/html,<script>alert(1)</script>">x</a>', "<a>x</a>"),
        ('<div style="position:fixed" onclick="steal()" class="c" id="i">x</div>', "<div>x</div>"),
        ("[x](javascript:alert(1))", "[x](#)"),
        ("[x]( JaVaScRiPt:alert(1) )", "[x]( # )"),
        ("[x](javascript\\:alert(1))", "[x](#)"),
        ("![y](data:image/svg+xml,<svg onload=alert(1)>)", "![y](#)"),
        ("[r]: javascript:alert(1)\n\n[z][r]", "[r]: #\n\n[z][r]"),
        ("<javascript:alert(1)>", "&lt;javascript&#58;alert(1)>"),
        ("a <!-- <script>alert(1)</script> --> b", "a  b"),
        ('<?xml version="1.0"?><!DOCTYPE html><![CDATA[x]]>after', "after"),
        ("<<form>script>alert(1)<</form>/script>", "&lt;script>alert(1)&lt;/script>"),  # no tag from the pieces
    ],
)
def test_each_kind_of_attack_is_taken_out(card: str, expected: str):
    assert safe_card_markdown(card) == expected


def test_the_bundled_card_comes_out_byte_for_byte_and_what_follows_it_is_cleaned():
    card = BUNDLED_CARD.read_text(encoding="utf-8")
    assert "```" in card and "<this repo or folder>" in card  # its code holds angle brackets
    out = safe_card_markdown(card + "\n" + HOSTILE)
    assert out.startswith(card + "\n")  # every heading, table row, list item and code block as written
    assert not ACTIVE.search(out), ACTIVE.findall(out)


def test_allowed_html_keeps_its_safe_attributes_only():
    card = (
        "<details><summary>Training details</summary>\n\nSixteen folds, <b>one</b> <em>seed</em>.\n\n</details>\n\n"
        '<a href="https://huggingface.co/x" title="t" onclick="steal()" target="_blank">hub</a> '
        '<a href="docs/train.md">rel</a> <a href="#limits">frag</a>\n\n'
        '<table><tr><th align="left" style="color:red">k</th><td align="center" colspan="2" class="x">v</td></tr>'
        "</table>\n"
        '<img src="https://huggingface.co/x.png" alt="logo" width="120" height="40px" srcset="a.png 2x">'
    )
    assert safe_card_markdown(card) == (
        "<details><summary>Training details</summary>\n\nSixteen folds, <b>one</b> <em>seed</em>.\n\n</details>\n\n"
        '<a href="https://huggingface.co/x" title="t">hub</a> <a href="docs/train.md">rel</a> '
        '<a href="#limits">frag</a>\n\n'
        '<table><tr><th align="left">k</th><td align="center" colspan="2">v</td></tr></table>\n'
        '<img src="https://huggingface.co/x.png" alt="logo" width="120">'
    )


def test_prose_tables_links_and_entities_come_out_as_written():
    prose = (
        "## Results & limits\n\n| metric | value |\n|:---|---:|\n| acc | 0.97 |\n\n"
        "*a < b* and **3 > 2**, p<0.05, AT&amp;T &copy; 2026, x <= y, <3; see [the docs](https://huggingface.co/docs "
        '"Docs"), [a path](../README.md), [a fragment](#limits) and ![plot](https://huggingface.co/plot.png).\n\n'
        "1. one\n2. two\n   - nested `code`\n\n> quoted\n"
    )
    assert safe_card_markdown(prose + "<script>alert(1)</script>") == prose


def test_code_blocks_and_code_spans_stay_verbatim():
    code = (
        '```html\n<form action="http://evil/"><input name=q></form>\n<script>alert(1)</script>\n```\n\n'
        'Tokens `<pad>`, `<unk>` and `<|endoftext|>`; a form is `<form action="/x">`.\n\n'
        "~~~\n[x](javascript:alert(1))\n~~~\n"
    )
    assert safe_card_markdown(code + '\n<form action="http://evil/">typed here</form>\n') == code + "\ntyped here\n"


@pytest.mark.parametrize("card", SMUGGLED)
def test_code_the_renderer_would_not_show_as_code_is_cleaned_too(card: str):
    out = safe_card_markdown(card)
    assert "onerror" not in out, out


def test_the_rendered_cards_have_no_active_html():
    """What a CommonMark renderer that passes raw HTML through makes of the cleaned cards. (Gradio's gr.Markdown
    hands the markdown to the browser, which renders it: no server-side HTML to check there.)"""
    markdown_it = pytest.importorskip("markdown_it")
    md = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table")
    active = re.compile(
        r"<(?:form|input|button|iframe|script|style|svg|meta|base)\b"
        r"|\son[a-z]+="
        r"|(?:href|src|action)=\W*(?:javascript|data):",  # in an attribute: text that says javascript: is only text
        re.I,
    )
    for card in [HOSTILE, *SMUGGLED]:
        assert active.search(md.render(card))  # the control
        rendered = md.render(safe_card_markdown(card))
        assert not active.search(rendered), (card, rendered)
    code = md.render(safe_card_markdown("```\n<form action=x>\n```\n\nuse `<input>`"))
    assert "&lt;form action=x&gt;" in code and "<code>&lt;input&gt;</code>" in code


def test_the_model_card_tab_shows_a_hostile_card_without_its_active_html(tiny_model_dir, tmp_path):
    """The app's Model card tab, on a model folder whose README.md is hostile: what it returns to gr.Markdown keeps
    the card's words and tables, and none of its forms, inputs, scripts or javascript: links."""
    import shutil

    from hybrid.app import card
    from hybrid.app.context import AppContext
    from hybrid.app.settings import AppSettings

    folder = tmp_path / "hostile-card"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "README.md").write_text(
        "# A card\n\n| metric | value |\n|---|---|\n| accuracy | 0.9 |\n\n"
        '<form action="http://evil.example/"><input name="q"><button>Send</button></form>\n\n'
        '<script>alert(1)</script><iframe src="http://evil.example/"></iframe>\n'
        "[click](javascript:alert(1)) <img src=x onerror=alert(1)>\n"
    )
    ctx = AppContext.create(AppSettings(model=str(folder), models_dir=tmp_path / "no-models"))
    shown = card.model_card(ctx, folder.name, "")
    assert "| accuracy | 0.9 |" in shown and "# A card" in shown and "Knows 3 actions" in shown
    low = shown.lower()
    for bad in ("<form", "<input", "<button", "<script", "<iframe", "javascript:", "onerror"):
        assert bad not in low, bad
