"""The playground page (GET /) in a real browser: Playwright for Python driving Debian's chromium
against the local stack (a subprocess, the ``stack`` fixture), with the local face engine.

Playwright's own browser download is not used (``playwright install`` is never run): the tests launch
``/usr/bin/chromium`` and are skipped, saying so, where that is missing. With
``SWAPGATE_PLAYGROUND_SCREENSHOT=<path>`` the single-swap test saves the finished page there (the
README's picture: docs/images/make_playground.py).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from e2e_stack import API_KEY, FACES
from swapgate_dev.local.running import RunningStack
from test_local_stack_e2e import assert_swapped, decode_image, needs_engine

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = os.environ.get("SWAPGATE_PLAYGROUND_SCREENSHOT")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Page:
    """The playground opened with the key in its fragment, and what it sent."""

    def __init__(self, browser, stack: RunningStack) -> None:
        self.context = browser.new_context(viewport={"width": 1000, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.sent: list = []  # requests to the API
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda r: self.sent.append(r) if r.url.startswith(stack.api_url) else None)
        self.page.goto(f"{stack.api_url}/#key={API_KEY}")
        from playwright.sync_api import expect

        self.expect = expect
        # the providers are listed once the key is known
        expect(self.page.locator("#provider option[value=builtin]")).to_be_attached()

    def posts(self, path: str) -> list:
        return [r for r in self.sent if r.method == "POST" and r.url.endswith(path)]


@pytest.fixture
def playground(browser, stack) -> Iterator[Page]:
    page = Page(browser, stack)
    try:
        yield page
    finally:
        page.context.close()
    assert page.errors == []


def _finished_result(playground: Page) -> bytes:
    page, expect = playground.page, playground.expect
    expect(page.locator("#results")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("status")).to_contain_text("succeeded")
    result = page.get_by_role("img", name="The swapped picture")
    expect(result).to_have_js_property("complete", True)
    assert result.evaluate("image => image.naturalWidth") > 0  # the result image really shows
    link = page.get_by_role("link", name="Download the result")
    assert link.get_attribute("href") == result.get_attribute("src")
    response = requests.get(link.get_attribute("href"), timeout=30)
    assert response.status_code == 200
    return response.content


def test_the_key_goes_from_the_fragment_to_the_session_and_only_into_a_header(playground, stack):
    page = playground.page
    assert page.url == f"{stack.api_url}/"  # the fragment is cleared
    assert page.evaluate("() => sessionStorage.getItem('swapgate.apiKey')") == API_KEY
    assert page.get_by_label("API key", exact=True).input_value() == API_KEY
    (providers,) = [r for r in playground.sent if r.url.endswith("/v1/providers")]
    assert providers.headers["x-api-key"] == API_KEY
    assert all(API_KEY not in r.url for r in playground.sent)
    options = page.locator("#provider option").all_inner_texts()
    assert "builtin" in " ".join(options) and "ttapi (default)" in options


@needs_engine
def test_a_single_swap_through_the_page_shows_the_result(playground, faces):
    page = playground.page
    page.get_by_label("Provider").select_option("builtin")
    page.get_by_label("Source picture").set_input_files(FACES / "astronaut.png")
    page.get_by_label("Face picture").set_input_files(FACES / "grace_hopper.jpg")
    page.get_by_role("button", name="Swap faces").click()
    result = _finished_result(playground)
    assert_swapped(result, faces["astronaut.png"], faces["grace_hopper.jpg"])
    (create,) = playground.posts("/v1/swaps")
    assert create.headers["prefer"] == "wait=20"
    assert page.locator("#elapsed").inner_text().endswith(" s")
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)


@needs_engine
def test_a_multi_face_swap_by_picking_a_box_with_the_keyboard(playground, faces):
    page, expect = playground.page, playground.expect
    page.get_by_label("Pick faces in a group picture").check()
    page.get_by_label("Provider").select_option("builtin")
    page.get_by_label("Source picture").set_input_files(FACES / "two_faces.jpg")
    first = page.get_by_role("button", name="Face 1", exact=True)
    expect(first).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name="Face 2", exact=True)).to_be_visible()
    first.focus()
    page.keyboard.press("Space")
    expect(first).to_have_attribute("aria-pressed", "true")
    page.get_by_label("Face picture").set_input_files(FACES / "grace_hopper.jpg")
    page.get_by_role("button", name="Swap faces").focus()
    page.keyboard.press("Enter")
    result = _finished_result(playground)
    assert_swapped(result, faces["two_faces.jpg"], faces["grace_hopper.jpg"])
    assert len(playground.posts("/v1/swaps/multi")) == 1
    # the face picked (1: the astronaut, on the left) was replaced; the other one was left as it was
    got, source = decode_image(result).astype(int), decode_image(faces["two_faces.jpg"]).astype(int)
    middle = source.shape[1] // 2
    changed = abs(got - source).max(axis=2) > 16
    assert changed[:, :middle].sum() > 20 * max(1, changed[:, middle:].sum())  # here: about 5600 to 5


def bitmap(width: int = 2, height: int = 2) -> bytes:
    """A grey 24-bit BMP: a picture browsers show and Swapgate does not take."""
    row = bytes([200, 200, 200] * width).ljust((3 * width + 3) // 4 * 4, b"\0")
    pixels = row * height
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def test_a_bad_file_shows_an_error_naming_the_field(playground):
    page, expect = playground.page, playground.expect
    page.get_by_label("Provider").select_option("builtin")
    page.get_by_label("Source picture").set_input_files(FACES / "astronaut.png")
    text = {"name": "notes.png", "mimeType": "image/png", "buffer": b"these are notes, not a picture"}
    page.get_by_label("Face picture").set_input_files(text)
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Face picture: not a JPEG, PNG or WebP picture")
    expect(page.get_by_label("Face picture")).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Swap faces").click()
    expect(alert).to_have_text("Face picture: not a JPEG, PNG or WebP picture")
    assert playground.posts("/v1/swaps") == []  # refused before sending

    # a picture the browser shows but the API refuses: its error names the field too
    untyped = {"name": "face.bin", "mimeType": "application/octet-stream", "buffer": bitmap()}
    page.get_by_label("Face picture").set_input_files(untyped)
    expect(page.get_by_label("Face picture")).not_to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Swap faces").click()
    expect(alert).to_have_text("Face picture: face_image is not a JPEG, PNG or WebP image")
    expect(page.locator("#face-file-error")).to_have_text(
        "Face picture: face_image is not a JPEG, PNG or WebP image"
    )
    expect(page.get_by_role("status")).to_have_text("Stopped: see the error below.")
    assert len(playground.posts("/v1/swaps")) == 1


def test_swagger_ui_renders_offline_and_its_authorize_sends_the_key(browser, stack):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        elsewhere: list[str] = []
        sent: list = []
        page.on(
            "request",
            lambda r: sent.append(r) if r.url.startswith(stack.api_url) else elsewhere.append(r.url),
        )
        page.goto(f"{stack.api_url}/v1/docs")
        page.get_by_role("button", name="Authorize").click(timeout=30_000)
        modal = page.locator(".modal-ux")
        modal.locator("input").first.fill(API_KEY)  # the apiKey scheme: x-api-key
        modal.locator("button.modal-btn.authorize").first.click()
        modal.locator("button.btn-done").first.click()
        page.get_by_text("List the providers", exact=True).click()
        page.get_by_role("button", name="Try it out").click()
        page.get_by_role("button", name="Execute").click()
        expect(page.locator(".live-responses-table tbody .response-col_status").first).to_contain_text("200")
        (listed,) = [r for r in sent if r.url == f"{stack.api_url}/v1/providers"]
        assert listed.headers["x-api-key"] == API_KEY
        assert [url for url in elsewhere if not url.startswith("data:")] == []  # inlined assets: no CDN
    finally:
        context.close()
