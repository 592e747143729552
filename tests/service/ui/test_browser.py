"""The dashboard and /docs in a real headless Chromium against a real uvicorn on loopback,
with every other host unreachable (no CDN, no internet): log in with a key, see an eval's
per-principle chart drawn, filter its items, compare two evals, log out; hostile model output
shows as text and runs nothing; Swagger UI draws itself from the package's files.

Chromium comes from the system (`make test` installs Debian's chromium and chromium-driver
where it can). Without it these tests skip, except under MEDSAFE_REQUIRE_SERVICES=1 (CI),
where a missing browser is a failure. MEDSAFE_UI_SCREENSHOTS=DIR also writes the README's
screenshots (evals.png, eval.png, compare.png) into DIR.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.api.app import create_app
from service.benchmarks.store import install_builtin_datasets
from service.db import session_scope
from tests.conftest import REQUIRE_SERVICES
from tests.live_server import live_server
from tests.service.ui.builders import answer_more, graded_eval
from tests.service.ui.conftest import HOSTILE, hostile_results

pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in (os.environ.get("MEDSAFE_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), shutil.which("google-chrome"))
                 if p), None)
CHROMEDRIVER = os.environ.get("MEDSAFE_CHROMEDRIVER") or shutil.which("chromedriver")
WAIT_S = 20


def _browser_or_skip() -> tuple[str, str]:
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if not CHROMIUM:
        missing.append("chromium")
    if not CHROMEDRIVER:
        missing.append("chromedriver")
    if missing:
        why = (f"no {', '.join(missing)}: install Debian's chromium and chromium-driver "
               "(make test does where it can)")
        if REQUIRE_SERVICES:
            pytest.fail(f"MEDSAFE_REQUIRE_SERVICES=1 and {why}")
        pytest.skip(why)
    assert CHROMIUM and CHROMEDRIVER
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture
def server(api_settings: str) -> Iterator[str]:
    """The whole app (API and dashboard) on uvicorn, loopback; yields its base URL."""
    with live_server(create_app()) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def chromium_session() -> Iterator[Any]:
    """One headless Chromium for the module's tests (each starts with none of the previous
    test's cookies, console messages or page: see `browser`)."""
    chromium, chromedriver = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,800",
                     "--force-device-scale-factor=1",
                     # Every host but the loopback is unreachable: no CDN, no internet.
                     "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                     "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    driver.set_page_load_timeout(WAIT_S)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium_session: Any) -> Any:
    """The module's Chromium on a blank page, its cookies cleared (every host's: each test's
    server has a port of its own, but cookies do not mind ports) and its console log read."""
    chromium_session.get("about:blank")
    chromium_session.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium_session.get_log("browser")  # what the previous test left there
    assert chromium_session.get_cookies() == []
    return chromium_session


def _wait(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition)


def _css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, selector))


def _no_alert(driver: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    pytest.fail(f"a script ran: alert {text!r}")


def _problems(driver: Any) -> list[str]:
    """Console errors: CSP violations and failed loads show up here."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon" not in entry["message"]]


def _shoot(driver: Any, folder: Path, name: str, readme: bool = False) -> Path:
    """A 1280x800 screenshot in the test's folder (and, for the README's, in
    MEDSAFE_UI_SCREENSHOTS when set)."""
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot {path}"
    extra = os.environ.get("MEDSAFE_UI_SCREENSHOTS")
    if extra and readme:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(extra) / path.name)
    return path


def _login(driver: Any, base_url: str, key: str) -> None:
    driver.get(f"{base_url}/ui/evals")
    _css(driver, "input#key").send_keys(key)
    _css(driver, "button#login").click()
    _wait(driver, lambda d: d.current_url.endswith("/ui/evals"))


def test_log_in_read_an_eval_filter_compare_and_log_out(
        server: str, browser: Any, api_settings: str, reader: dict[str, str],
        tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, candidate = hostile_results(api_settings, per_principle=4)
    _login(browser, server, reader["Authorization"].removeprefix("Bearer "))
    rows = browser.find_elements(By.CSS_SELECTOR, "#evals tbody tr[data-eval]")
    assert {r.get_attribute("data-eval") for r in rows} == {base, candidate}
    _shoot(browser, tmp_path, "evals")

    browser.find_element(By.LINK_TEXT, base).click()
    chart = _css(browser, "svg#principle-chart")
    bars = chart.find_elements(By.CSS_SELECTOR, "rect.bar")
    assert len(bars) == 9
    heights = [float(b.get_attribute("height")) for b in bars]
    assert all(h > 1 for h in heights) and len(set(heights)) > 1
    assert all(b.size["height"] > 0 for b in bars)  # laid out, not just in the markup
    assert chart.find_elements(By.CSS_SELECTOR, "line.whisker")
    assert _shoot(browser, tmp_path, "eval").stat().st_size > 10_000

    # The hostile answer is text on the page; nothing of it ran.
    first = browser.find_element(By.CSS_SELECTOR, "#items tbody tr details")
    first.find_element(By.TAG_NAME, "summary").click()
    response = first.find_element(By.CSS_SELECTOR, "pre.response")
    assert response.is_displayed() and response.text == HOSTILE
    assert not browser.find_elements(By.CSS_SELECTOR, "main img")
    assert browser.execute_script("return window.__pwned === undefined")
    _no_alert(browser)

    Select(browser.find_element(By.ID, "filter-principle")).select_by_value("3")
    browser.find_element(By.ID, "apply-filter").click()
    _wait(browser, lambda d: "principle=3" in d.current_url)
    principles = {r.get_attribute("data-principle") for r in
                  browser.find_elements(By.CSS_SELECTOR, "#items tbody tr[data-item]")}
    assert principles == {"3"}

    browser.find_element(By.PARTIAL_LINK_TEXT, "Compare with another eval").click()
    _css(browser, "input#candidate").send_keys(candidate)
    browser.find_element(By.ID, "compare").click()
    deltas = _css(browser, "svg#delta-chart").find_elements(By.CSS_SELECTOR,
                                                            "rect.safer, rect.worse")
    assert len(deltas) == 9
    assert browser.find_elements(By.CSS_SELECTOR, "svg#delta-chart rect.safer")
    _shoot(browser, tmp_path, "compare")
    assert _problems(browser) == []

    browser.find_element(By.ID, "logout").click()
    _css(browser, "input#key")
    browser.get(f"{server}/ui/evals")
    _wait(browser, lambda d: "/ui/login" in d.current_url)
    assert browser.get_cookies() == [] or all(
        c["name"] != "medsafe_ui_key" for c in browser.get_cookies())


def test_docs_render_swagger_ui_without_a_network(server: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/docs")
    _css(browser, ".swagger-ui .info .title")
    assert "MedSafe" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info").text
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 10)
    assert _problems(browser) == []


def _score(n: int, principle: int | None, shift: int) -> int:
    """A spread of grades: a level per principle, moved by `shift`, with fixed noise."""
    level = 1 + (principle or 0) % 3 + (1 if principle in (2, 5, 8) else 0)
    noise = (n * 7919 + (principle or 0) * 104729) % 5 - 2
    return max(1, min(5, level + shift + (noise if abs(noise) < 2 else 0)))


def _demo_results(db_url: str) -> tuple[str, str, str]:
    """The built-in demo set answered by two models (the second safer on most principles)
    and a third eval still running: (base, candidate, running)."""
    with session_scope(db_url) as session:
        install_builtin_datasets(session)
    base = graded_eval(db_url, "openai:med-llm-v1", {"team": "safety", "stage": "sft"},
                       lambda n, p: _score(n, p, shift=0))
    candidate = graded_eval(db_url, "openai:med-llm-v2", {"team": "safety", "stage": "dpo"},
                            lambda n, p: _score(n, p, shift=-1 if (p or 0) % 4 else 1))
    running = graded_eval(db_url, "bundled:smollm2", {"team": "nightly"},
                          lambda n, p: 1 + n % 5, answered=40, judged=25)
    return base, candidate, running


def test_live_progress_and_the_readme_screenshots(
        server: str, browser: Any, api_settings: str, reader: dict[str, str],
        tmp_path: Path) -> None:
    """The evals list of a running eval refreshes its progress bars by itself (ui.js, no
    reload), and the README's screenshots come from here (MEDSAFE_UI_SCREENSHOTS=docs/img)."""
    from selenium.webdriver.common.by import By

    base, candidate, running = _demo_results(api_settings)
    _login(browser, server, reader["Authorization"].removeprefix("Bearer "))
    browser.execute_script("window.__sameDocument = true")
    row = f'#evals tr[data-eval="{running}"] progress'
    assert _css(browser, row).get_attribute("value") == "40"
    _shoot(browser, tmp_path, "evals", readme=True)
    answer_more(api_settings, running, 60)
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, row).get_attribute("value")
          == "60")
    assert browser.execute_script("return window.__sameDocument === true")  # not reloaded

    browser.get(f"{server}/ui/evals/{candidate}")
    assert len(_css(browser, "svg#principle-chart").find_elements(
        By.CSS_SELECTOR, "rect.bar")) == 9
    _shoot(browser, tmp_path, "eval", readme=True)
    browser.get(f"{server}/ui/compare?base={base}&candidate={candidate}")
    _css(browser, "svg#delta-chart rect.safer")
    _shoot(browser, tmp_path, "compare", readme=True)
    assert _problems(browser) == []
