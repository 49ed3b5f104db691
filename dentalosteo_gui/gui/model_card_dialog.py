"""The model card dialog: intended use, training data, performance and limitations."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from PySide6 import QtWidgets

from . import theme

# Sections shown first, in this order; anything else in the card follows.
_ORDER = [
    ("intended_use", "Intended use"),
    ("training_data", "Training data"),
    ("limitations", "Limitations"),
    ("performance", "Performance"),
    ("operating_points", "Operating points"),
    ("preprocessing", "Preprocessing"),
    ("architecture", "Architecture"),
]
_SKIP = {"name", "version", "sha256", "files", "weights_sha256"}


def _render(value: Any) -> str:
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return escape(str(value))
    if isinstance(value, list):
        if all(isinstance(v, (str, int, float)) for v in value):
            return "<ul>" + "".join(f"<li>{escape(str(v))}</li>" for v in value) + "</ul>"
        return "<ul>" + "".join(f"<li>{_render(v)}</li>" for v in value) + "</ul>"
    if isinstance(value, dict):
        rows = "".join(
            f"<tr><td style='color:{theme.MUTED};padding-right:10px;vertical-align:top'>"
            f"{escape(str(k)).replace('_', ' ')}</td><td>{_render(v)}</td></tr>"
            for k, v in value.items())
        return f"<table>{rows}</table>"
    return escape(json.dumps(value, default=str))


def card_html(card: dict[str, Any]) -> str:
    """The card as HTML: title, the main sections in a fixed order, then the rest."""
    name = escape(str(card.get("name", "model")))
    version = escape(str(card.get("version", "")))
    sha = escape(str(card.get("sha256") or card.get("weights_sha256") or ""))
    parts = [f"<h2>{name} <span style='color:{theme.MUTED}'>{version}</span></h2>"]
    if sha:
        parts.append(f"<p style='color:{theme.MUTED}'>sha256 {sha}</p>")
    seen = set(_SKIP)
    for key, title in _ORDER:
        if key in card:
            parts.append(f"<h3>{title}</h3>{_render(card[key])}")
            seen.add(key)
    for key, value in card.items():
        if key not in seen:
            parts.append(f"<h3>{escape(key.replace('_', ' ').capitalize())}</h3>{_render(value)}")
    return "".join(parts)


class ModelCardDialog(QtWidgets.QDialog):
    def __init__(self, card: dict[str, Any], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model card")
        self.resize(640, 620)
        lay = QtWidgets.QVBoxLayout(self)
        self.browser = QtWidgets.QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(card_html(card))
        lay.addWidget(self.browser)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
