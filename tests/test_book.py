"""The rendered book: it builds with warnings as errors, every page exists, chapters can be downloaded as
notebooks, every image loads in Chromium, and every formula is typeset by the MathJax served with the book
(the browser gets no network)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"


def toc_pages() -> list[str]:
    """Every page of the table of contents (_toc.yml): the root and each part's chapters, in order."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"], *[c["file"] for part in toc.get("parts", []) for c in part["chapters"]]]


PAGES = toc_pages()
FIGURE_PAGES = {p for p in PAGES if "/chapters/" in p}
# Pages whose prose has formulas ($t_0$, $1-\cos(\theta,\theta')$ ...): MathJax must typeset them.
MATH_PAGES = {"book/intro", *FIGURE_PAGES}

@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out), "--all", "-W", "-n",
                           "--keep-going"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"jupyter-book build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return out / "_build" / "html"


def test_book_builds_with_every_page(html):
    for page in PAGES:
        assert (html / f"{page}.html").exists(), f"missing page {page}"


@pytest.mark.parametrize("name", sorted(FIGURE_PAGES))
def test_chapter_pages_offer_the_notebook_for_download(html, name):
    """html.use_download_button: each chapter page links its executed .ipynb, which the build copies."""
    link = f"_sources/{name}.ipynb"
    assert link in (html / f"{name}.html").read_text(), f"{name}: no download link to {link}"
    assert (html / link).is_file(), f"{name}: the download link points at a missing file {link}"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed (make test installs Debian's chromium when it can)")
        pytest.skip("Chromium is not installed; `apt-get install chromium` to run the browser check")
    return path


# Chromium flags: no sandbox (root in a container), no GPU, no background traffic of the browser's own.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's; Playwright never downloads one here)."""
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A browser tab that can load only local files: every request leaving the machine is aborted and recorded
    (``page.external``), as are local files that fail to load (``page.failed``), so what renders here renders
    offline."""
    context = browser.new_context(viewport={"width": 1280, "height": 1700})
    tab = context.new_page()
    tab.external, tab.failed = [], []

    def local_only(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            tab.external.append(url)
            route.abort()

    tab.route("**/*", local_only)
    tab.on("requestfailed", lambda r: r.url.startswith("file:") and tab.failed.append(f"{r.url} ({r.failure})"))
    yield tab
    context.close()


def test_pages_render_with_all_images_loaded(html, page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in PAGES:
        page.goto((html / f"{name}.html").as_uri(), wait_until="load")
        images = page.evaluate("""() => Array.from(document.images).map(
            i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}))""")
        broken = [i["src"] for i in images if not i["ok"]]
        assert not broken, f"{name}: images that did not load: {broken}"
        if name in FIGURE_PAGES:
            assert any("data:image/png" in i["src"] or i["src"].endswith(".png") for i in images), \
                f"{name}: no figure on the page"
        assert page.title(), f"{name}: page has no title"
        page.screenshot(path=str(SHOTS / f"{name.replace('/', '_')}.png"), full_page=True)
    assert not page.failed, f"local files that did not load: {page.failed}"
    assert not page.external, f"the book requested files from the network: {sorted(set(page.external))}"


# The visible text nodes outside code, formulas and scripts: where TeX delimiters would show if MathJax had
# not run. Checked node by node: a lone $ (an environment variable in a docstring) pairs with nothing.
PROSE_TEXT = """() => {
    const skip = "pre, code, script, style, mjx-container, mjx-assistive-mml, .highlight, .cell_input";
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const parts = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        if (!parent || parent.closest(skip) || parent.getClientRects().length === 0) continue;
        if (getComputedStyle(parent).visibility === "hidden") continue;
        parts.push(node.textContent);
    }
    return parts;
}"""
# $x$, $$x$$, \(x\), \[x\]: what MyST leaves for MathJax, or what it would pass through unparsed.
RAW_TEX = re.compile(r"\$\$|\$[^\s$][^$]*?\$|\\\(|\\\)|\\\[|\\\]")


def test_formulas_are_typeset_offline_by_the_bundled_mathjax(html, page):
    """The MathJax the book ships in _static/mathjax (sphinx-mathjax-offline) typesets every formula, with
    the network cut: each math element holds an ``mjx-container``, none is a MathJax error, and no raw
    ``$...$``, ``\\(...\\)`` or ``\\[...\\]`` is left in the visible prose."""
    for name in PAGES:
        page.goto((html / f"{name}.html").as_uri(), wait_until="load")
        scripts = page.evaluate("() => Array.from(document.scripts).map(s => s.src).filter(s => /mathjax/i.test(s))")
        math = page.locator(".math").count()
        if name in MATH_PAGES:
            assert math > 0, f"{name}: no math element on the page (did MyST stop parsing $...$?)"
        if math:
            assert scripts and all(s.startswith("file:") for s in scripts), \
                f"{name}: MathJax is not loaded from the book's own files: {scripts}"
            # window.MathJax is the configuration object until tex-chtml.js has run; then startup.promise
            # settles when the first typesetting pass is done.
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=30_000)
            page.evaluate("() => MathJax.startup.promise")
            page.wait_for_selector("mjx-container", state="attached", timeout=30_000)
            untypeset = page.evaluate("""() => Array.from(document.querySelectorAll('.math'))
                .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80))""")
            assert not untypeset, f"{name}: formulas MathJax did not typeset: {untypeset[:5]}"
            errors = page.evaluate("""() => Array.from(document.querySelectorAll('mjx-merror'))
                .map(e => e.getAttribute('data-mjx-error') || e.textContent)""")
            assert not errors, f"{name}: MathJax errors: {errors[:5]}"
        raw = [text.strip()[:120] for text in page.evaluate(PROSE_TEXT) if RAW_TEX.search(text)]
        assert not raw, f"{name}: TeX delimiters left in the visible text: {raw[:5]}"
    assert not page.failed, f"local files that did not load: {page.failed}"
    assert not page.external, f"the book requested files from the network: {sorted(set(page.external))}"
