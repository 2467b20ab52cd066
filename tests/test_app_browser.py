"""The explorer page in real headless Chromium (Debian's /usr/bin/chromium through Playwright).

Saves a screenshot to test-artifacts/explorer.png (git-ignored) for a person to look at.
"""

import socket
import threading
import time
from pathlib import Path

import pytest
from _tiny_runs import tiny_runs

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is absent: install Debian's chromium and chromium-driver (.ci/run does)",
)

# every pixel of an <img>, through a canvas, as one comparable string
PIXELS = """(selector) => {
  const img = document.querySelector(selector);
  if (!img.complete || img.naturalWidth === 0) return null;  // a new image is loading
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  return Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data).join(",");
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from untwine.app import create_app

    a, b = tiny_runs(tmp_path_factory.getbasetemp())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app([a, b]), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server)
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        page.errors = errors
        yield page
        browser.close()


def decoded_pixels(page, panel: int = 0) -> str:
    selector = f".panel:nth-of-type({panel + 1}) img.decoded"
    deadline = time.time() + 15
    while time.time() < deadline:
        pixels = page.evaluate(PIXELS, selector)
        if pixels is not None:
            return pixels
        time.sleep(0.05)
    raise AssertionError(f"{selector} did not finish loading")


def wait_for_new_pixels(page, before: str, panel: int = 0) -> str:
    deadline = time.time() + 15
    while time.time() < deadline:
        now = decoded_pixels(page, panel)
        if now != before:
            return now
        time.sleep(0.1)
    raise AssertionError("the decoded image did not change")


def test_page_loads_two_runs_side_by_side(page):
    assert page.title() == "untwine explorer"
    assert page.locator(".panel").count() == 2
    assert page.locator(".panel").nth(0).locator("input[type=range]").count() == 4
    assert "beta1" in page.locator(".panel h2").nth(0).inner_text()
    assert "beta4" in page.locator(".panel h2").nth(1).inner_text()
    assert page.locator(".panel").nth(0).locator(".prediction").is_visible()  # beta1 has a classifier
    assert page.locator("#error").is_hidden()
    assert not page.errors


def test_moving_a_slider_changes_the_decoded_pixels(page):
    before = decoded_pixels(page)
    page.locator(".panel").nth(0).locator("input[type=range]").first.fill("3.5")
    wait_for_new_pixels(page, before)
    # the other run, driven by the same image, has its own sliders
    before_b = decoded_pixels(page, 1)
    page.locator(".panel").nth(1).locator("input[type=range]").first.fill("-3.5")
    wait_for_new_pixels(page, before_b, 1)
    assert page.locator("#error").is_hidden()


def test_an_upload_that_is_not_an_image_shows_the_error_and_the_page_keeps_working(page):
    page.locator("#upload").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image at all\n"}])
    error = page.locator("#error")
    error.wait_for(state="visible", timeout=15_000)
    assert "PNG or JPEG" in error.inner_text()
    # still working: sliders decode, and a dataset image by class loads and clears the error
    before = decoded_pixels(page)
    page.locator(".panel").nth(0).locator("input[type=range]").first.fill("-3.0")
    wait_for_new_pixels(page, before)
    page.select_option("#class", "heart")
    page.click("#load-class")
    page.wait_for_function("document.querySelector('#status').textContent.includes('class heart')")
    assert error.is_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "explorer.png"), full_page=True)
    assert (ARTIFACTS / "explorer.png").stat().st_size > 10_000
    assert not page.errors
