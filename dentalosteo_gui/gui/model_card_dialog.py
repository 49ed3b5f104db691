"""The model card as a readable page: what the model is for, what it was trained on, its
figures with the data they were measured on, its operating points and limitations. The card
itself (JSON) is behind "Show JSON"."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from PySide6 import QtWidgets

from ..core.cards import operating_point, operating_point_label, trained_on_phantoms
from ..core.fusion import FUSION_KEY, RiskFusion
from . import theme
from .wording import score_noun

# held-out figures shown, in this order: key -> (label, as percent)
_FIGURES: list[tuple[str, str, bool]] = [
    ("auc", "AUC (area under the ROC curve)", False),
    ("sensitivity", "Sensitivity", True),
    ("specificity", "Specificity", True),
    ("accuracy", "Accuracy", True),
    ("average_precision", "Average precision", False),
    ("brier", "Brier score (lower is better)", False),
    ("ece", "Calibration error (ECE, lower is better)", False),
]


def _p(text: str, colour: str = "") -> str:
    style = f" style='color:{colour}'" if colour else ""
    return f"<p{style}>{text}</p>"


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><td style='color:{theme.MUTED};padding-right:14px;vertical-align:top'>{escape(k)}</td>"
                    f"<td>{v}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _num(v: Any, percent: bool = False) -> str:
    if not isinstance(v, (int, float)):
        return "–"
    return f"{float(v) * 100:.0f}%" if percent else f"{float(v):.3f}"


def _text(v: Any) -> str:
    if isinstance(v, dict):
        return escape(str(v.get("description") or v.get("data") or v.get("verdict") or ""))
    return escape(str(v or ""))


def training_html(card: dict[str, Any]) -> str:
    td = card.get("training_data")
    src = "synthetic phantoms (not patients)" if trained_on_phantoms(card) else \
        escape(str((td or {}).get("source", "not stated") if isinstance(td, dict) else "not stated"))
    rows = [("What", _text(td) or "not stated"), ("Source", src)]
    if isinstance(td, dict) and td.get("n") is not None:
        rows.append(("Images", escape(str(td["n"]))))
    return "<h3>Training data</h3>" + _table(rows)


def figures_html(card: dict[str, Any]) -> str:
    """The held-out figures and the data they were measured on."""
    held = (card.get("metrics") or {}).get("held_out")
    if not isinstance(held, dict):
        return "<h3>Performance</h3>" + _p("No held-out figures in this card.", theme.WARN)
    what = "phantoms" if trained_on_phantoms(card) else "images"
    n, pos = held.get("n"), held.get("n_osteoporosis")
    data = f"held-out test set of {n} {what}" + (f" ({pos} with osteoporosis)" if pos is not None else "")
    data += ", not used for training or for choosing thresholds"
    rows = []
    for key, label, pct in _FIGURES:
        if key in held:
            value = _num(held[key], pct)
            ci = held.get(f"{key}_ci95")
            if isinstance(ci, (list, tuple)) and len(ci) == 2:
                value += f" (95% CI {_num(ci[0], pct)}–{_num(ci[1], pct)})"
            rows.append((label, value))
    return "<h3>Performance</h3>" + _p(f"Measured on: <b>{escape(data)}</b>.") + _table(rows)


def operating_points_html(card: dict[str, Any], title: str = "Operating points") -> str:
    names = [k for k in (card.get("operating_points") or {}) if k != "bands"]
    if not names:
        return ""
    head = "<tr>" + "".join(f"<th style='text-align:left;padding-right:12px'>{h}</th>" for h in (
        "Operating point", "Threshold", "Sensitivity", "Specificity", "Measured on")) + "</tr>"
    body = ""
    for name in names:
        op = operating_point(card, name)
        cells = (escape(operating_point_label(name)), _num(op.get("threshold")),
                 _num(op.get("sensitivity"), True), _num(op.get("specificity"), True),
                 escape(str(op.get("measured_on") or "validation split")))
        body += "<tr>" + "".join(f"<td style='padding-right:12px'>{c}</td>" for c in cells) + "</tr>"
    return f"<h3>{escape(title)}</h3>" + f"<table>{head}{body}</table>"


def fusion_html(card: dict[str, Any]) -> str:
    """How the score shown is made from the image model's (the card's ``risk_fusion``)."""
    fusion = RiskFusion.from_card(card)
    if fusion is None:
        return ""
    sec = card[FUSION_KEY]
    lo, hi = fusion.mcw_range_mm
    text = _p("The score shown combines the image model's score with the measured cortical width (MCW, "
              "the dentist's where measured): a logistic fit on the validation "
              f"{'phantoms' if trained_on_phantoms(card) else 'images'}, with weights "
              f"{fusion.intercept:+.2f} (intercept), {fusion.w_image_logit:+.2f} per unit of the image "
              f"model's log-odds and {fusion.w_mcw_mm:+.2f} per mm of MCW (fitted on {lo:.1f}-{hi:.1f} mm). "
              "Without a measured width the image model's score stands alone, with the operating points "
              "above.")
    ho = sec.get("held_out") if isinstance(sec.get("held_out"), dict) else {}
    rows = [(label, _num(ho[key])) for key, label in (
        ("auc", "AUC of the score shown"), ("auc_image_model", "AUC of the image model alone"),
        ("auc_measured_mcw_rule", "AUC of the measured width alone")) if ho.get(key) is not None]
    if rows:
        text += _p(f"On the held-out test set ({ho.get('n')} cases):") + _table(rows)
    return ("<h3>How the score is made</h3>" + text
            + operating_points_html(fusion.card_view(card), "Operating points of the combined score"))


def real_html(real: Any) -> str:
    """What was seen on unlabelled real radiographs: the data, then the findings."""
    if not isinstance(real, dict):
        return _p(escape(str(real)))
    rows = []
    spread = real.get("risk_min_median_max")
    if isinstance(spread, (list, tuple)) and len(spread) == 3:
        rows.append(("Scores (min / median / max)", " / ".join(_num(v) for v in spread)))
    rho = real.get("spearman_risk_vs_rule_mean_mcw")
    if isinstance(rho, (int, float)):
        follows = "follows" if rho < 0 else "does not follow"
        rows.append(("Score vs. cortical width", f"Spearman {rho:+.2f}: the score {follows} the measured "
                                                 "cortex (thinner cortex, higher score)"))
    own = real.get("spearman_image_model_risk_vs_rule_mean_mcw")
    if isinstance(own, (int, float)) and isinstance(rho, (int, float)) and own != rho:
        rows.append(("Image model alone vs. width", f"Spearman {own:+.2f} (the score shown includes the "
                                                     "measured width)"))
    text = _p(escape(str(real.get("data") or real.get("verdict") or "")))
    if real.get("data") and real.get("verdict"):
        text += _p(escape(str(real["verdict"])))
    return text + (_table(rows) if rows else "")


def card_html(card: dict[str, Any]) -> str:
    """The readable page: title, statement, intended use, training data, figures with their
    data, operating points, the score's meaning, real-image behaviour, limitations."""
    name = escape(str(card.get("name", "model")))
    version = escape(str(card.get("version", "")))
    parts = [f"<h2>{name} <span style='color:{theme.MUTED}'>{version}</span></h2>"]
    if card.get("statement"):
        parts.append(_p(f"<b>{escape(str(card['statement']))}</b>", theme.WARN))
    if card.get("intended_use"):
        parts.append("<h3>Intended use</h3>" + _p(escape(str(card["intended_use"]))))
    parts += [training_html(card), figures_html(card), operating_points_html(card), fusion_html(card)]
    parts.append("<h3>What the score means</h3>" + _p(f"The app shows a {escape(score_noun(card))}."))
    real = card.get("behaviour_on_unlabelled_real_radiographs")
    if real:
        parts.append("<h3>On real radiographs (no diagnosis known)</h3>" + real_html(real))
    lims = card.get("limitations")
    if lims:
        items = lims if isinstance(lims, list) else [lims]
        parts.append("<h3>Limitations</h3><ul>" + "".join(f"<li>{escape(str(x))}</li>" for x in items) + "</ul>")
    sha = escape(str(card.get("sha256") or card.get("weights_sha256") or ""))
    if sha:
        parts.append(_p(f"Weights sha256 {sha}", theme.MUTED))
    return "".join(parts)


class ModelCardDialog(QtWidgets.QDialog):
    """The readable card, with the card's JSON behind "Show JSON"."""

    def __init__(self, card: dict[str, Any], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model card: {card.get('name', 'model')} {card.get('version', '')}".strip())
        self.resize(700, 680)
        lay = QtWidgets.QVBoxLayout(self)
        self.browser = QtWidgets.QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(card_html(card))
        lay.addWidget(self.browser, 1)
        self.json_view = QtWidgets.QPlainTextEdit(json.dumps(card, indent=2, default=str))
        self.json_view.setReadOnly(True)
        self.json_view.hide()
        lay.addWidget(self.json_view, 1)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        self.json_button = buttons.addButton("Show JSON", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.json_button.setCheckable(True)
        self.json_button.toggled.connect(self._toggle_json)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _toggle_json(self, on: bool) -> None:
        self.json_view.setVisible(on)
        self.browser.setVisible(not on)
        self.json_button.setText("Show the card" if on else "Show JSON")
