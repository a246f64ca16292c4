"""What the capturer does to a loaded page before preserving it, each step capped in time.

Listing pages load prices by script and photos only when scrolled into view. Each behaviour
returns what actually happened, so the metadata can say it honestly ("network idle not reached
within 3 s") instead of claiming a state the page never reached.
"""

from __future__ import annotations

from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

# Steps are one viewport high; the cap keeps an infinite-scroll feed from scrolling forever
# (60 steps of 800 px is 48,000 px, far taller than any listing page).
_AUTOSCROLL_JS = """
async ({pause, maxSteps}) => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const root = document.scrollingElement || document.documentElement;
  let steps = 0;
  while (steps < maxSteps) {
    const before = root.scrollTop;
    window.scrollBy(0, window.innerHeight);
    // Two frames let IntersectionObserver callbacks run and start the lazy image loads; the
    // loads themselves are awaited by the capturer's network-idle wait afterwards.
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    await sleep(pause);
    steps += 1;
    const atBottom = root.scrollTop + window.innerHeight >= root.scrollHeight - 2;
    if (atBottom || root.scrollTop === before) break;
  }
  return {steps, height: root.scrollHeight};
}
"""

# Resolves when every <img> that started loading has finished (or failed), or after `ms`.
_IMAGES_SETTLED_JS = """
async (ms) => {
  const pending = Array.from(document.images).filter((img) => !img.complete);
  const done = Promise.all(pending.map((img) => new Promise((resolve) => {
    img.addEventListener("load", resolve, {once: true});
    img.addEventListener("error", resolve, {once: true});
  })));
  const timer = new Promise((resolve) => setTimeout(() => resolve("timeout"), ms));
  const outcome = await Promise.race([done.then(() => "settled"), timer]);
  return {pending: pending.length, outcome};
}
"""

_FONTS_READY_JS = """
async (ms) => {
  const timer = new Promise((resolve) => setTimeout(() => resolve(false), ms));
  return await Promise.race([document.fonts.ready.then(() => true), timer]);
}
"""


async def wait_for_load(page: Page, timeout_s: float) -> bool:
    """True when the load event fired within the time; False means captured as it stood."""
    try:
        await page.wait_for_load_state("load", timeout=timeout_s * 1000)
    except PlaywrightTimeoutError:
        return False
    return True


async def wait_for_network_idle(page: Page, cap_s: float) -> bool:
    """Pages that poll or stream never go idle; the cap bounds the wait, it is not a failure."""
    try:
        await page.wait_for_load_state("networkidle", timeout=cap_s * 1000)
    except PlaywrightTimeoutError:
        return False
    return True


async def scroll_through(page: Page, *, pause_ms: int = 10, max_steps: int = 60) -> int:
    """Scroll down a viewport at a time so lazy images load; returns the steps taken."""
    result = await page.evaluate(_AUTOSCROLL_JS, {"pause": pause_ms, "maxSteps": max_steps})
    return int(result["steps"])


async def wait_for_images(page: Page, cap_s: float) -> bool:
    result = await page.evaluate(_IMAGES_SETTLED_JS, int(cap_s * 1000))
    return result["outcome"] == "settled"


async def scroll_to_top(page: Page) -> None:
    # One animation frame so sticky headers and scroll handlers react before the screenshot.
    await page.evaluate(
        "() => new Promise((r) => { window.scrollTo(0, 0); requestAnimationFrame(() => r()); })"
    )


async def wait_for_fonts(page: Page, cap_s: float) -> bool:
    return bool(await page.evaluate(_FONTS_READY_JS, int(cap_s * 1000)))
