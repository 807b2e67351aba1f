"""The decision letter to the person, in French: what was decided on their request, the
amount and how it is paid, the reasons, and how to appeal. `compose` is pure (the
letter's text, paragraph by paragraph); `render_pdf` lays it out as PDF with fpdf2 and
the bundled DejaVu Sans font (« € » and every accent render; the font's licence is
beside it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from domain.aides import Decision, DecisionChannel, PayeeKind, PaymentMode
from domain.labels_fr import MONTHS_FR, PAYMENT_MODE_LABELS
from domain.money import format_euros

FONTS = Path(__file__).parent / "fonts"


@dataclass(frozen=True)
class LetterData:
    ccas: str
    commune: str
    day: date
    person: str
    address: str
    aid_type: str
    amount_asked_cents: int
    decision: Decision
    channel: DecisionChannel
    amount_granted_cents: int
    refusal_reason: str
    reasons: str
    mode: PaymentMode | None
    payee_kind: PayeeKind | None
    payee_name: str
    appeal_court: str


def long_date(day: date) -> str:
    first = "1er" if day.day == 1 else str(day.day)
    return f"{first} {MONTHS_FR[day.month - 1]} {day.year}"


def compose(data: LetterData) -> list[str]:
    """The letter's paragraphs, in order (the first ones are the heading)."""
    heading = [data.ccas, f"{data.commune}, le {long_date(data.day)}", data.person]
    if data.address:
        heading.append(data.address)
    decided_by = (
        "la commission permanente du centre communal d'action sociale"
        if data.channel is DecisionChannel.COMMISSION
        else "le président du centre communal d'action sociale, en urgence"
    )
    body = [
        f"Objet : votre demande d'aide « {data.aid_type} »",
        "Madame, Monsieur,",
        f"Vous avez demandé une aide « {data.aid_type} » de {format_euros(data.amount_asked_cents)}."
        f" Votre demande a été examinée par {decided_by}.",
    ]
    if data.decision is Decision.GRANTED:
        paid = f"Une aide de {format_euros(data.amount_granted_cents)} vous est accordée."
        if data.mode is not None:
            how = PAYMENT_MODE_LABELS[data.mode]
            if data.payee_kind is PayeeKind.THIRD_PARTY and data.payee_name:
                paid += f" Elle sera versée directement à {data.payee_name} ({how})."
            else:
                paid += f" Elle vous sera versée par {how}."
        body.append(paid)
    elif data.decision is Decision.POSTPONED:
        body.append("L'examen de votre demande est ajourné : elle sera présentée à une prochaine commission.")
    else:
        body.append("Votre demande est refusée.")
    if data.refusal_reason:
        body.append(f"Motif : {data.refusal_reason}.")
    if data.reasons:
        body.append(f"Motifs de la décision : {data.reasons}")
    # Every administrative decision states how and when it can be appealed.
    body.append(
        "Voies de recours : vous pouvez contester cette décision par un recours gracieux auprès du"
        " président du centre communal d'action sociale dans un délai de deux mois à compter de la"
        f" réception de ce courrier, et par un recours contentieux devant le {data.appeal_court} dans le"
        " même délai. Le tribunal peut être saisi par l'application Télérecours citoyens"
        " (www.telerecours.fr)."
    )
    body.append("Veuillez agréer, Madame, Monsieur, l'expression de nos salutations distinguées.")
    body.append(f"Pour le président du {data.ccas}")
    return heading + body


def render_pdf(paragraphs: list[str], title: str) -> bytes:
    # Imported here: fpdf2 costs intake ≈ 20 MB of RSS, and letters are rare.
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("Entraide")
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_margins(22, 22, 22)
    pdf.add_page()
    heading, body = paragraphs[:3], paragraphs[3:]
    pdf.set_font("DejaVu", "B", 12)
    pdf.multi_cell(0, 7, heading[0], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 11)
    for line in heading[1:]:
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    for paragraph in body:
        bold = paragraph.startswith("Objet :")
        pdf.set_font("DejaVu", "B" if bold else "", 11)
        pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    return bytes(pdf.output())
