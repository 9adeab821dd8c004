"""Every page in a real browser, checked for text contrast (WCAG 2.1 AA: 4.5:1, 3:1 for large
text) and for controls a keyboard can reach (a name, and reachable by Tab)."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in

pytestmark = pytest.mark.e2e

PAGES = (
    ("/dashboard", "#feed"),
    ("/leads", ".lead-row"),
    ("/silent", ".silent-row"),
    ("/inbox", "#thread-total"),
    ("/approvals", "#approve-all, #queue-empty"),
    ("/scoring", "#heat-table"),
    ("/settings", "#scheduler-leader"),
    ("/settings/office", "#office-save"),
    ("/settings/triggers", "#rule-name"),
    ("/settings/lead-handling", "#mode-round-robin"),
    ("/roi", "#fig-revenue"),
    ("/campaigns", ".campaign-row"),
    ("/campaigns/new", "#audience-sample"),
)

# For each visible text node outside SVG (charts draw their own): the text's colour against the
# first opaque background behind it, as WCAG computes relative luminance. Disabled controls
# are exempt (WCAG 1.4.3 excludes inactive components).
CONTRAST = """
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lum = ({r, g, b}) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg && bg.a > 0) { layers.push(bg); if (bg.a >= 1) break; }
    }
    let color = {r: 255, g: 255, b: 255, a: 1};
    for (const layer of layers.reverse()) color = over(layer, color);
    return color;
  };
  const failures = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el || el.closest('svg, [disabled], [aria-disabled="true"], [data-disabled]')) continue;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.visibility === 'hidden' || style.display === 'none' || box.width === 0 || box.height === 0) continue;
    if (parseFloat(style.opacity) === 0 || el.closest('[aria-hidden="true"]')) continue;
    const fg = parse(style.color);
    if (!fg) continue;
    const bg = background(el);
    const shown = over(fg, bg);
    const [hi, lo] = [lum(shown), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && parseInt(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) failures.push(`${text.slice(0, 40)} (${ratio.toFixed(2)})`);
  }
  return failures;
}
"""

# Buttons, links and form fields without a name a screen reader can say.
UNNAMED = r"""
() => [...document.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea, [role=button]')]
  .filter((el) => el.offsetParent !== null && !el.closest('svg'))
  // A drop zone's own file input is hidden and out of the tab order; the zone is the control.
  .filter((el) => !(el.type === 'file' && el.tabIndex === -1))
  // Radix's mirror <input>s behind its radios and checkboxes are aria-hidden and untabbable.
  .filter((el) => !(el.getAttribute('aria-hidden') === 'true' && el.tabIndex === -1))
  .filter((el) => !(el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
    || el.getAttribute('title') || el.textContent.trim() || el.getAttribute('placeholder')
    || (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.closest('label')
    || el.getAttribute('name') && el.getAttribute('type') === 'hidden'))
  .map((el) => el.outerHTML.replace(/<svg[^]*?<\/svg>/g, "<svg/>").slice(0, 300))
"""


@pytest.mark.parametrize(("path", "ready"), PAGES)
def test_contrast_and_names(app: DemoApp, page: Page, path: str, ready: str) -> None:
    sign_in(page, app, app.account("manager"), path=path)
    page.locator(ready).first.wait_for(state="attached")
    page.wait_for_timeout(500)
    low = page.evaluate(CONTRAST)
    assert low == [], f"{path}, text under AA contrast:\n" + "\n".join(low)
    unnamed = page.evaluate(UNNAMED)
    assert unnamed == [], f"{path}, controls without a name:\n" + "\n".join(unnamed)


def test_the_silent_table_works_from_the_keyboard(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("manager"), path="/silent")
    expect(page.locator(".silent-row").first).to_be_visible()
    page.locator("#select-page").focus()
    page.keyboard.press("Space")
    expect(page.locator("#bulk-count")).to_have_text(re.compile(r"^\d+ selected$"))
    page.locator("#bulk-snooze").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#action-scope")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#action-scope")).to_have_count(0)
