"""Open a page in Debian's headless Chromium (through chromedriver) and report what loaded."""

import shutil
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

MEDIA_STATE = """
const done = arguments[arguments.length - 1];
const videos = [...document.querySelectorAll('video')];
Promise.all(videos.map(v => v.readyState >= 1 ? null : new Promise(r => {
  v.addEventListener('loadedmetadata', r, {once: true}); v.addEventListener('error', r, {once: true}); v.load();
}))).then(() => done({
  images: [...document.images].map(i => ({src: i.src.slice(0, 40), width: i.naturalWidth, complete: i.complete})),
  videos: videos.map(v => ({width: v.videoWidth, ready: v.readyState, error: v.error && v.error.code})),
  // In-page links must land on an element of the page; any other link must leave the file system.
  links: [...document.querySelectorAll('a[href]')].map(a => {
    const href = a.getAttribute('href');
    const inPage = href.startsWith('#');
    return {href, works: inPage ? !!document.getElementById(decodeURIComponent(href.slice(1))) : /^https?:/.test(href)};
  }),
}));
"""


def open_page(html_file: Path, screenshot: Path) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,2000", f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_script_timeout(60)
        driver.get(html_file.resolve().as_uri())
        state = driver.execute_async_script(MEDIA_STATE)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
        state["console_errors"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        state["title"] = driver.title
        state["headings"] = [h.text for h in driver.find_elements("css selector", "h2")]
        return state
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
