"""``OUT/report.html``: one self-contained page a person reads, and the plots as PNGs.

No external URL, font, script or stylesheet: the plots are inline SVG, the table sorts with
a few lines of inline JavaScript, so the file opens offline (and can be mailed as it is).
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any

from crossbound.bench.curves import build_curve, curve_svg
from crossbound.bench.plan import (
    DEFAULT_BUDGETS,
    Plan,
    collaboration_pays,
    describe_reason,
    human_bytes,
    plan,
    plans_by_records,
    recommendation,
)
from crossbound.bench.plots import build_plots, svg
from crossbound.bench.png import write_curve_png, write_png
from crossbound.bench.records import (
    LM_ALONE,
    LM_ALONE_STRATEGY,
    SM_ALONE,
    SM_ALONE_SETTING,
    SM_ALONE_STRATEGY,
)

REPORT_HTML = "report.html"
PLOTS_DIR = "plots"


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def summary_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per cell of the numbers a reader compares first (also the CLI's table).
    Each value is ``(shown, sort key)``; the sort key is a number or None."""
    rows = []
    for cell in results["cells"]:
        record = cell.get("record")
        row: dict[str, Any] = {"cell": (cell["id"], None),
                               "direction": (cell["direction"], None),
                               "status": (cell["status"] + (" (reused)" if cell.get("reused")
                                                            else ""), None)}
        if record is None:
            error = cell.get("error") or {}
            row["error"] = (f"{error.get('type', '')}: {error.get('message', '')}", None)
            rows.append(row)
            continue
        u, p, x, e = (record["utility"], record["privacy"], record["exposure"],
                      record["efficiency"])
        leakage = math.inf if p["data_leakage"] is None else p["data_leakage"]
        row.update({
            "utility": (_num(u["headline"]), u["headline"]),
            "from": (u["headline_key"] or "", None),
            "data leakage": (_num(leakage), leakage),
            "leakage basis": (p["data_leakage_basis"], None),
            "PII crossed": (_num(p["pii_crossed"]), p["pii_crossed"]),
            "MIA AUC": (_num(p["membership_auc_max"]), p["membership_auc_max"]),
            "bytes crossed": (human_bytes(e["bytes_crossed"]), e["bytes_crossed"]),
            "to model party": (human_bytes(e["bytes_to_model_party"]),
                               e["bytes_to_model_party"]),
            "from model party": (human_bytes(x["bytes_from_model_party"] or 0),
                                 x["bytes_from_model_party"]),
            "LM calls": (_num(x["lm_calls"]), x["lm_calls"]),
            "top-1 agree": (_num(x["top1_agreement_with_lm"]), x["top1_agreement_with_lm"]),
            "wall s": (_num(e["wall_seconds"], 1), e["wall_seconds"]),
            "peak MB": (_num(e["peak_memory_mb"], 0), e["peak_memory_mb"]),
        })
        rows.append(row)
    return rows


TABLE_COLUMNS = ("cell", "direction", "status", "utility", "from", "data leakage",
                 "leakage basis", "PII crossed", "MIA AUC", "bytes crossed", "to model party",
                 "from model party", "LM calls", "top-1 agree", "wall s", "peak MB")

NUMERIC_COLUMNS = frozenset(c for c in TABLE_COLUMNS if c not in (
    "cell", "direction", "from", "leakage basis", "status"))

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;
max-width:1280px;color:#222;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px}
.meta{color:#555}.plots{display:flex;flex-wrap:wrap;gap:12px}
svg.plot{background:#fff;border:1px solid #ddd}
svg .frame{fill:none;stroke:#999}svg .grid{stroke:#eee}
svg .title{font-size:14px;font-weight:600;text-anchor:middle}
svg .tick{font-size:10px;text-anchor:middle;fill:#555}svg .tick.y{text-anchor:end}
svg .axis{font-size:11px;text-anchor:middle;fill:#333}
svg .label{font-size:9px;fill:#333}svg .legend{font-size:10px;fill:#333}
svg .front{fill:none;stroke:#444;stroke-dasharray:5 3;stroke-width:1.2}
svg .series{fill:none;stroke-width:1.6}svg .series.reference{stroke-dasharray:6 3}
svg .series.flat{stroke-width:.8;stroke-dasharray:2 3}
table{border-collapse:collapse;font-size:12.5px}
th,td{border-bottom:1px solid #e2e2e2;padding:4px 8px;text-align:right;white-space:nowrap}
th:first-child,td:first-child,td.text,th.text{text-align:left}
th{background:#f4f4f4;cursor:pointer;user-select:none;position:sticky;top:0}
th.sorted-asc::after{content:" ▲"}th.sorted-desc::after{content:" ▼"}
tr.failed td{color:#a33}.answer{background:#f3f8ff;border:1px solid #cfe0f5;padding:10px 14px}
pre{background:#f6f6f6;padding:8px;white-space:pre-wrap;word-break:break-all}
.ok{color:#1d6b2b}.bad{color:#a33}.scroll{overflow-x:auto;max-width:100%}
"""

# Sort on a header click; numbers by data-v (empty last), text by content. On load, sort by
# utility, best first, and mark the table, so a headless browser can tell the script ran.
_SCRIPT = """
(function(){
  var table=document.getElementById('cells');
  var body=table.tBodies[0];
  var heads=table.tHead.rows[0].cells;
  function key(row,i){
    var cell=row.cells[i];
    if(!cell){return null;}
    var v=cell.getAttribute('data-v');
    if(v===null){return cell.textContent.trim()||null;}
    return v===''?null:parseFloat(v);
  }
  function sortBy(i,desc){
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=key(a,i),y=key(b,i);
      if(x===null&&y===null){return 0;} if(x===null){return 1;} if(y===null){return -1;}
      var c=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));
      return desc?-c:c;
    });
    rows.forEach(function(r){body.appendChild(r);});
    for(var j=0;j<heads.length;j++){heads[j].className='';}
    heads[i].className=desc?'sorted-desc':'sorted-asc';
    table.setAttribute('data-sorted',heads[i].getAttribute('data-col')+(desc?'-desc':'-asc'));
  }
  for(var i=0;i<heads.length;i++){
    (function(i){heads[i].addEventListener('click',function(){
      sortBy(i,heads[i].className!=='sorted-desc');});})(i);
  }
  var u=Array.prototype.findIndex.call(heads,function(h){
    return h.getAttribute('data-col')==='utility';});
  if(u>=0){sortBy(u,true);}
})();
"""


def _table(results: dict[str, Any]) -> str:
    head = "".join(f'<th data-col="{escape(c.replace(" ", "-"))}">{escape(c)}</th>'
                   for c in TABLE_COLUMNS)
    body = []
    for row in summary_rows(results):
        failed = "error" in row
        cells = []
        for column in TABLE_COLUMNS:
            shown, sort = row.get(column, ("", None))
            title = ""
            if failed and column == "status":  # the message in full under "Failed cells"
                title = f' title="{escape(row["error"][0])}"'
            if column in NUMERIC_COLUMNS:  # empty data-v: no value, sorted last
                value = ("" if sort is None else
                         "Infinity" if isinstance(sort, float) and math.isinf(sort)
                         else repr(sort))
                cells.append(f'<td data-v="{escape(value)}">{escape(str(shown))}</td>')
            else:
                cls = "" if column == "cell" else ' class="text"'
                cells.append(f"<td{cls}{title}>{escape(str(shown))}</td>")
        body.append(f'<tr class="cell-row{" failed" if failed else ""}" '
                    f'data-cell="{escape(row["cell"][0])}">{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table id="cells"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _plan_html(answer: Plan) -> str:
    at = f" at {answer.records.describe()}" if answer.records else ""
    parts = [f'<div class="answer" id="plan"><p>Budgets: <b>{escape(answer.budgets.describe())}'
             f"</b>{escape(at)} (the report's default question; ask others with <code>crossbound "
             "plan --results DIR --max-epsilon E --max-bytes B --max-seconds S "
             "--max-lm-exposure X --records N</code>).</p>"]
    if answer.best is None:
        parts.append('<p class="bad">No cell is within every budget.</p>')
    else:
        best = answer.best
        record = best["record"]
        utility, privacy = record["utility"], record["privacy"]
        parts.append(
            f'<p>Best within the budgets: <b id="plan-best">{escape(best["id"])}</b> — '
            f'utility {_num(utility["headline"])} ({escape(str(utility["headline_key"]))}), '
            f'data leakage {_num(_leak(record))} ({escape(privacy["data_leakage_basis"])}), '
            f'{escape(human_bytes(record["efficiency"]["bytes_crossed"]))} crossed, '
            f'{_num(record["efficiency"]["wall_seconds"], 1)} s.</p>')
        verdict = recommendation(answer)
        if verdict is not None:
            parts.append(f'<p id="plan-recommendation">{escape(verdict[0].upper() + verdict[1:])}'
                         ".</p>")
    front = ", ".join(escape(c["id"]) for c in answer.front)
    parts.append(f"<p>Pareto front (utility ↑; data leakage, bytes, seconds ↓): {front or '—'}"
                 "</p>")
    if answer.excluded:
        items = "".join(
            f'<li><b>{escape(e["cell"])}</b>: '
            f'{escape("; ".join(describe_reason(r) for r in e["reasons"]))}</li>'
            for e in answer.excluded)
        parts.append(f"<p>Excluded:</p><ul>{items}</ul>")
    parts.append("</div>")
    return "".join(parts)


def _pays_html(results: dict[str, Any]) -> str:
    """The "where collaboration pays" table: per record budget, the two baselines and the
    collaboration cells that beat both, by their margin over the better one."""
    rows = []
    for row in collaboration_pays(results):
        label = row.budget.tick if row.budget else "as run"
        winners = "; ".join(
            f'<span class="winner" data-cell="{escape(cell)}">{escape(cell)}</span> '
            f"{utility:.3f} (+{margin:.3f})" for cell, utility, margin in row.winners)
        rows.append(f'<tr data-records="{escape(label)}"><td class="text">{escape(label)}</td>'
                    f"<td>{_num(row.sm_alone)}</td><td>{_num(row.lm_alone)}</td>"
                    f'<td class="text">{winners or "none"}</td></tr>')
    return (f'<p class="meta">{SM_ALONE}: <code>{SM_ALONE_STRATEGY}--{SM_ALONE_SETTING}</code> at '
            f"the budget; {LM_ALONE}: <code>{LM_ALONE_STRATEGY}</code> (it sees no private "
            "records). A collaboration cell (any direction but baseline) pays where its utility "
            "beats both; its margin is over the better of the two.</p>"
            '<table id="pays"><thead><tr><th>private records</th>'
            f'<th>{SM_ALONE}</th><th>{LM_ALONE}</th><th class="text">collaboration cells '
            f'beating both (utility, margin)</th></tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table>")


def _leak(record: dict[str, Any]) -> float:
    value = record["privacy"]["data_leakage"]
    return math.inf if value is None else float(value)


def render_html(results: dict[str, Any], answer: Plan, plots_svg: list[str]) -> str:
    args, timings = results["args"], results["timings"]
    versions = "".join(f"<tr><td class='text'>{escape(k)}</td><td class='text'>{escape(str(v))}"
                       "</td></tr>" for k, v in results["versions"].items())
    machine = ", ".join(f"{k} {v}" for k, v in results["machine"].items())
    notes = "".join(f"<li>{escape(n)}</li>" for n in results.get("notes", []))
    task = results.get("task", {})
    at = (f" The Pareto plots and the planner's answer are at {answer.records.describe()}"
          " (the largest budget) with the cells that use no private records; the learning "
          "curve shows every budget." if answer.records else "")
    failed = [c for c in results["cells"] if c["status"] != "ok"]
    errors = "".join(f'<li><b>{escape(c["id"])}</b>: {escape(c["error"]["type"])}: '
                     f'{escape(c["error"]["message"])} (<code>{escape(c["error"]["details"])}'
                     "</code>)</li>" for c in failed)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crossbound bench — {escape(args["task"])}</title>
<style>{_STYLE}</style></head>
<body>
<h1>crossbound bench: {escape(args["task"])}, profile {escape(args["profile"])}</h1>
<p class="meta">Large model (model party) <b>{escape(args["large"])}</b>; small model (data
party) <b>{escape(args["small"])}</b>; task metric {escape(str(task.get("metric", "")))};
{len(results["cells"])} cells ({timings["cells_computed"]} computed, {timings["cells_reused"]}
reused, {timings["cells_failed"]} failed); finished {escape(timings["finished"])}.</p>
<h2>The planner's answer</h2>
{_plan_html(answer)}
<h2>Plots</h2>
<p class="meta">In a Pareto plot each point is a cell (strategy--setting); the dashed
staircase is the best utility reachable within each x budget. Data leakage is the DP ε where
the run trained under DP, 0 where nothing derived from private records crossed (by the
strategy's design and the transcript's PII scan), ∞ otherwise.{escape(at)}</p>
<div class="plots">{"".join(plots_svg)}</div>
<h2>Where collaboration pays</h2>
{_pays_html(results)}
<h2>Cells</h2>
<p class="meta">Click a column to sort. Full metrics per cell: <code>results.json</code>,
<code>cells/&lt;cell&gt;/result.json</code>; one row per cell: <code>results.csv</code>.</p>
{_table(results)}
{"<h2>Failed cells</h2><ul>" + errors + "</ul>" if failed else ""}
<h2>How this was made</h2>
<pre id="command">{escape(results["command"])}</pre>
<p class="meta">Machine: {escape(machine)}. Bench time {timings["seconds"]:.1f} s this run;
cells' own time {timings["cell_seconds_total"]:.1f} s in all.</p>
<ul class="meta">{notes}</ul>
<table id="versions"><tbody>{versions}</tbody></table>
<script>{_SCRIPT}</script>
</body></html>
"""


def write_report(results: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``report.html`` and ``plots/*.png`` (and ``plan.json``, the planner's answer
    for the default budgets at the largest record budget, with the best cell at each record
    budget) into ``out_dir``; return the report's path."""
    out = Path(out_dir)
    answer = plan(results, DEFAULT_BUDGETS)
    plots = build_plots(results)
    for p in plots:
        write_png(p, out / PLOTS_DIR / f"{p.slug}.png")
    drawn = [svg(p) for p in plots]
    curve = build_curve(results)
    if curve is not None:  # first: it is the one plot that spans every budget
        write_curve_png(curve, out / PLOTS_DIR / f"{curve.slug}.png")
        drawn.insert(0, curve_svg(curve))
    answer_json = answer.to_dict()
    by_records = plans_by_records(results, DEFAULT_BUDGETS)
    if len(by_records) > 1:
        answer_json["by_records"] = [p.summary() for p in by_records]
    (out / "plan.json").write_text(json.dumps(answer_json, indent=2) + "\n")
    path = out / REPORT_HTML
    path.write_text(render_html(results, answer, drawn))
    return path
