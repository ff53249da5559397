"""The web page in a real headless browser (Chromium through Selenium): upload a file, read the result from the
page. Skipped with a message where Selenium (a dev tool, not a dependency) or Chromium is missing."""
import os
import shutil

import pytest
import soundfile as sf
from _serve_util import noise, random_rawnet2, running

from spoofbench.deploy.serve import KeyStore, ServeSettings, create_app, load_model
from spoofbench.protocols import load_trials

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
selenium = pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no chromium and chromedriver on this machine")]


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,1100"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def upload_and_read(url: str, key: str, path, screenshot=None) -> dict:
    """Type the key, upload ``path``, wait for the result; the fields as the page shows them."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    try:
        driver.get(url + "/")
        field = driver.find_element(By.ID, "key")
        field.send_keys(key)
        driver.execute_script("arguments[0].dispatchEvent(new Event('change'))", field)
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
        driver.find_element(By.ID, "file").send_keys(os.fspath(path))
        driver.find_element(By.ID, "send").click()
        WebDriverWait(driver, 60).until(ec.visibility_of_element_located((By.ID, "decision")))
        shown = {name: driver.find_element(By.ID, name).text
                 for name in ("decision", "score", "llr", "flags", "modelname", "error")}
        if screenshot:
            driver.save_screenshot(os.fspath(screenshot))
        return shown
    finally:
        driver.quit()


def test_upload_in_a_headless_browser_shows_the_score_and_decision(corpus, tmp_path):
    model = random_rawnet2(tmp_path / "m.det", load_trials(corpus, split="dev"))
    store = KeyStore([], str(tmp_path / "keys.json"))
    key = store.add("web")
    sf.write(tmp_path / "call.wav", noise(3.0, 8000, seed=3), 8000, subtype="PCM_16")
    with running(create_app([load_model("demo", model)], ServeSettings(), store)) as url:
        shown = upload_and_read(url, key, tmp_path / "call.wav", tmp_path / "page.png")
        import httpx

        api = httpx.post(f"{url}/v1/score", files={"file": ("call.wav", (tmp_path / "call.wav").read_bytes())},
                         headers={"Authorization": f"Bearer {key}"}).json()
    assert shown["error"] == ""
    assert shown["decision"] == api["decision"]
    assert float(shown["score"]) == pytest.approx(api["score"], abs=1e-4 + 1e-5 * abs(api["score"]))
    assert shown["flags"] == "resampled"
    assert shown["modelname"].startswith("demo (rawnet2, version ")
    assert (tmp_path / "page.png").stat().st_size > 10_000
