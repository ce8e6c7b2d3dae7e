"""The rendered book: it builds with warnings as errors, every page exists, and every image loads in Chromium."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"
PAGES = ["book/intro", "book/chapters/01_chaos_effect", "book/chapters/02_cone_effect",
         "book/chapters/03_linearized_switch", "book/scorecard", "book/rerun", "book/api"]
FIGURE_PAGES = {p for p in PAGES if "/chapters/" in p}


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


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed (make test installs Debian's chromium when it can)")
        pytest.skip("Chromium is not installed; `apt-get install chromium` to run the browser check")
    return path


def test_pages_render_with_all_images_loaded(html):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 1700})
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
        browser.close()
