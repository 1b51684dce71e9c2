"""``vipnas serve`` end to end in a real browser: the server as a subprocess on a free port, headless Chromium
(Debian's ``/usr/bin/chromium``, never a downloaded one) driven by Playwright. The video page uploads a short
SynthPose video with its boxes and runs it to the end (frame count, track ids, downloads) and names a bad upload;
the search page opens a search, a click on a point shows the arch's figure, numbers and ``vipnas extract`` command,
and a temporal search shows its per-frame allocation. Stopping the server leaves no temporary file.

Skipped, with the reason, when the ``serve`` extra, Playwright or a system Chromium is missing. With
``VIPNAS_SERVE_SCREENSHOTS=DIR`` the pages' screenshots are written there (``serve_video.png``, ``serve_search.png``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="the serve extra is not installed: pip install -e '.[serve]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install -e '.[dev]'")
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and os.access(p, os.X_OK)), None)
if CHROMIUM is None:
    pytest.skip("no system Chromium (apt-get install chromium): the browser tests need one", allow_module_level=True)

pytestmark = pytest.mark.browser
TIMEOUT_MS = 120_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(serve_runs, tmp_path_factory):
    """``python -m vipnas serve`` on a free port with its own TMPDIR; yields (url, process, TMPDIR)."""
    temporary = tmp_path_factory.mktemp("serve-tmp")
    port = _free_port()
    command = [sys.executable, "-m", "vipnas", "serve", "--port", str(port), "--runs", str(serve_runs),
               "--clips", "1", "--workers", "2"]  # fmt: skip
    process = subprocess.Popen(command, env={**os.environ, "TMPDIR": str(temporary)}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/choices", timeout=2) as response:
                json.load(response)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"vipnas serve did not start: {process.communicate()[0]}")
            time.sleep(0.3)
    yield url, process, temporary
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        except sync_api.Error as error:  # the machine's Chromium, not the project: say so and skip
            pytest.skip(f"Playwright cannot start {CHROMIUM}: {str(error).splitlines()[0]}")
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        yield page
        browser.close()


def _screenshot(page, name: str) -> None:
    folder = os.environ.get("VIPNAS_SERVE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_the_video_page_runs_an_uploaded_video_to_the_end(server, page, synthpose_video, tmp_path) -> None:
    url, _, _ = server
    video, truth, count = synthpose_video
    page.goto(f"{url}/#video")
    page.wait_for_selector("body[data-ready=true]")
    # a file that is no video: the server's named error is shown on the page
    (tmp_path / "notes.mp4").write_text("not a video\n" * 8)
    page.set_input_files("#video-file", str(tmp_path / "notes.mp4"))
    page.click("#run")
    page.wait_for_function("document.getElementById('form-error').textContent.length > 0")
    assert page.inner_text("#form-error").startswith("notes.mp4: not a video by its content")
    assert page.locator(".job").count() == 0
    page.set_input_files("#video-file", str(video))
    page.set_input_files("#boxes-file", str(truth))
    key = page.locator("#model option", has_text="key.pth").get_attribute("value")
    page.select_option("#model", key)
    page.select_option("#temporal", index=1)
    page.fill("#every", "2")
    page.click("#run")
    card = page.locator(".job[data-state=done]")
    card.wait_for()
    assert page.inner_text("#form-error") == ""
    assert card.locator(".frames-done").inner_text() == str(count) == card.locator(".frame-total").inner_text()
    tracks = card.locator(".tracks").inner_text()
    assert tracks and all(part.strip().isdigit() for part in tracks.split(","))
    assert card.locator(".job-frame").evaluate("image => image.naturalWidth") > 0
    assert card.locator(".timings tr").count() == 6
    for kind in ("video", "jsonl", "posetrack"):
        link = card.locator(f"a.download-{kind}").get_attribute("href")
        with urllib.request.urlopen(url + link) as response:
            assert response.status == 200 and len(response.read()) > 0
    _screenshot(page, "serve_video.png")


def test_the_search_page_shows_a_clicked_arch_and_its_extract_command(server, page) -> None:
    url, _, _ = server
    page.goto(f"{url}/#search")
    page.wait_for_selector("body[data-ready=true]")
    spatial = page.locator("#search-folder option", has_text="search-spatial").get_attribute("value")
    page.select_option("#search-folder", spatial)
    page.wait_for_function("typeof search !== 'undefined' && search && search.label.endsWith('search-spatial')")
    page.wait_for_selector("#scatter circle.point.pareto")
    assert page.locator("#scatter circle.point").count() == 12
    page.locator("#scatter circle.point.pareto").first.click()
    page.wait_for_selector("#arch-panel:not([hidden])")
    page.wait_for_function("document.getElementById('arch-figure').naturalWidth > 0")
    assert page.inner_text("#extract-command").count("vipnas extract") == 1
    assert "stage1" in page.inner_text("#arch-describe") and "MACs" in page.inner_text("#arch-numbers")
    page.select_option("#axis", "latency_ms")  # the measured/predicted latency axis: its own front
    assert page.locator("#scatter circle.point.pareto").count() >= 1
    best = page.evaluate("search.best")
    page.locator(f"#scatter circle[data-index='{best}']").click()
    page.wait_for_function("document.getElementById('arch-title').textContent.includes('(best)')")
    assert "best_arch.json --out searched.pth" in page.inner_text("#extract-command")
    _screenshot(page, "serve_search.png")
    temporal = page.locator("#search-folder option", has_text="search-temporal").get_attribute("value")
    page.select_option("#search-folder", temporal)
    page.wait_for_function("search.kind === 'temporal'")  # the spatial points are gone, the temporal ones drawn
    page.locator("#scatter circle.point").first.click()
    page.wait_for_selector("#arch-frames:not([hidden])")
    assert page.locator("#arch-frames tr").count() == 1 + 3  # header, key frame, t1, t2
    assert page.is_hidden("#extract-command")


def test_stopping_the_server_leaves_no_temporary_file(server, page) -> None:
    _, process, temporary = server
    process.send_signal(signal.SIGINT)  # as Ctrl-C: uvicorn shuts down, then re-raises the signal
    assert process.wait(timeout=60) in (0, -signal.SIGINT)
    assert "Traceback" not in process.stdout.read()
    assert list(temporary.iterdir()) == []
