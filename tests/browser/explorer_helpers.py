"""Locators for the Explorer widget in JupyterLab."""


def canvas(page, css):
    """The <canvas> inside the Explorer canvas widget carrying class ``nbinterp-<css>``."""
    locator = page.locator(f".nbinterp-{css} canvas.nbinterp-canvas").first
    locator.wait_for(state="attached", timeout=60_000)
    return locator


def status_text(page):
    return page.locator(".nbinterp-status").first.text_content() or ""


def wait_status_settled(page, timeout=60_000):
    """Wait until the status line reports a finished update (or an error)."""
    page.wait_for_function(
        """() => {
            const s = document.querySelector('.nbinterp-status');
            return s && (s.textContent.includes('updated in') || s.textContent.includes('⚠'));
        }""",
        timeout=timeout,
    )


def click_tab(page, title):
    page.locator(".nbinterp-explorer .lm-TabBar-tab", has_text=title).first.click()
