"""The bilan's documents without servers: every text of the HTML's SVG charts fits in
its viewBox (any label and value length), French number formatting in HTML and CSV,
partners shown by name (their id when no name is known)."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from entraide.v1 import reporting_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel import reference
from services.reporting import render_csv, render_html

SVG_NS = "{http://www.w3.org/2000/svg}"
# Conservative text extent, independent of the renderer: 0.7 em per character is more
# than the average advance of mixed-case French text and digits in Arial (~0.5 em) or
# DejaVu Sans (~0.6 em); ascent and descent of at most 1 em and 0.3 em.
EM_PER_CHAR, ASCENT_EM, DESCENT_EM = 0.7, 1.0, 0.3
LONGEST_COMMUNE = "Saint-Rémy-en-Bouzemont-Saint-Genest-et-Isson"


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def text_boxes(svg: ET.Element) -> list[tuple[int, str, float, float, float, float]]:
    """(text element, line, left, top, right, bottom) of every line of text, estimated."""
    boxes = []
    for index, text in enumerate(svg.iter(f"{SVG_NS}text")):
        size = float(text.get("font-size", "16"))
        anchor = text.get("text-anchor", "start")
        spans = list(text.iter(f"{SVG_NS}tspan"))
        lines = [("".join(t.itertext()), t) for t in spans] or [(text.text or "", text)]
        for content, line in lines:
            x, y = float(line.get("x", text.get("x", "0"))), float(line.get("y", text.get("y", "0")))
            width = len(content) * EM_PER_CHAR * size
            left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
            boxes.append((index, content, left, y - ASCENT_EM * size, left + width, y + DESCENT_EM * size))
    return boxes


def assert_svg_text_fits(html: str) -> int:
    """Every line of text of every SVG lies inside its viewBox, and texts do not overlap
    each other; returns how many charts were checked."""
    charts = svgs(html)
    for svg in charts:
        x0, y0, width, height = (float(v) for v in svg.get("viewBox", "").split())
        assert (float(svg.get("width", "0")), float(svg.get("height", "0"))) == (width, height)
        boxes = text_boxes(svg)
        for _, content, left, top, right, bottom in boxes:
            assert content.strip(), "empty line of text"
            assert left >= x0 and right <= x0 + width, (
                f"{content!r} cut: x {left:.1f}..{right:.1f} of {width}"
            )
            assert top >= y0 and bottom <= y0 + height, (
                f"{content!r} cut: y {top:.1f}..{bottom:.1f} of {height}"
            )
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                if a[0] != b[0]:  # lines of one label are stacked closer than 1.3 em
                    overlap = min(a[4], b[4]) > max(a[2], b[2]) and min(a[5], b[5]) > max(a[3], b[3])
                    assert not overlap, f"{a[1]!r} overlaps {b[1]!r}"
    return len(charts)


def chart_labels(svg: ET.Element) -> list[str]:
    """The bars' labels as drawn (lines of a wrapped label joined by a space)."""
    return [
        " ".join("".join(t.itertext()) for t in text.iter(f"{SVG_NS}tspan"))
        for text in svg.iter(f"{SVG_NS}text")
        if text.get("text-anchor") == "end"
    ]


def same_characters(drawn: list[str], labels: list[str]) -> bool:
    return ["".join(d.split()) for d in drawn] == ["".join(label.split()) for label in labels]


def stamp(at: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(at)
    return result


def sample_bilan(**overrides: object) -> reporting_pb2.Bilan:
    """A bilan with the reference data's longest labels and large counts."""
    ref = reference.load({})
    motifs = [(code, label) for code, label in ref.motifs.items()]
    bilan = reporting_pb2.Bilan(
        to=stamp(datetime(2026, 1, 1, tzinfo=UTC)),
        territories=["55029"],
        territory_labels=["Bar-le-Duc"],
        people_received=1234567,
        previous_people_received=1000000,
        dossiers_opened=2345678,
        dossiers_solved=454,
        previous_dossiers_solved=500,
        dossiers_closed=900,
        by_motif=[
            reporting_pb2.Share(code=c, label=label, count=2345678 // (i + 1), percent=100.0 / (i + 1))
            for i, (c, label) in enumerate(motifs)
        ],
        by_commune=[
            reporting_pb2.Share(code="99999", label=LONGEST_COMMUNE, count=999999, percent=47.4),
            reporting_pb2.Share(code="55029", label="Bar-le-Duc", count=0, percent=0.0),
        ],
        by_channel=[
            reporting_pb2.Share(code=c, label=label, count=7, percent=33.3)
            for c, label in ref.arrival_channels.items()
        ],
        by_outcome=[
            reporting_pb2.Share(code=c, label=label, count=1, percent=100.0)
            for c, label in ref.closure_outcomes.items()
        ],
        stage_durations=[
            reporting_pb2.Duration(
                stage="total", label="Ouverture → clôture", median_s=86400 * 1234.5, dossiers=3
            )
        ],
        partners=[
            reporting_pb2.PartnerFigures(
                partner_id="caf-meuse",
                name="CAF de la Meuse",
                partner_name="CAF de la Meuse",
                referrals=12,
                completed=3,
                median_response_s=1.5 * 86400,
                median_completion_s=10 * 86400,
            ),
            reporting_pb2.PartnerFigures(partner_id="adil-55", name="adil-55", partner_name="", referrals=1),
        ],
    )
    getattr(bilan, "from").CopyFrom(stamp(datetime(2025, 1, 1, tzinfo=UTC)))
    for key, value in overrides.items():
        setattr(bilan, key, value)
    return bilan


def test_charts_of_a_bilan_with_long_labels_and_values_fit() -> None:
    bilan = sample_bilan()
    html = render_html.render(bilan).decode("utf-8")
    assert assert_svg_text_fits(html) == 5  # motifs, communes, channels, outcomes, durations
    charts = svgs(html)
    # Long labels are wrapped onto several lines, never shortened.
    shares_of = [bilan.by_motif, bilan.by_commune, bilan.by_channel, bilan.by_outcome]
    for chart, shares in zip(charts[:4], shares_of, strict=True):
        assert same_characters(chart_labels(chart), [s.label for s in shares])
    assert chart_labels(charts[1])[0] == "Saint-Rémy-en-Bouzemont-Saint- Genest-et-Isson"
    assert any(len(list(t.iter(f"{SVG_NS}tspan"))) > 1 for t in charts[2].iter(f"{SVG_NS}text"))


LABEL_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0x24F, categories=["L", "N", "P", "Zs", "Sm"])
LABELS = st.text(LABEL_CHARS | st.sampled_from("’–—…→«»\u00a0\u202f"), min_size=1, max_size=120)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            LABELS.filter(lambda s: s.strip()),
            st.integers(min_value=0, max_value=10**12),
            st.floats(min_value=0, max_value=100),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_bar_chart_text_fits_for_any_label_and_value(rows: list[tuple[str, int, float]]) -> None:
    chart = render_html.bar_chart(
        "Graphique",
        [
            (label, float(count), f"{render_html._number(count)} ({render_html._percent(p)})")
            for label, count, p in rows
        ],
    )
    assert_svg_text_fits(chart)
    assert same_characters(chart_labels(svgs(chart)[0]), [label for label, _, _ in rows])


def test_wrap_keeps_every_character() -> None:
    assert render_html.wrap("Accès aux droits / démarches administratives", 20) == [
        "Accès aux droits /",
        "démarches",
        "administratives",
    ]
    assert render_html.wrap(LONGEST_COMMUNE, 20) == ["Saint-Rémy-en-", "Bouzemont-Saint-", "Genest-et-Isson"]
    assert render_html.wrap("x" * 45, 20) == ["x" * 20, "x" * 20, "x" * 5]


def test_french_number_formatting() -> None:
    html = render_html.render(sample_bilan()).decode("utf-8")
    nnbsp, nbsp = "\u202f", "\u00a0"
    assert f"1{nnbsp}234{nnbsp}567" in html  # people received
    assert f"999{nnbsp}999 (47,4{nbsp}%)" in html  # chart value
    assert f"<td class='n'>47,4{nbsp}%</td>" in html
    assert f"1{nnbsp}234,5{nbsp}j" in html  # median of 1234.5 days
    assert f"+23,5{nbsp}%" in html and f"−9,2{nbsp}%" in html  # evolutions
    assert f"précédente{nbsp}:" in html and f"100{nbsp}% au total" in html
    # No decimal point and no breakable space before a unit anywhere in the text.
    text = re.sub(r"<[^>]+>", " ", html.split("<body>")[1])
    assert not re.search(r"\d\.\d", text) and not re.search(r"\d [%j](?!\w)", text)
    # The document's own sentences keep a no-break space before ":" (labels come from
    # the deployment's reference data as they are).
    assert "Partenaires\u00a0: orientations" in html and "Personnes reçues\u00a0: personnes" in html
    assert render_html._evolution(1000, 1000) == f"0,0{nbsp}%"
    assert render_html._evolution(9999, 10000) == f"0,0{nbsp}%"  # no "−0,0 %"
    rows = list(csv.reader(io.StringIO(render_csv.render(sample_bilan()).decode("utf-8-sig")), delimiter=";"))
    by_key = {(r[0], r[1]): r for r in rows[1:]}
    assert by_key[("Commune", "99999")][3:5] == ["999999", "47,4"]
    assert by_key[("Durée par étape", "total")][6] == "1234,50"
    assert all("." not in cell for row in rows[1:] for cell in row[3:])


def test_partners_by_name_with_the_id_as_fallback() -> None:
    bilan = sample_bilan()
    html = render_html.render(bilan).decode("utf-8")
    assert "<td>CAF de la Meuse</td>" in html and "<td>adil-55</td>" in html
    assert "caf-meuse" not in html
    rows = list(csv.reader(io.StringIO(render_csv.render(bilan).decode("utf-8-sig")), delimiter=";"))
    partners = [r[:3] for r in rows if r[0] == "Partenaire : orientations"]
    assert partners == [
        ["Partenaire : orientations", "caf-meuse", "CAF de la Meuse"],
        ["Partenaire : orientations", "adil-55", "adil-55"],
    ]
    # A partner without completion has no completion delay (not "0,0 j").
    completion = {r[1]: r[6] for r in rows if r[0] == "Partenaire : délai de réalisation"}
    assert completion == {"caf-meuse": "10,00", "adil-55": ""}
    assert html.count("<td class='n'>—</td>") >= 1
    # A bilan message from before partner_name existed: `name` is used.
    old = reporting_pb2.Bilan(partners=[reporting_pb2.PartnerFigures(partner_id="x-1", name="Ancien nom")])
    getattr(old, "from").CopyFrom(stamp(datetime(2025, 1, 1, tzinfo=UTC)))
    old.to.CopyFrom(stamp(datetime(2026, 1, 1, tzinfo=UTC)))
    assert "<td>Ancien nom</td>" in render_html.render(old).decode("utf-8")
