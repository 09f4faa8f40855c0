"""Browser test of the built book: every page of _toc.yml in headless Chromium.

Run with `make test-browser` (after `make book`).  For each page: HTTP 200,
title and h1, full left navigation, no error/stderr/warning cell output, every
image loaded and not blank, maths typeset by the local MathJax, no table wider than the text, each animation
scrubber's picture and step/TV caption move, no empty output where the notebook
promised a picture, HTML or a widget, the Colab link names a notebook of the repository, every
internal link (and #fragment) resolves, a non-blank full-page screenshot in
_build/screenshots/, no uncaught exception or console error, and no request leaves the
machine (bar the ipywidgets CDN).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml
from PIL import Image, ImageStat

from book_site import LOCAL_HOSTS, ROOT, SCREENSHOT_DIR, source_of, toc_pages

PAGES = toc_pages()
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
REPO_SLUG = urlsplit(REPO_URL).path.strip("/")  # e.g. gfn-teach/gfn-teach
BRANCH = CONFIG["repository"].get("branch", "main")
PATH_TO_BOOK = (CONFIG["repository"].get("path_to_book") or "").strip("/")

SCRUBBER_MARKER = "gfn-scrubber"
RAW_MATH = [
    (re.compile(r"\$[^$\s][^$]*?\$"), "raw $...$"),
    (re.compile(r"\\frac\b"), r"raw \frac"),
    (re.compile(r"\\\("), r"raw \("),
    (re.compile(r"\\\["), r"raw \["),
    (re.compile(r"\\begin\{"), r"raw \begin{"),
]

# --- JavaScript run in the page -------------------------------------------

JS_WAIT_MATHJAX = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  if (document.fonts && document.fonts.ready) { await document.fonts.ready; }
  return !!(window.MathJax && MathJax.version);
}"""

JS_IMAGES = """async () => {
  const out = [];
  for (const img of document.querySelectorAll('article img')) {
    img.loading = 'eager';
    const src = (img.currentSrc || img.src || '').slice(0, 120);
    try { await img.decode(); } catch (e) { /* reported below */ }
    const rec = {src, complete: img.complete, w: img.naturalWidth, h: img.naturalHeight, variance: null};
    if (img.naturalWidth > 0 && img.naturalHeight > 0) {
      const c = document.createElement('canvas');
      c.width = Math.min(img.naturalWidth, 800);
      c.height = Math.min(img.naturalHeight, 800);
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0, c.width, c.height);
      try {
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        let n = 0, mean = 0, m2 = 0;
        for (let i = 0; i < d.length; i += 4) {
          // luminance plus alpha, so a uniform (blank) image has variance 0
          const v = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2] + d[i + 3];
          n += 1; const delta = v - mean; mean += delta / n; m2 += delta * (v - mean);
        }
        rec.variance = n > 1 ? m2 / (n - 1) : 0;
      } catch (e) { rec.variance = -1; rec.error = String(e); }
    }
    out.push(rec);
  }
  return out;
}"""

JS_ARTICLE_TEXT = """() => {
  const art = document.querySelector('article');
  if (!art) return null;
  const clone = art.cloneNode(true);
  clone.querySelectorAll('pre, code, .highlight, .cell_input, script, style, mjx-container, .MathJax, mjx-assistive-mml, textarea, .anim-state')
       .forEach(e => e.remove());
  return clone.innerText;
}"""

JS_OUTPUT_TEXT = """() => Array.from(document.querySelectorAll('article .cell_output'))
    .map(e => e.innerText).join('\\n')"""

# Tables (Markdown tables and HTML outputs) wider than the box that holds them: the theme's
# scrollable container or an output area cuts them at its edge, the rest only seen by
# scrolling sideways (which a screenshot, or a reader on a laptop, does not see).
JS_WIDE_TABLES = """() => {
  const art = document.querySelector('article');
  if (!art) return [];
  return Array.from(art.querySelectorAll('table')).filter(t => {
      const box = t.parentElement.closest('.pst-scrollable-table-container, .cell_output, article');
      return t.getBoundingClientRect().width > box.clientWidth + 1;
    })
    .map(t => (t.innerText || '').replace(/\\s+/g, ' ').slice(0, 80));
}"""

JS_LINKS = """() => Array.from(document.querySelectorAll('a[href]'))
    .map(a => a.getAttribute('href'))"""

JS_NAV_LINKS = """() => Array.from(document.querySelectorAll(
      '.bd-sidebar-primary a[href], nav.bd-links a[href], #site-navigation a[href]'))
    .map(a => a.href)"""


# --- helpers -----------------------------------------------------------------


@lru_cache(maxsize=None)
def fetch(url: str) -> tuple[int, str]:
    """Status and (HTML) text of a local URL, through the test server."""
    try:
        with urllib.request.urlopen(url, timeout=20) as resp:
            body = resp.read()
            ctype = resp.headers.get("Content-Type", "")
            text = body.decode("utf-8", "replace") if "html" in ctype else ""
            return resp.status, text
    except urllib.error.HTTPError as err:
        return err.code, ""


def has_anchor(html: str, fragment: str) -> bool:
    frag = re.escape(unquote(fragment))
    return re.search(rf"""\b(id|name)=["']{frag}["']""", html) is not None


def page_url(server: str, docname: str) -> str:
    return f"{server}/{docname}.html"


def screenshot_is_blank(path: Path) -> bool:
    with Image.open(path) as im:
        extrema = im.convert("RGB").getextrema()
        stat = ImageStat.Stat(im.convert("L"))
    return all(lo == hi for lo, hi in extrema) or stat.var[0] == 0


def scrubber_problems(page, scrub) -> list[str]:
    """Stepping a scrubber forward (button, then arrow key) changes its frame and its caption."""
    scrub.scroll_into_view_if_needed()
    frame = scrub.locator("img").first
    slider = scrub.locator("input[type=range]").first
    caption = scrub.locator(".gfn-scrubber-caption").first
    if frame.count() == 0 or slider.count() == 0 or caption.count() == 0:
        return ["no frame image, range slider or caption"]
    problems = []
    seen = [(frame.get_attribute("src"), caption.inner_text())]
    if not re.search(r"step \d+, exact TV \d\.\d{3}", seen[0][1]):
        problems.append(f"caption {seen[0][1]!r} does not give the step and exact TV")
    next_button = scrub.locator("button[title='Next frame']")
    if next_button.count() == 0:
        problems.append("no 'Next frame' button")
    else:
        next_button.first.click()
        seen.append((frame.get_attribute("src"), caption.inner_text()))
    slider.focus()
    page.keyboard.press("ArrowRight")
    seen.append((frame.get_attribute("src"), caption.inner_text()))
    for (src_before, text_before), (src_after, text_after) in zip(seen, seen[1:]):
        if src_after == src_before:
            problems.append("the picture did not change when stepping forward")
        if text_after == text_before:
            problems.append(f"the caption stayed {text_before!r} when stepping forward")
    return problems


def promised_outputs(notebook: Path) -> list[bool]:
    """For each code cell the page shows: does the notebook promise a visible output?

    A picture, HTML or a widget in the stored outputs is a promise; cells tagged
    ``remove-cell`` are not on the page.
    """
    visible = ("image/", "text/html", "application/vnd.jupyter.widget-view+json")
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [
        any(m.startswith(visible) for o in c.get("outputs", []) for m in o.get("data", {}))
        for c in cells
        if c["cell_type"] == "code" and "remove-cell" not in c.get("metadata", {}).get("tags", [])
    ]


JS_CELL_OUTPUTS = """() => Array.from(document.querySelectorAll('article div.cell')).map(cell => {
  const out = cell.querySelector('.cell_output');
  if (!out) return {height: 0, text: '', images: 0};
  const images = Array.from(out.querySelectorAll('img')).filter(i => i.naturalWidth > 0).length;
  return {height: out.getBoundingClientRect().height, text: out.innerText.trim(), images};
})"""


def empty_output_problems(page, notebook: Path) -> list[str]:
    promised = promised_outputs(notebook)
    shown = page.evaluate(JS_CELL_OUTPUTS)
    if len(shown) != len(promised):
        return [f"page shows {len(shown)} code cells, the notebook has {len(promised)}"]
    return [
        f"code cell {i}: the notebook promises a picture, HTML or a widget, the page shows an empty output"
        for i, (promise, out) in enumerate(zip(promised, shown))
        if promise and (out["height"] < 20 or not (out["images"] or out["text"]))
    ]


# --- the test ----------------------------------------------------------------


@pytest.mark.parametrize("docname", PAGES, ids=[p.replace("/", "_") for p in PAGES])
def test_page(docname, server, page):
    problems: list[str] = []
    url = page_url(server, docname)
    source = source_of(docname)
    if source is None:
        problems.append(
            f"{docname}: no source file {docname}.ipynb or .md in the repository"
        )
    source_text = source.read_text(encoding="utf-8") if source else ""

    # 1. loads with HTTP 200
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, (
        f"{url}: HTTP {response and response.status}"
    )
    page.evaluate(JS_WAIT_MATHJAX)

    # 2. title and h1
    if not page.title().strip():
        problems.append("empty <title>")
    if page.locator("article h1").count() < 1:
        problems.append("no <h1> in the article")

    # 3. left navigation lists every page of the toc
    nav = {
        urlsplit(h)._replace(fragment="").geturl() for h in page.evaluate(JS_NAV_LINKS)
    }
    for other in PAGES:
        if other == PAGES[0]:
            continue  # the root page is the logo / home link
        if page_url(server, other) not in nav:
            problems.append(f"left navigation has no link to {other}")

    # 4. no error, traceback, stderr or warning in cell outputs
    bad_outputs = page.locator(
        "article .output.error, article div.output.traceback, article .output.stderr, "
        "article .cell_output .stderr"
    ).count()
    if bad_outputs:
        problems.append(f"{bad_outputs} error/traceback/stderr output block(s)")
    article_text = page.locator("article").inner_text()
    if "Traceback" in article_text:
        problems.append("'Traceback' shown in the page")
    outputs_text = page.evaluate(JS_OUTPUT_TEXT)
    for word in ("Warning", "DeprecationWarning", "Traceback"):
        if word in outputs_text:
            line = next(ln for ln in outputs_text.splitlines() if word in ln)
            problems.append(f"cell output shows {word!r}: {line.strip()[:160]}")

    # 5. every image loaded and not blank
    for img in page.evaluate(JS_IMAGES):
        if not img["w"] or not img["h"]:
            problems.append(f"image did not load: {img['src']}")
        elif img["variance"] is None or img["variance"] <= 0:
            problems.append(
                f"image is blank (uniform pixels): {img['src']} {img.get('error', '')}"
            )

    # 6. maths typeset, nothing raw left
    n_math = page.locator("article .math").count()
    n_mjx = page.locator("article mjx-container").count()
    if n_math and n_mjx < n_math:
        problems.append(f"{n_math} maths element(s) but {n_mjx} typeset by MathJax")
    if n_math:
        fonts = page.evaluate(
            "() => Array.from(document.fonts).filter(f => /MJX/.test(f.family))"
            ".map(f => f.family + ':' + f.status)"
        )
        if fonts and not any(f.endswith(":loaded") for f in fonts):
            problems.append(f"MathJax fonts not loaded: {fonts[:5]}")
    prose = page.evaluate(JS_ARTICLE_TEXT) or ""
    for pattern, what in RAW_MATH:
        match = pattern.search(prose)
        if match:
            problems.append(f"{what} left in the text: {match.group(0)[:80]!r}")

    # 6b. full-page screenshot (before any interaction), not blank
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT_DIR / (docname.replace("/", "__") + ".png")
    page.screenshot(path=str(shot), full_page=True)
    if screenshot_is_blank(shot):
        problems.append(f"screenshot {shot.relative_to(ROOT)} is blank")

    # 6c. every table fits the article's width
    for table in page.evaluate(JS_WIDE_TABLES):
        problems.append(f"table wider than the page's text column: {table!r}")

    # 7. the animation scrubber moves: the picture and the step/TV caption both change
    # (pages whose source has the marker must show one; any page showing one is tested)
    scrubbers = page.locator(f"article .{SCRUBBER_MARKER}")
    if SCRUBBER_MARKER in source_text and scrubbers.count() == 0:
        problems.append(
            f"source has {SCRUBBER_MARKER!r} but the page shows no .{SCRUBBER_MARKER}"
        )
    for i in range(scrubbers.count()):
        problems.extend(f"scrubber {i}: {p}" for p in scrubber_problems(page, scrubbers.nth(i)))

    # 7b. no empty output where the notebook promised a picture, HTML or a widget
    if source is not None and source.suffix == ".ipynb":
        problems.extend(empty_output_problems(page, source))

    # 8. Colab launch link points at a notebook of the repository
    colab = page.locator('a[href*="colab.research.google.com"]')
    if source is not None and source.suffix == ".ipynb" and colab.count() == 0:
        problems.append("no Colab launch link on a notebook page")
    for i in range(colab.count()):
        href = colab.nth(i).get_attribute("href") or ""
        m = re.match(
            rf"https://colab\.research\.google\.com/github/{re.escape(REPO_SLUG)}/blob/{re.escape(BRANCH)}/(.+\.ipynb)$",
            href,
        )
        if not m:
            problems.append(f"Colab link has an unexpected form: {href}")
            continue
        repo_path = m.group(1)
        if not (ROOT / repo_path).is_file():
            problems.append(
                f"Colab link names {repo_path}, which is not in the repository"
            )
        expected = "/".join(p for p in (PATH_TO_BOOK, docname + ".ipynb") if p)
        if repo_path != expected:
            problems.append(f"Colab link names {repo_path}, expected {expected}")

    # 9. every internal link resolves; #fragments exist
    html_here = page.content()
    for href in sorted(set(page.evaluate(JS_LINKS))):
        if not href or href.startswith(("mailto:", "javascript:", "tel:")):
            continue
        target = urljoin(url, href)
        parts = urlsplit(target)
        if parts.hostname not in LOCAL_HOSTS:
            continue  # external links are not fetched
        base = parts._replace(fragment="", query="").geturl()
        if href.startswith("#"):
            if href != "#" and not has_anchor(html_here, href[1:]):
                problems.append(f"link {href}: no such anchor on this page")
            continue
        status, text = fetch(base)
        if status != 200:
            problems.append(f"link {href} -> HTTP {status}")
        elif (
            parts.fragment
            and base.endswith(".html")
            and not has_anchor(text, parts.fragment)
        ):
            problems.append(f"link {href}: no anchor #{parts.fragment} in {parts.path}")

    # 10. no uncaught exception and no console error while loading and testing the page
    problems.extend(page.console_errors)

    # 11. nothing left the machine; no local 404
    for blocked in page.blocked:
        problems.append(f"request to a non-local host: {blocked}")
    for err in page.local_errors:
        problems.append(f"local resource failed: {err}")

    assert not problems, f"{docname}:\n  " + "\n  ".join(problems)


def test_browser_pass_time(pass_clock):
    """The whole browser pass (all pages) stays under 3 minutes."""
    elapsed = time.monotonic() - pass_clock
    assert elapsed < 180, f"browser pass took {elapsed:.0f} s (limit 180 s)"


def test_no_outside_requests(blocked_requests):
    """Session-wide summary (runs last): no non-tolerated host was requested."""
    assert not blocked_requests, "requests to non-local hosts:\n" + "\n".join(
        f"{u}  ({t})" for u, t in blocked_requests
    )
