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


def show_tab(page, explorer, title):
    """Click the tab ``title`` of ``explorer`` and wait until it is the current one."""
    click_tab(page, title)
    page.wait_for_function(
        """([root, title]) => {
            const tab = Array.from(root.querySelectorAll('.lm-TabBar-tab'))
                .find((t) => t.textContent.trim() === title);
            return tab && tab.classList.contains('lm-mod-current');
        }""",
        arg=[explorer.element_handle(), title],
    )


TAB_CANVASES = {
    # tab title -> the canvas (nbinterp-<css>) that shows the tab's picture
    "Filters": "filters-grid",
    "Kernel response": "response",
    "Activations": "activation-grid",
    "Saliency": "saliency",
    "Top images": "top-images",
}


def wait_drawn(page, locator, timeout=120_000):
    """Wait until a canvas shows a picture (an empty view is a 1x1 blank)."""
    page.wait_for_function(
        "(el) => el.width > 1 && el.height > 1", arg=locator.element_handle(), timeout=timeout
    )


def readout(explorer, label):
    from helpers import widget_by_label

    return widget_by_label(explorer, label).locator(".widget-readout").first


def wait_readout(page, explorer, label, value, timeout=30_000):
    page.wait_for_function(
        "([el, v]) => el.textContent.trim() === v",
        arg=[readout(explorer, label).element_handle(), str(value)],
        timeout=timeout,
    )


def open_explorer(page, relpath):
    """Open the notebook ``relpath`` in JupyterLab, run all its cells and wait until its
    first Explorer shows with a settled status line. Returns the Explorer locator."""
    from helpers import open_notebook, run_all

    open_notebook(page, relpath)
    run_all(page)
    explorer = page.locator(".nbinterp-explorer").first
    explorer.wait_for(state="visible", timeout=60_000)
    wait_status_settled(page)
    return explorer


def press_channel_right(page, explorer):
    """Focus the Channel slider's handle and press ArrowRight (channel 0 -> 1): the
    enlarged channel, drawn and not blank before, redraws. Returns that canvas."""
    from helpers import canvas_pixels, slider_handle, wait_for_pixels_change, widget_by_label

    channel_view = canvas(page, "activation-channel")
    wait_drawn(page, channel_view)
    before = canvas_pixels(page, channel_view)
    assert before[..., :3].max() > before[..., :3].min(), "the channel view is blank"
    handle = slider_handle(widget_by_label(explorer, "Channel"))
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press("ArrowRight")
    wait_readout(page, explorer, "Channel", 1)
    wait_for_pixels_change(page, channel_view, before)
    return channel_view


def click_channel_tile(page, explorer, channel_view):
    """Click a tile of the activation grid (conv1's 8 maps in 3x3: the last row's first
    is channel 6): Channel reads 6 and the enlarged channel redraws. Returns the grid."""
    from helpers import canvas_pixels, wait_for_pixels_change

    grid = canvas(page, "activation-grid")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    before = canvas_pixels(page, channel_view)
    grid.click(position={"x": box["width"] * 0.17, "y": box["height"] * 0.83})
    wait_readout(page, explorer, "Channel", 6)
    wait_for_pixels_change(page, channel_view, before)
    return grid


def drive_tour_explorer(page, screenshot=None):
    """What a person does with the tour's Explorer, checked at each step, in any
    front end (the page must show the tour after it ran):

    * the Channel slider's handle, focused, moves on ArrowRight and the enlarged
      channel redraws; a click on the slider's track moves it too;
    * clicking an activation tile selects that channel;
    * every tab shows its picture when opened;
    * on the Saliency tab, clicking a class bar makes that class the Target and
      the saliency map redraws.

    Returns the Explorer locator. ``screenshot(path_name)`` (optional) is
    called with a short name after the tabs were visited."""
    from helpers import canvas_pixels, wait_for_pixels_change, widget_by_label

    explorer = page.locator(".nbinterp-explorer").first
    explorer.wait_for(state="visible", timeout=120_000)
    wait_status_settled(page, timeout=120_000)
    for label in ("Layer", "Channel", "Image", "Method"):
        assert widget_by_label(explorer, label).count() == 1, f"no control labelled {label!r}"

    channel_view = press_channel_right(page, explorer)

    # mouse: a click on the slider's track near its right end jumps there (7 of 0..7)
    track = widget_by_label(explorer, "Channel").locator(".noUi-target").first
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    before = canvas_pixels(page, channel_view)
    track.click(position={"x": box["width"] * 0.97, "y": box["height"] / 2})
    wait_readout(page, explorer, "Channel", 7)
    wait_for_pixels_change(page, channel_view, before)

    click_channel_tile(page, explorer, channel_view)

    # every tab
    tabs = explorer.locator(".lm-TabBar-tab")
    titles = [t.strip() for t in tabs.all_text_contents()]
    assert titles == [
        "Filters", "Kernel response", "Activations", "Saliency", "Top images", "Architecture"
    ], titles
    for title in titles:
        show_tab(page, explorer, title)
        if title in TAB_CANVASES:
            view = canvas(page, TAB_CANVASES[title])
            view.wait_for(state="visible", timeout=60_000)
            wait_drawn(page, view)
            pixels = canvas_pixels(page, view)
            assert pixels[..., :3].max() > pixels[..., :3].min(), f"{title}: blank picture"
        else:  # Architecture: the layer table
            table = explorer.locator(".nbinterp-architecture select").first
            table.wait_for(state="visible")
            assert table.locator("option").count() >= 5
        if title == "Saliency":
            _click_a_class_bar(page, explorer)
        if screenshot is not None:
            screenshot(title)

    wait_status_settled(page)
    assert "⚠" not in status_text(page), status_text(page)
    return explorer


# the tour's digit #7 is the one the demo network hesitates on (about 55 % "4",
# 45 % "1"), so its second class bar is tall enough to click
AMBIGUOUS_IMAGE = 7


def _click_a_class_bar(page, explorer):
    """On an ambiguous digit, click the second class bar: that class becomes the
    Target and the saliency map redraws."""
    from helpers import canvas_pixels, wait_for_pixels_change, widget_by_label

    saliency = canvas(page, "saliency")
    before = canvas_pixels(page, saliency)
    widget_by_label(explorer, "Image").locator("select").select_option(index=AMBIGUOUS_IMAGE)
    wait_for_pixels_change(page, saliency, before, timeout=60)

    bars = explorer.locator(".bqplot rect.bar")
    bars.first.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(
        "(root) => root.querySelectorAll('.bqplot rect.bar').length >= 2",
        arg=explorer.element_handle(),
        timeout=60_000,
    )
    target = widget_by_label(explorer, "Target").locator("select")
    assert target.evaluate("(s) => s.selectedIndex") == 0, "Target should start at 'top predicted'"
    wait_drawn(page, saliency)
    wait_status_settled(page)
    before = canvas_pixels(page, saliency)
    # the class axis: its tick labels name the bars, left to right
    axes = explorer.evaluate(
        """(root) => Array.from(root.querySelectorAll('.bqplot .axis')).map(
            (a) => Array.from(a.querySelectorAll('.tick text')).map((t) => t.textContent))"""
    )
    n_bars = bars.count()
    classes = next(ticks for ticks in axes if len(ticks) == n_bars)
    box = bars.nth(1).bounding_box()
    assert box and box["height"] >= 3, f"the second bar is too small to click: {box}"
    bars.nth(1).click()
    page.wait_for_function("(s) => s.selectedIndex !== 0", arg=target.element_handle(), timeout=30_000)
    chosen = target.evaluate("(s) => s.options[s.selectedIndex].text").replace("\xa0", " ")
    assert chosen.split(":")[0] == classes[1].split(":")[0], (chosen, classes)
    wait_for_pixels_change(page, saliency, before, timeout=60)
