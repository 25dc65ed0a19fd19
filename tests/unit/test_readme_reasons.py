"""The README names every reason a transition can carry (logs, events, VRRP_REASON)."""

from __future__ import annotations

from pathlib import Path

from vrrpd.fsm import Reason

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_transition_reason_is_in_the_events_paragraph() -> None:
    start = README.index("`vrrpctl events` follows an ordered stream")
    paragraph = README[start : README.index("\n\n", start)]
    missing = [r.value for r in Reason if f"`{r.value}`" not in paragraph]
    assert missing == [], f"README's events paragraph lacks {missing}"
