#!/usr/bin/python3
"""The page of `animeface serve` in headless Chromium (Debian's chromium +
chromium-driver, driven by python3-selenium): load /, upload an image through
the file input, wait for the boxes, check the detection table against the
API's JSON (at the slider's default 0.25 and again after moving it to 0.5),
and save a screenshot.

Usage: serve_page.py BASE_URL IMAGE SCREENSHOT.png
Exit 0: passed; 1: failed (reason on stderr); 77: cannot run here (reason)."""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
import uuid

SKIP = 77


def skip(why):
    print("skip: " + why, file=sys.stderr)
    sys.exit(SKIP)


def fail(why):
    print("FAIL: " + why, file=sys.stderr)
    sys.exit(1)


def api_detect(base, image, conf):
    data = open(image, "rb").read()
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"conf\"\r\n\r\n{conf}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"{os.path.basename(image)}\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(base + "/v1/detect", data=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def table_rows(driver):
    rows = driver.find_elements("css selector", "section.card tr.det")
    out = []
    for tr in rows:
        box = [float(v) for v in tr.get_attribute("data-box").split(",")]
        out.append((box, float(tr.get_attribute("data-conf")), int(tr.get_attribute("data-cls")),
                    [td.text for td in tr.find_elements("css selector", "td")]))
    return out


def check_table(driver, api, conf):
    want = [d for d in api["detections"] if d["conf"] >= conf]
    got = table_rows(driver)
    if len(got) != len(want):
        fail(f"conf {conf}: the table has {len(got)} rows, the API gives {len(want)} detections")
    for (box, c, cls, cells), d in zip(got, want):
        # the page's numbers are the API's JSON numbers, parsed by the browser
        if any(abs(a - b) > 1e-4 for a, b in zip(box, d["box"])) or abs(c - d["conf"]) > 1e-7 \
                or cls != d["cls"]:
            fail(f"conf {conf}: row {cells} differs from the API's {d}")
        shown = [float(v) for v in cells[2:6]]
        if any(abs(a - b) > 0.051 for a, b in zip(shown, d["box"])) or cells[6] != d["name"]:
            fail(f"conf {conf}: shown cells {cells} differ from the API's {d}")
    return len(got)


def main():
    if len(sys.argv) != 4:
        fail(__doc__)
    base, image, shot = sys.argv[1:]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    if not chromium:
        skip("no chromium (Debian package chromium; scripts/install-deps.sh installs it)")
    if not driver_bin:
        skip("no chromedriver (Debian package chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        skip("no selenium for Python (Debian package python3-selenium)")

    profile = tempfile.mkdtemp(prefix="af-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={profile}"]:
        opts.add_argument(a)
    driver = None
    try:
        try:
            driver = webdriver.Chrome(service=Service(driver_bin), options=opts)
        except Exception as e:  # chromium present but cannot start here
            skip(f"chromium does not start: {str(e).splitlines()[0] if str(e) else e!r}")
        driver.set_page_load_timeout(60)
        driver.get(base + "/")
        if driver.title != "animeface":
            fail(f"page title is {driver.title!r}")
        WebDriverWait(driver, 30).until(
            lambda d: "sha256" in d.find_element("id", "model").text)
        driver.find_element("id", "file").send_keys(os.path.abspath(image))
        WebDriverWait(driver, 120).until(
            lambda d: d.find_elements("css selector", "section.card[data-state=done]") or
            d.find_elements("css selector", "section.card[data-state=error]"))
        if driver.find_elements("css selector", "section.card[data-state=error]"):
            fail("the page shows an error: " +
                 driver.find_element("css selector", "section.card .status").text)
        api = api_detect(base, image, 0.01)
        n25 = check_table(driver, api, 0.25)
        if n25 == 0:
            fail("no detections at 0.25 in the table: pick an image with faces")
        # boxes drawn: the canvas has the boxes' colour where the image has none
        drawn = driver.execute_script("""
            const c = document.querySelector('section.card canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4)
              if (d[i] === 0xff && d[i + 1] === 0x38 && d[i + 2] === 0x38) n++;
            return [c.width, c.height, n];""")
        if drawn[0] != api["width"] or drawn[1] != api["height"] or drawn[2] < 100:
            fail(f"canvas {drawn[0]}x{drawn[1]} with {drawn[2]} box pixels "
                 f"(image {api['width']}x{api['height']})")
        # the slider filters in the browser
        driver.execute_script("""
            const s = document.getElementById('conf');
            s.value = '0.5';
            s.dispatchEvent(new Event('input'));""")
        n50 = check_table(driver, api, 0.5)
        driver.execute_script("""
            const s = document.getElementById('conf');
            s.value = '0.25';
            s.dispatchEvent(new Event('input'));""")
        check_table(driver, api, 0.25)
        os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
        driver.save_screenshot(shot)
        print(f"page: {n25} rows at conf 0.25, {n50} at 0.5, equal to the API; screenshot {shot}")
    finally:
        if driver:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
