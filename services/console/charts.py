"""The console's bar charts: the reporting service's own renderer
(services.reporting.render_html.bar_chart, a pure function), labelled for a page.

The exported document names its charts with aria-label; on a console page each chart
is an `<svg role="img" aria-labelledby=…>` whose <title> has an id, so the heading of
the chart and what a screen reader announces are one text. Only attributes are added
(by parsing the SVG, never by editing its text): the drawing, the layout of long labels
and the figures are the reporting service's. The SVG carries no style attribute
(presentation attributes only), as the console's CSP requires.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from markupsafe import Markup

from services.reporting.render_html import bar_chart

SVG_NS = "http://www.w3.org/2000/svg"
ET.register_namespace("", SVG_NS)
_ID = re.compile(r"^[a-z][a-z0-9-]*$")

# (label, value drawn, value written next to the bar)
Bar = tuple[str, float, str]


def labelled_bar_chart(chart_id: str, title: str, bars: Sequence[Bar]) -> Markup:
    """The chart as inline SVG for a page: role img, labelled by its <title> (id
    `<chart_id>-titre`); empty when there is nothing to draw."""
    if not _ID.match(chart_id):
        raise ValueError(f"not a chart id: {chart_id!r}")
    drawn = bar_chart(title, bars)
    if not drawn:
        return Markup("")
    svg = ET.fromstring(drawn)
    title_element = svg.find(f"{{{SVG_NS}}}title")
    if title_element is None:  # bar_chart always writes one
        raise ValueError("the chart has no title")
    title_id = f"{chart_id}-titre"
    title_element.set("id", title_id)
    svg.attrib.pop("aria-label", None)
    svg.set("id", chart_id)
    svg.set("role", "img")
    svg.set("aria-labelledby", title_id)
    # ElementTree escapes text and attributes: the labels stay text, never markup.
    return Markup(ET.tostring(svg, encoding="unicode"))
