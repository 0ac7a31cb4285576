"""The outcome report in a real headless chromium: the written page renders offline, every
chart image has decoded, and nothing is fetched from anywhere. The page is saved as
``var/test-artifacts/simulation-report.png``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.simulation.report import write_report
from tests.simulation.test_report import sample_outcome

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACT = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "simulation-report.png"
# Quiet and offline: the page needs no network, and the browser should not go looking for one.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install chromium); .ci/run installs it when it runs as root"),
]


async def test_the_written_report_renders_with_its_charts_in_chromium(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    _json_path, html_path = write_report(sample_outcome(deliveries=2000, communities=48), tmp_path)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            fetched: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda request: fetched.append(request.url))
            await page.goto(html_path.as_uri())
            await expect(page).to_have_title("Lifeline outcome — lockdown-day")
            await expect(page.locator("h1")).to_contain_text("lockdown-day")
            await expect(page.locator("table.headline tbody tr")).not_to_have_count(0)
            await expect(page.locator("table.headline")).to_contain_text("✗ missed")

            images = page.locator("figure img")
            await expect(images).to_have_count(4)
            for index in range(4):
                image = images.nth(index)
                await image.scroll_into_view_if_needed()
                assert await image.evaluate("img => img.complete && img.naturalWidth > 0"), index
                box = await image.bounding_box()
                assert box is not None and box["width"] > 600, box  # drawn at a readable size

            assert errors == [], errors
            # Only the page itself and its data: URLs; no external fetch of any kind.
            assert [u for u in fetched if not u.startswith(("file:", "data:"))] == []

            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACT), full_page=True)
        finally:
            await browser.close()
