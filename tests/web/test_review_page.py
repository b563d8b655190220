"""The review page in a real headless Chromium (Debian's chromium + chromium-driver).

A screenshot is saved to the test's tmp_path when a step fails (its path is printed);
AXIOMD_SCREENSHOT=path saves one of the version page after a passing run (how
docs/review-page.png is made).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.web.conftest import Served, make_clip

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ASSET = "TST_SQ010_SH0010_comp"

@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("the review page test needs Debian's chromium and chromium-driver "
                    "(`apt-get install chromium chromium-driver`; .ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1400,1000",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot = tmp_path / "review-page-failure.png"
        driver.save_screenshot(str(shot))
        print(f"\nscreenshot of the failure: {shot}")
    driver.quit()


def until(driver: object, check: Callable[[], object], what: str, timeout: float = 20) -> None:
    """Wait for `check`; an element the page re-rendered meanwhile is simply looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException

    def fresh() -> object:
        try:
            return check()
        except StaleElementReferenceException:
            return False

    wait_for(fresh, timeout, what, every=0.1)


def click(driver: object, by: str, value: str) -> None:
    """Click, looking the element up again if the page re-rendered it under us."""
    def attempt() -> bool:
        driver.find_element(by, value).click()  # type: ignore[attr-defined]
        return True

    until(driver, attempt, f"to click {value}")


def test_a_supervisor_reviews_a_shot_in_the_browser(served: Served, daemons, browser,
                                                    tmp_path: Path) -> None:
    """Log in, open the shot, watch the version complete without a reload, play the proxy
    and step a frame, approve with a note, see the state change; a review made elsewhere
    shows up on the grid without a reload."""
    from selenium.webdriver.common.by import By

    clip = make_clip(tmp_path / "clip.mov", seconds=2)
    served.settled_upload(served.upload(clip, f"{ASSET}_v001.mov", note="first pass")
                          .headers["location"])
    version_url = f"/api/v1/assets/{ASSET}/versions/v001"
    driver = browser
    find = driver.find_element

    driver.get(served.url + "/")
    assert "/login" in driver.current_url
    find(By.ID, "token").send_keys(served.tokens["supervisor"])
    find(By.ID, "login").click()
    until(driver, lambda: driver.current_url == served.url + "/", "the login to land on /")
    for level in ("TST", "SQ010", "SH0010"):
        find(By.LINK_TEXT, level).click()
    until(driver, lambda: driver.find_elements(By.ID, f"card-{ASSET}-v001"), "the version card")
    until(driver, lambda: "pending" in find(By.ID, f"card-{ASSET}-v001").text, "pending card")
    click(driver, By.ID, f"card-{ASSET}-v001")
    until(driver, lambda: driver.find_elements(By.ID, "noproxy"), "the page without a proxy yet")
    driver.execute_script("window.stillThisPage = true")
    daemons(served.config, "worker")
    until(driver, lambda: find(By.ID, "status").text == "complete", "the version to complete",
          timeout=60)
    until(driver, lambda: driver.find_elements(By.ID, "proxy"), "the player to appear")
    assert driver.execute_script("return window.stillThisPage === true"), "the page reloaded"

    until(driver, lambda: driver.execute_script(
        "return document.getElementById('proxy').readyState >= 2"), "the proxy to load")
    find(By.ID, "play").click()
    until(driver, lambda: driver.execute_script(
        "return document.getElementById('proxy').currentTime > 0.3"), "the proxy to play")
    find(By.ID, "play").click()
    until(driver, lambda: driver.execute_script("return document.getElementById('proxy').paused"),
          "the proxy to pause")
    find(By.ID, "prev-frame").click()
    until(driver, lambda: not driver.execute_script(
        "return document.getElementById('proxy').seeking"), "the seek")
    frame = int(find(By.ID, "frame").text)
    find(By.ID, "next-frame").click()
    until(driver, lambda: int(find(By.ID, "frame").text) == frame + 1, "one frame forward")
    assert abs(driver.execute_script("return document.getElementById('proxy').currentTime")
               - (frame + 1.5) / 24) < 1e-3

    find(By.ID, "note").send_keys("lovely, ship it")
    find(By.ID, "approve").click()
    until(driver, lambda: find(By.ID, "review").text == "approved", "the review to show")
    assert "lovely, ship it" in find(By.ID, "remarks").text
    assert "supervisor-tok" in find(By.ID, "remarks").text
    history = served.get(version_url).json()["history"]
    assert [(h["by"], h["to"], h["text"]) for h in history] == [
        ("supervisor-tok", "approved", "lovely, ship it")]
    if os.environ.get("AXIOMD_SCREENSHOT"):
        driver.save_screenshot(os.environ["AXIOMD_SCREENSHOT"])

    driver.back()
    until(driver, lambda: "approved" in find(By.ID, f"card-{ASSET}-v001").text, "the grid")
    until(driver, lambda: driver.execute_script(
        "const i = document.querySelector('.card img'); return i && i.naturalWidth > 0"),
        "the thumbnail to load")
    assert served.post(f"{version_url}/review", "admin",
                       json={"action": "cbb", "note": "grain"}).status_code == 200
    until(driver, lambda: "cbb" in find(By.ID, f"card-{ASSET}-v001").text,
          "the grid to show the review made elsewhere", timeout=10)
