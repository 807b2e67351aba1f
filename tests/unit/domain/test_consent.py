"""What a consent covers: one consent must hold every category asked."""

from __future__ import annotations

from domain.consent import covers


def test_one_consent_must_hold_every_category_asked() -> None:
    assert covers([["motif", "identite", "contact"]], ["motif", "identite"])
    assert covers([["motif"], ["motif", "identite"]], ["identite", "motif"])
    # Two consents that together hold the categories are not one consent that does.
    assert not covers([["motif", "identite"], ["contact"]], ["identite", "contact"])
    assert not covers([], ["motif"])
    assert covers([["motif"]], [])
