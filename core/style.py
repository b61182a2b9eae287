"""The style of every page leadscore writes (the model-vs-rules report, the monitoring page): one
colour per group on every chart and table, from the Okabe-Ito palette, which people with any
common colour-vision deficiency tell apart (the model's side blue, the rules' side orange, leads
both would send green, the rest grey), and the style sheet, for the screen and for print (A4, the
answer on the first page)."""

from __future__ import annotations

COLOURS = {"both": "#009E73", "model only": "#0072B2", "rules only": "#E69F00", "neither": "#999999"}
COLOURS |= {"model": COLOURS["model only"], "rules": COLOURS["rules only"]}
LABELS = {
    "both": "Both would send",
    "model only": "Only the model",
    "rules only": "Only the rules",
    "neither": "Neither",
}
FEW = "#9a9a9a"  # too few decided leads to say

STYLE = (
    """
:root { --ink: #222; --muted: #5f6368; --line: #dde1e6; --few: FEW; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
       line-height: 1.5; font-size: 15px; margin: 0; background: #fff; }
main { max-width: 1080px; margin: 0 auto; padding: 1.5em 1.5em 3em; }
h1 { font-size: 28px; line-height: 1.25; margin: 0.2em 0 0.3em; }
h2 { font-size: 21px; margin: 2.2em 0 0.4em; padding-top: 0.8em; border-top: 1px solid var(--line); }
h3 { font-size: 16px; margin: 1.4em 0 0.4em; }
p { margin: 0.5em 0; max-width: 75ch; }
.sub { color: var(--muted); font-size: 0.88em; font-weight: normal; }
.few { color: var(--few); font-style: italic; }
.note { color: var(--muted); font-style: italic; }
.context { color: #333; max-width: none; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin-right: 0.4em;
          vertical-align: -0.05em; }
.warning { background: #fdf3e7; border-left: 4px solid #D55E00; padding: 0.6em 0.9em; margin: 0.8em 0;
           max-width: none; }
.answer { background: #f5f7fa; border-radius: 8px; padding: 1em 1.2em 1.2em; margin: 1em 0; }
.answer p { max-width: none; }
.sentence { font-size: 19px; line-height: 1.45; font-weight: 500; margin-top: 0; }
.qualifier { color: #333; }
.cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; margin-top: 0.9em; }
.card { background: #fff; border-top: 5px solid #999; border-radius: 4px; padding: 0.6em 0.8em 0.7em;
        box-shadow: 0 1px 2px rgba(0, 0, 0, 0.08); }
.card-title { font-size: 13px; font-weight: 600; color: #333; }
.card-value { font-size: 30px; font-weight: 700; line-height: 1.2; margin: 0.15em 0; overflow-wrap: anywhere; }
.card-unit { font-size: 13px; font-weight: 500; color: var(--muted); }
.card-detail { font-size: 12.5px; color: var(--muted); }
.card.few .card-value { color: var(--few); font-size: 22px; font-style: italic; }
.card.model-only { border-top-color: MODEL; }
.card.rules-only { border-top-color: RULES; }
.card.even { border-top-color: #555; }
.card.neither { border-top-color: NEITHER; }
img.chart { display: block; max-width: 100%; height: auto; margin: 1em 0; }
.gt_table td ul { margin: 0; padding-left: 1.1em; }
.gt_table td li { margin: 0.1em 0; }
.gt_table td, .gt_table th { vertical-align: top; }
.gt_sourcenote p { margin: 0; max-width: none; }
.gt_table td ul.reasons { list-style: none; padding-left: 0; }
.reason .mark { font-weight: 600; font-size: 0.85em; white-space: nowrap; margin-right: 0.15em; }
.reason.up .mark { color: MODEL; }
.reason.down .mark { color: #b34700; }
ul.calibration li { margin: 0.2em 0; }
.anchor-link, .jp-InputPrompt, .jp-OutputPrompt { display: none; }
@media (max-width: 820px) { .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
@page { size: A4; margin: 12mm 11mm 14mm; }
@media print {
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  h1 { font-size: 20pt; }
  h2 { font-size: 14pt; break-after: avoid; margin-top: 1.4em; }
  h3 { break-after: avoid; }
  .celltag_new-page { break-before: page; }
  h2 { border-top: none; padding-top: 0; }
  .sentence { font-size: 13pt; }
  .card-value { font-size: 20pt; }
  .cards { grid-template-columns: repeat(4, minmax(0, 1fr)); }
  .answer, .card, img.chart, tr, .warning { break-inside: avoid; }
  #weekly, #weekly table { break-inside: avoid; }  /* the weekly table on one page */
  .gt_table tfoot { display: table-row-group; }  /* notes once, under the table, not on every page */
  .gt_table { font-size: 9pt !important; }
}
""".replace("FEW", FEW)
    .replace("MODEL", COLOURS["model only"])
    .replace("RULES", COLOURS["rules only"])
    .replace("NEITHER", COLOURS["neither"])
)
