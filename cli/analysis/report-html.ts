/**
 * The `sto report` page: one self-contained HTML file, its charts vega-lite specs rendered to SVG by vega
 * in Node and inlined (no script, no network when it is opened), next to report.json with the same numbers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as vegaLite from 'vega-lite';
import { renderSvg } from '#sim/report.ts';
import type { GroupComparison, Interval, LiftReport } from './lift-report.ts';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const FONT = 'Inter, "Segoe UI", Helvetica, Arial, sans-serif';
const GROUP_COLORS = { bandit: '#1f77b4', holdout: '#e45756' };
const baseConfig = {
  font: FONT,
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 500, gridColor: '#eceff3', domainColor: '#c8ccd2' },
  legend: { labelFontSize: 12, titleFontSize: 12, orient: 'bottom', direction: 'horizontal' },
};
const groupColor = {
  field: 'group',
  type: 'nominal',
  scale: { domain: Object.keys(GROUP_COLORS), range: Object.values(GROUP_COLORS) },
  title: null,
} as const;

type Point = { group: 'bandit' | 'holdout'; key: string | number; mean: number; low: number; high: number; n: number };

function points(cells: { key: string | number; cell: GroupComparison }[]): Point[] {
  return cells.flatMap(({ key, cell }) =>
    (['bandit', 'holdout'] as const).flatMap((group) => {
      const s = cell[group];
      return s ? [{ group, key, mean: s.reward.estimate, low: s.reward.low, high: s.reward.high, n: s.sends }] : [];
    }),
  );
}

/** Reward per notification with its interval, bandit and holdout side by side along x. */
function comparisonSpec(
  values: Point[],
  x: { title: string; type: 'ordinal' | 'temporal' | 'nominal'; width: number },
): vegaLite.TopLevelSpec {
  const xEnc = {
    field: 'key',
    type: x.type,
    title: x.title,
    ...(x.type === 'ordinal' && { axis: { labelAngle: 0 } }),
  };
  const offset = x.type === 'temporal' ? {} : { xOffset: { field: 'group' } };
  return {
    $schema: SCHEMA,
    width: x.width,
    height: 240,
    config: baseConfig,
    data: { values },
    encoding: { x: xEnc, ...offset },
    layer: [
      {
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: {
          y: { field: 'low', type: 'quantitative', title: 'reward per notification' },
          y2: { field: 'high' },
          color: groupColor,
        },
      },
      {
        mark: { type: 'point', filled: true, size: 45 },
        encoding: {
          y: { field: 'mean', type: 'quantitative' },
          color: groupColor,
          tooltip: [
            { field: 'key', title: x.title },
            { field: 'group' },
            { field: 'mean', format: '.4f' },
            { field: 'n', title: 'notifications' },
          ],
        },
      },
      ...(x.type === 'temporal'
        ? [
            {
              mark: { type: 'line', strokeWidth: 1.6 },
              encoding: { y: { field: 'mean', type: 'quantitative' }, color: groupColor },
            },
          ]
        : []),
    ],
  } as unknown as vegaLite.TopLevelSpec;
}

function barsSpec(values: { label: string; count: number }[], title: string, color: string): vegaLite.TopLevelSpec {
  return {
    $schema: SCHEMA,
    width: 380,
    height: { step: 18 },
    config: baseConfig,
    data: { values },
    mark: { type: 'bar', color, cornerRadiusEnd: 3 },
    encoding: {
      y: { field: 'label', type: 'nominal', title: null, sort: null },
      x: { field: 'count', type: 'quantitative', title },
    },
  } as unknown as vegaLite.TopLevelSpec;
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
const num = (x: number | undefined | null, digits = 4) =>
  x !== undefined && x !== null && Number.isFinite(x) ? x.toFixed(digits) : '–';
const signed = (x: number, f: (v: number) => string) => `${x >= 0 ? '+' : ''}${f(x)}`;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function withInterval(i: Interval | null | undefined, f: (x: number) => string): string {
  return i ? `${f(i.estimate)}<span class="ci">${f(i.low)} … ${f(i.high)}</span>` : '–';
}

function comparisonRows(cells: { label: string; cell: GroupComparison }[]): string {
  return cells
    .filter(({ cell }) => cell.bandit || cell.holdout)
    .map(
      ({ label, cell }) => `<tr><th>${esc(label)}</th>
      <td>${withInterval(cell.bandit?.reward, (x) => num(x))}</td><td>${cell.bandit?.sends ?? 0}</td>
      <td>${withInterval(cell.holdout?.reward, (x) => num(x))}</td><td>${cell.holdout?.sends ?? 0}</td>
      <td>${withInterval(cell.difference, (x) => signed(x, (v) => num(v)))}</td>
      <td>${withInterval(cell.relativeLift, (x) => signed(x, pct))}</td></tr>`,
    )
    .join('');
}

function comparisonTable(cells: { label: string; cell: GroupComparison }[]): string {
  return `<table><thead><tr><th></th><th>bandit reward</th><th>bandit notifications</th><th>holdout reward</th>
  <th>holdout notifications</th><th>difference</th><th>lift</th></tr></thead><tbody>${comparisonRows(cells)}</tbody></table>`;
}

function countTable(counts: Record<string, number>, what: string, unit = 'decisions'): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return `<p class="note">none</p>`;
  return `<table><thead><tr><th>${esc(what)}</th><th>${esc(unit)}</th></tr></thead><tbody>${entries
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`)
    .join('')}</tbody></table>`;
}

function verdict(overall: GroupComparison): { tone: string; text: string } {
  const d = overall.difference;
  if (!d) return { tone: '', text: 'needs rewarded notifications from both the bandit and the holdout' };
  if (d.low > 0) return { tone: 'good', text: 'the bandit earns more than the holdout (interval above 0)' };
  if (d.high < 0) return { tone: 'bad', text: 'the bandit earns less than the holdout (interval below 0)' };
  return { tone: '', text: 'no difference the log can tell yet (interval includes 0)' };
}

const CSS = `
  body { font-family: ${FONT}; margin: 0; background: #f6f7f9; color: #1d2330; }
  main { max-width: 1120px; margin: 0 auto; padding: 28px 32px 64px; }
  h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 32px 0 6px; }
  p.sub, p.note { color: #5b6472; font-size: 13px; line-height: 1.45; max-width: 900px; }
  .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0 8px; }
  .card { background: #fff; border-radius: 10px; padding: 12px 16px; min-width: 170px; flex: 1; box-shadow: 0 1px 2px rgba(0,0,0,.06); border-top: 4px solid #c8ccd2; }
  .card.good { border-top-color: #2ca02c; } .card.bad { border-top-color: #d62728; }
  .card .label { font-size: 12px; color: #5b6472; text-transform: uppercase; letter-spacing: .04em; font-weight: 600; }
  .card .value { font-size: 24px; font-weight: 650; margin: 4px 0 0; } .card .what { font-size: 12px; color: #3b4350; }
  .ci { display: block; font-size: 11px; color: #8a93a1; white-space: nowrap; }
  .panel { background: #fff; border-radius: 10px; padding: 16px 18px; box-shadow: 0 1px 2px rgba(0,0,0,.06); overflow-x: auto; }
  .panel svg { max-width: 100%; height: auto; }
  .row { display: flex; gap: 16px; flex-wrap: wrap; } .row > div { flex: 1; min-width: 440px; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; }
  th, td { padding: 6px 8px; text-align: right; border-bottom: 1px solid #eceff3; vertical-align: top; }
  thead th { font-size: 11px; text-transform: uppercase; letter-spacing: .03em; color: #5b6472; font-weight: 600; }
  tbody th { text-align: left; font-weight: 600; white-space: nowrap; }
  footer { color: #8a93a1; font-size: 12px; margin-top: 28px; }
`;

/**
 * The HTML page of a report (charts inline as SVG).
 * @example writeFileSync('report.html', await renderLiftReportHtml(buildLiftReport(rows)));
 */
export async function renderLiftReportHtml(report: LiftReport): Promise<string> {
  const { lift } = report;
  const channelCells = Object.entries(lift.byChannel).map(([key, cell]) => ({ key, cell }));
  const hourCells = lift.byLocalHour.map((c) => ({ key: c.hour, cell: c }));
  const dayCells = lift.byDay.map((c) => ({ key: c.day, cell: c }));
  const propensityBars = report.propensity.histogram.map((b) => ({ label: b.label, count: b.count }));
  const stopBars = Object.entries(report.guardrails.stopped).map(([label, count]) => ({ label, count }));
  const noArmBars = Object.entries(report.guardrails.noArm.byMainReason).map(([label, count]) => ({ label, count }));
  const [byDay, byChannel, byHour, propensity, stops, noArm] = await Promise.all([
    dayCells.length
      ? renderSvg(
          comparisonSpec(points(dayCells), { title: 'day of the decision (UTC)', type: 'temporal', width: 940 }),
        )
      : '',
    renderSvg(comparisonSpec(points(channelCells), { title: 'channel', type: 'nominal', width: 380 })),
    renderSvg(
      comparisonSpec(points(hourCells), { title: "user's local hour of the send", type: 'ordinal', width: 940 }),
    ),
    renderSvg(barsSpec(propensityBars, 'bandit notifications', '#1f77b4')),
    stopBars.length ? renderSvg(barsSpec(stopBars, 'sends stopped at dispatch', '#b279a2')) : '',
    noArmBars.length ? renderSvg(barsSpec(noArmBars, 'decisions with no allowed arm', '#9d755d')) : '',
  ]);
  const o = lift.overall;
  const v = verdict(o);
  const explorationShare = report.exploration.share;
  const prop = report.propensity;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Send-time optimizer: bandit vs holdout</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${CSS}</style></head>
<body><main>
  <h1>Bandit vs holdout</h1>
  <p class="sub">${report.source.rows.toLocaleString('en-US')} decisions${report.source.file ? ` from ${esc(report.source.file)}` : ''}, ${esc(report.source.firstDecision ?? '')} to ${esc(report.source.lastDecision ?? '')}; ${report.rewarded.rows.toLocaleString('en-US')} with a final reward. ${esc(report.reward.definition)}. Intervals: ${esc(report.reward.interval)}.</p>
  <div class="cards">
    <div class="card ${v.tone}"><div class="label">lift over the holdout</div><div class="value">${withInterval(o.relativeLift, (x) => signed(x, pct))}</div><div class="what">${esc(v.text)}</div></div>
    <div class="card"><div class="label">bandit</div><div class="value">${withInterval(o.bandit?.reward, (x) => num(x))}</div><div class="what">${o.bandit?.sends ?? 0} notifications, ${o.bandit?.users ?? 0} users</div></div>
    <div class="card"><div class="label">holdout</div><div class="value">${withInterval(o.holdout?.reward, (x) => num(x))}</div><div class="what">${o.holdout?.sends ?? 0} notifications, ${o.holdout?.users ?? 0} users</div></div>
    <div class="card"><div class="label">exploration</div><div class="value">${explorationShare === null ? '–' : pct(explorationShare)}</div><div class="what">of ${report.exploration.banditSends} bandit sends not the model's first choice</div></div>
  </div>
  <p class="note">Only the overall lift compares randomised groups (users are assigned to the holdout by a stable hash). The breakdowns below compare the notifications each policy chose to send in that cell, which describes where the difference comes from but is not a causal lift per cell.</p>
  ${byDay ? `<h2>By day</h2><div class="panel">${byDay}</div>` : ''}
  <div class="row">
    <div><h2>By channel</h2><div class="panel">${byChannel}</div></div>
    <div><h2>Propensities of bandit sends</h2><p class="note">${prop.rows ? `median ${num(prop.quantiles?.p50)}, 1st percentile ${num(prop.quantiles?.p01)}, min ${num(prop.min, 5)}; ${pct(prop.belowOnePercent ?? 0)} below 0.01 (their importance weights dominate off-policy estimates).` : 'no bandit sends'}</p><div class="panel">${propensity}</div></div>
  </div>
  <h2>By the user's local hour of the send</h2><div class="panel">${byHour}</div>
  <h2>Numbers</h2>
  <div class="panel">${comparisonTable([
    { label: 'overall', cell: o },
    ...channelCells.map((c) => ({ label: c.key, cell: c.cell })),
    ...lift.byLocalHour.map((c) => ({
      label: `${String(c.hour).padStart(2, '0')}:00 local`,
      cell: c as GroupComparison,
    })),
    ...lift.byDay.map((c) => ({ label: c.day, cell: c as GroupComparison })),
  ])}</div>
  <div class="row">
    <div><h2>Guardrail stops at dispatch</h2><div class="panel">${stops || countTable(report.guardrails.stopped, 'reason', 'sends')}</div></div>
    <div><h2>Decisions with no allowed arm</h2><div class="panel">${noArm || countTable(report.guardrails.noArm.byMainReason, 'main reason')}</div></div>
  </div>
  <div class="row">
    <div><h2>Status</h2><div class="panel">${countTable(report.statuses, 'status')}</div></div>
    <div><h2>Arms masked in no-arm decisions</h2><div class="panel">${countTable(report.guardrails.noArm.armsMasked, 'reason', 'arms masked')}</div></div>
  </div>
  <footer>Generated by <code>sto report</code>. Numbers in report.json next to this file.</footer>
</main></body></html>
`;
}

/**
 * Writes report.json and report.html into `dir` (created if missing); returns their paths.
 * @example const { jsonFile, htmlFile } = await writeLiftReport('out/', report);
 */
export async function writeLiftReport(
  dir: string,
  report: LiftReport,
): Promise<{ jsonFile: string; htmlFile: string }> {
  mkdirSync(dir, { recursive: true });
  const jsonFile = join(dir, 'report.json');
  const htmlFile = join(dir, 'report.html');
  writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(htmlFile, await renderLiftReportHtml(report));
  return { jsonFile, htmlFile };
}
