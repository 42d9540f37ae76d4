"""The web page in a real headless browser (Debian's chromium + chromium-driver, through
selenium): type text, press Speak, the audio streams in, plays and can be downloaded;
upload a voice and speak with it; nothing is loaded from elsewhere."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None,
        reason="Debian's chromium and chromium-driver are not installed (make system-packages)",
    ),
]


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1000,900",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))
    yield driver
    driver.quit()


def wait(driver, condition, seconds: float = 60):
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(lambda d: condition(d))


def speak_and_wait(driver) -> dict:
    driver.find_element(By.ID, "speak").click()
    wait(
        driver,
        lambda d: d.find_element(By.ID, "result").get_attribute("data-state") in ("done", "error"),
    )
    result = driver.find_element(By.ID, "result")
    state = {k: result.get_attribute(f"data-{k}") for k in ("state", "bytes", "chunks", "seconds")}
    assert state["state"] == "done", driver.find_element(By.ID, "status").text
    return state


def test_type_speak_listen_upload_and_speak_again(server, browser, tmp_path):
    browser.get(server.url + "/")
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    options = [
        o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#voice option")
    ]
    assert options == ["high", "low"]
    assert browser.find_element(By.ID, "voice").get_attribute("value") == "low"  # the default

    text = browser.find_element(By.ID, "text")
    text.clear()
    text.send_keys("hello there, this is the page speaking")
    browser.find_element(By.ID, "seed").send_keys("4")
    state = speak_and_wait(browser)
    seconds = float(state["seconds"])
    assert int(state["bytes"]) == round(seconds * 24000) * 2 and int(state["chunks"]) >= 1
    assert seconds > 0.5
    player = browser.find_element(By.ID, "player")
    assert player.get_attribute("src").startswith("blob:") and player.is_displayed()
    duration = wait(
        browser,
        lambda d: d.execute_script(
            "const p = document.getElementById('player'); return isFinite(p.duration) && p.duration"
        ),
    )
    assert abs(duration - seconds) < 0.01  # the kept WAV holds all the streamed audio
    assert browser.find_element(By.ID, "download").is_displayed()
    clock = wait(
        browser,
        lambda d: d.execute_script(  # the pieces were played on this clock
            "return state.audio.state === 'running' && state.audio.currentTime"
        ),
        10,
    )
    assert clock > 0

    clip = tmp_path / "my voice.wav"
    t = np.arange(24000 * 2) / 24000
    sf.write(clip, 0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 2 * t) > 0), 24000)
    browser.find_element(By.ID, "voice-file").send_keys(str(clip))
    browser.find_element(By.ID, "voice-text").send_keys("hello there")
    browser.find_element(By.ID, "upload").click()
    wait(browser, lambda d: "Added" in d.find_element(By.ID, "upload-status").text)
    chosen = browser.find_element(By.ID, "voice").get_attribute("value")
    assert (
        chosen.startswith("voice_") and browser.find_element(By.ID, "delete-voice").is_displayed()
    )
    assert (server.data_dir / "voices" / f"{chosen}.wav").is_file()
    again = speak_and_wait(browser)
    assert float(again["seconds"]) > 0.5

    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert resources and all(name.startswith(server.url) for name in resources), resources
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe  # no script error, no blocked (CSP) load
