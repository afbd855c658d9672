"""The pages people fill in, as a browser lays them out: every checkbox beside its own label
(the hubs' group filters, the ML Apps a dataset serves), the error page in the app's layout.
Each page is saved as a screenshot for a person to look at (tests/browser/conftest.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot

pytestmark = [pytest.mark.browser]

ML_APPS = (
    "Sentiment Analysis",
    "Document Classification",
    "Named Entity Recognition",
    "Speech Recognition",
)


WORDS_BOX = """label => {
    const walker = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    let first = null, last = null;
    while (walker.nextNode()) {
        if (!walker.currentNode.textContent.trim()) continue;
        first = first || walker.currentNode;
        last = walker.currentNode;
    }
    range.setStartBefore(first);
    range.setEndAfter(last);
    const r = range.getBoundingClientRect();
    return {x: r.x, y: r.y, width: r.width, height: r.height, text: range.toString().trim()};
}"""


def assert_box_beside_its_label(box, text: str) -> None:
    """A checkbox of its natural size, on its label's line, just before the label's words."""
    label = box.locator("xpath=ancestor::label[1]")
    b, w = box.bounding_box(), label.evaluate(WORDS_BOX)
    assert b and w["text"] == text, (text, w)
    assert b["width"] < 30 and b["height"] < 30, (text, b)  # not a text input's width
    middle = b["y"] + b["height"] / 2
    assert w["y"] <= middle <= w["y"] + w["height"], (text, b, w)  # same line
    assert 0 <= w["x"] - (b["x"] + b["width"]) <= 16, (text, b, w)  # right before the words


def test_hubs_and_add_forms_put_each_box_beside_its_label(catalog, logged_in_page, live_server):
    page = logged_in_page
    page.get_by_role("link", name="Model Hub").click()
    expect(page.get_by_test_id("hub-list")).to_contain_text("vader-sentiment")
    for text in ("My models", "Platform", "Organization"):
        assert_box_beside_its_label(page.get_by_label(text, exact=True), text)
    shot(page, "model-hub")

    page.get_by_role("link", name="Dataset Hub").click()
    expect(page.get_by_test_id("hub-list")).to_contain_text("finance_sentiment")
    for text in ("My datasets", "Platform", "Organization"):
        assert_box_beside_its_label(page.get_by_label(text, exact=True), text)
    shot(page, "dataset-hub")

    page.get_by_test_id("add-dataset").click()
    expect(page.get_by_role("heading", name="Add a dataset")).to_be_visible()
    group = page.get_by_role("group", name="ML Apps it serves")
    expect(group).to_be_visible()
    for name in ML_APPS:
        assert_box_beside_its_label(group.get_by_label(name), name)
    shot(page, "add-dataset-form")

    # Refused: the message sits under the list of boxes, which keeps its layout.
    page.get_by_label("Name", exact=True).fill("nothing chosen")
    page.get_by_role("button", name="Add dataset").click()
    expect(page.locator("#id_ml_apps-error")).to_have_text(
        "Choose at least one ML App the dataset serves."
    )
    assert_box_beside_its_label(group.get_by_label(ML_APPS[0]), ML_APPS[0])
    shot(page, "add-dataset-refused")

    page.get_by_role("link", name="Model Hub").click()
    page.get_by_test_id("add-model").click()
    expect(page.get_by_role("heading", name="Add a model")).to_be_visible()
    expect(page.get_by_label("ML App")).to_be_visible()
    shot(page, "add-model-form")


def test_an_unknown_address_shows_the_apps_404_page(catalog, logged_in_page, live_server):
    page = logged_in_page
    response = page.goto(f"{live_server.url}/jobs/999999/")
    assert response is not None and response.status == 404
    card = page.get_by_test_id("error-page")
    expect(card).to_contain_text("Page not found")
    expect(page.get_by_role("navigation", name="Main menu")).to_contain_text("Dashboard")
    shot(page, "not-found")
    card.get_by_role("link", name="My Projects").click()
    expect(page.get_by_role("heading", name="My Projects")).to_be_visible()


def test_the_500_page_stands_on_its_own(page):
    """Django renders 500.html without a request or static files (the fault may be the
    static manifest itself): the page carries its own styles."""
    from django.template.loader import render_to_string

    page.set_content(render_to_string("500.html"))
    card = page.get_by_test_id("error-page")
    expect(card).to_contain_text("Something went wrong on our side")
    background = card.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background == "rgb(255, 255, 255)"  # the card style, inlined
    assert page.evaluate("document.styleSheets.length") == 1
    shot(page, "server-error")
