"""The HTML report in a real browser: headless Chromium loads the page, says how many of its images
it decoded and how many tables it laid out, and takes a screenshot (``make report-check``).

Run as ``python -m aaekit.report.browser results/report/index.html [screenshot.png]``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from aaekit.data import DataError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _run(browser: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--virtual-time-budget=10000", *args], capture_output=True, text=True, timeout=timeout)


def check_page(page: str | Path, screenshot: str | Path | None = None, browser: str | None = None) -> dict:
    """Load ``page`` in headless Chromium: its tables, its images and how many loaded (after the
    page's load event), and with ``screenshot`` a PNG of its first 1400 x 3000 pixels."""
    browser = browser or find_browser()
    if browser is None:
        raise DataError("no Chromium found (apt-get install chromium); the report check needs a real browser")
    url = Path(page).resolve().as_uri()
    dom = _run(browser, "--dump-dom", url)
    if dom.returncode != 0:
        raise DataError(f"{browser} could not load {page}: {dom.stderr.strip().splitlines()[-1:]}")
    body = re.search(r"<body([^>]*)>", dom.stdout)
    attrs = dict(re.findall(r'data-images-(\w+)="(\d+)"', body.group(1) if body else ""))
    out = {"tables": dom.stdout.count("<table"), "images": int(attrs.get("total", -1)),
           "images_loaded": int(attrs.get("loaded", -1))}
    if screenshot is not None:
        shot = _run(browser, f"--screenshot={Path(screenshot).resolve()}", "--window-size=1400,3000", url)
        if shot.returncode != 0 or not Path(screenshot).is_file():
            raise DataError(f"{browser} took no screenshot of {page}")
        out["screenshot"] = str(screenshot)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m aaekit.report.browser PAGE.html [SCREENSHOT.png]", file=sys.stderr)
        return 2
    result = check_page(args[0], args[1] if len(args) > 1 else None)
    print(f"{args[0]}: {result['tables']} tables, {result['images_loaded']} of {result['images']} images loaded"
          + (f"; screenshot {result['screenshot']}" if "screenshot" in result else ""))
    ok = result["tables"] > 0 and result["images"] >= 0 and result["images_loaded"] == result["images"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
