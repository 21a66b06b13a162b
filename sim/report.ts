/**
 * The simulation's output: summary.json for machines and report.html for people, with its charts
 * rendered to inline SVG in Node by vega (no browser, no network: the page is one self-contained file).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { MeanInterval } from './math.ts';
import type { SimulationSummary } from './summary.ts';

const CHANNEL_COLORS = { email: '#4c78a8', push: '#f58518', sms: '#54a24b' };

/** Stable colours: the oracle is a grey ceiling, the heuristic the orange opponent, bandits blues and purples. */
function policyColor(name: string, index: number): string {
  if (name === 'oracle') return '#7f7f7f';
  if (name === 'heuristic') return '#e45756';
  if (name === 'fixed-hour') return '#b279a2';
  if (name === 'random') return '#bab0ac';
  if (name === 'oracle-timing') return '#9d755d';
  if (name === 'oracle-channel') return '#d6a5c9';
  if (name === 'oracle-linear') return '#72b7b2';
  if (name === 'oracle-mlp') return '#88d27a';
  return ['#1f77b4', '#17becf', '#4c3fbf', '#2ca02c'][index % 4];
}

/**
 * Renders a vega-lite spec to an SVG string in Node.
 * @example const svg = await renderSvg({ mark: 'bar', data: { values: [{ a: 1 }] }, encoding: { x: { field: 'a' } } });
 */
export async function renderSvg(spec: vegaLite.TopLevelSpec): Promise<string> {
  // Quiet loggers: a warning about a spec belongs in a test, not in the middle of a progress bar.
  const compiled = vegaLite.compile(spec, { logger: vega.logger(vega.None) }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.None });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const FONT = 'Inter, "Segoe UI", Helvetica, Arial, sans-serif';
const baseConfig = {
  font: FONT,
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 500, gridColor: '#eceff3', domainColor: '#c8ccd2' },
  legend: { labelFontSize: 12, titleFontSize: 12, orient: 'bottom', direction: 'horizontal' },
  header: { labelFontSize: 12, labelFontWeight: 600 },
};

/**
 * Name of the "last week" period: the summary's last-week figures cover the last min(7, days) days.
 * @example lastDaysLabel(summary) // 'last 7 days', or 'last 3 days' after a 3-day run
 */
export function lastDaysLabel(summary: SimulationSummary): string {
  const [from, to] = summary.lastWeekDays;
  const n = to - from + 1;
  return `last ${n} day${n === 1 ? '' : 's'}`;
}

function policyScale(names: string[]) {
  return { domain: names, range: names.map((n, i) => policyColor(n, i)) };
}

function byDaySpec(
  names: string[],
  pick: (name: string) => { day: number; mean: number; low: number; high: number }[] | undefined,
  title: string,
  percent: boolean,
): vegaLite.TopLevelSpec {
  const k = percent ? 100 : 1;
  // A point whose value is not a number (a 0/0 ratio; summary.warnings says why) is left out, not drawn as NaN.
  const values = names.flatMap((name) =>
    (pick(name) ?? [])
      .filter((d) => Number.isFinite(d.mean))
      .map((d) => ({ policy: name, day: d.day, mean: k * d.mean, low: k * d.low, high: k * d.high })),
  );
  // The axis follows the lines, not the bands: with few seeds a t-interval is wide, and a band may be
  // clipped rather than squash every line flat.
  const means = values.map((v) => v.mean).filter(Number.isFinite);
  const lo = Math.min(...means);
  const hi = Math.max(...means);
  const pad = (hi - lo) * 0.25 || Math.abs(hi) * 0.1 || 1;
  const y = { type: 'quantitative', title, scale: { domain: [lo - pad, hi + pad], zero: false, nice: false } } as const;
  const color = { field: 'policy', type: 'nominal', scale: policyScale(names), title: null } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 940,
    height: 300,
    config: baseConfig,
    data: { values },
    encoding: {
      x: {
        field: 'day',
        type: 'quantitative',
        title: 'simulated day',
        axis: { tickMinStep: 1 },
        scale: { nice: false },
      },
    },
    layer: [
      {
        mark: { type: 'area', opacity: 0.12, clip: true },
        encoding: {
          y: { field: 'low', ...y },
          y2: { field: 'high' },
          // The legend draws lines, fully opaque, not the faint bands.
          color: {
            ...color,
            legend: { symbolType: 'stroke', symbolOpacity: 1, symbolStrokeWidth: 3, symbolSize: 240 },
          },
        },
      },
      {
        mark: { type: 'line', strokeWidth: 2.2, point: { size: 16 }, clip: true },
        encoding: {
          y: { field: 'mean', ...y },
          color,
          strokeDash: { condition: { test: "indexof(datum.policy, 'oracle') === 0", value: [6, 4] }, value: [1, 0] },
        },
      },
    ],
  } as unknown as vegaLite.TopLevelSpec;
}

function liftSpec(summary: SimulationSummary, names: string[]): vegaLite.TopLevelSpec {
  const last = lastDaysLabel(summary);
  const values = names.flatMap((name) => {
    const p = summary.policies[name];
    const rows = [];
    if (finite(p.liftVsHeuristic)) rows.push({ policy: name, period: 'whole run', ...pct(p.liftVsHeuristic) });
    if (finite(p.lastWeekLiftVsHeuristic)) rows.push({ policy: name, period: last, ...pct(p.lastWeekLiftVsHeuristic) });
    return rows;
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: baseConfig,
    data: { values },
    width: 400,
    height: { step: 16 },
    layer: [
      {
        mark: { type: 'bar', cornerRadiusEnd: 3, height: { band: 0.8 } },
        encoding: {
          ...policyRows(names, last),
          x: { field: 'mean', type: 'quantitative', title: 'reward vs the heuristic (%), 95% interval over seeds' },
          color: {
            field: 'period',
            type: 'nominal',
            scale: { domain: ['whole run', last], range: ['#9ecae9', '#1f77b4'] },
            title: null,
          },
        },
      },
      {
        mark: { type: 'rule', color: '#333' },
        encoding: { ...policyRows(names, last), x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } },
      },
      { mark: { type: 'rule', color: '#888', strokeDash: [3, 3] }, encoding: { x: { datum: 0 } } },
    ],
  } as vegaLite.TopLevelSpec;
}

function oracleShareSpec(summary: SimulationSummary, names: string[]): vegaLite.TopLevelSpec {
  const last = lastDaysLabel(summary);
  const values = names.flatMap((name) => {
    const p = summary.policies[name];
    return [
      ...(finite(p.shareOfOracle) ? [{ policy: name, period: 'whole run', ...pct(p.shareOfOracle) }] : []),
      ...(finite(p.lastWeekShareOfOracle) ? [{ policy: name, period: last, ...pct(p.lastWeekShareOfOracle) }] : []),
    ];
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: baseConfig,
    data: { values },
    width: 400,
    height: { step: 16 },
    layer: [
      {
        mark: { type: 'bar', cornerRadiusEnd: 3 },
        encoding: {
          ...policyRows(names, last),
          x: {
            field: 'mean',
            type: 'quantitative',
            title: 'reward as % of the oracle (a ceiling, not a target)',
            scale: { domain: [0, 100] },
          },
          color: {
            field: 'period',
            type: 'nominal',
            scale: { domain: ['whole run', last], range: ['#c7c7c7', '#7f7f7f'] },
            title: null,
          },
        },
      },
      {
        mark: { type: 'rule', color: '#333' },
        encoding: { ...policyRows(names, last), x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } },
      },
    ],
  } as vegaLite.TopLevelSpec;
}

/** One row per policy, two bars per row (whole run, the last days). */
function policyRows(names: string[], last: string) {
  return {
    y: { field: 'policy', type: 'nominal', title: null, sort: names },
    yOffset: { field: 'period', sort: ['whole run', last] },
  } as const;
}

function sendsByHourSpec(summary: SimulationSummary, names: string[]): vegaLite.TopLevelSpec {
  const values = names.flatMap((name) => {
    const p = summary.policies[name];
    const total = Object.values(p.sendsByLocalHour).reduce((a, hours) => a + hours.reduce((x, y) => x + y, 0), 0) || 1;
    return (['email', 'push', 'sms'] as const).flatMap((channel) =>
      p.sendsByLocalHour[channel].map((n, hour) => ({ policy: name, channel, hour, share: (100 * n) / total })),
    );
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: { ...baseConfig, facet: { spacing: 10 } },
    data: { values },
    facet: {
      row: {
        field: 'policy',
        type: 'nominal',
        sort: names,
        title: null,
        header: { labelAngle: 0, labelAlign: 'left' },
      },
    },
    spec: {
      width: 860,
      height: 70,
      mark: { type: 'bar', width: { band: 0.85 } },
      encoding: {
        x: { field: 'hour', type: 'ordinal', title: "user's local hour at the send", axis: { labelAngle: 0 } },
        y: { field: 'share', type: 'quantitative', title: '% of sends', axis: { tickCount: 3 } },
        color: {
          field: 'channel',
          type: 'nominal',
          scale: { domain: Object.keys(CHANNEL_COLORS), range: Object.values(CHANNEL_COLORS) },
          title: 'channel',
        },
        order: { field: 'channel' },
      },
    },
    resolve: { scale: { y: 'shared' } },
  } as vegaLite.TopLevelSpec;
}

/** Whether a figure exists and is a number (not a 0/0 ratio). */
function finite(m: MeanInterval | undefined): m is MeanInterval {
  return m !== undefined && Number.isFinite(m.mean);
}

function pct(m: MeanInterval) {
  return { mean: 100 * m.mean, low: 100 * m.low, high: 100 * m.high };
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
const num = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const signedPct = (x: number, digits = 1) =>
  Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(digits)}%` : '–';
const percent = (x: number, digits = 1) => (Number.isFinite(x) ? `${(100 * x).toFixed(digits)}%` : '–');
const interval = (m: MeanInterval | undefined, f: (x: number) => string) =>
  m ? `${f(m.mean)}<span class="ci">${m.n > 1 ? `${f(m.low)} … ${f(m.high)}` : 'one seed'}</span>` : '–';

function table(summary: SimulationSummary, names: string[]): string {
  const last = lastDaysLabel(summary);
  const rows = names.map((name) => {
    const p = summary.policies[name];
    const shares = (['email', 'push', 'sms'] as const)
      .map(
        (c) =>
          `<span class="dot" style="background:${CHANNEL_COLORS[c]}"></span>${(100 * p.channelShare[c]).toFixed(0)}%`,
      )
      .join(' ');
    return `<tr>
      <th><span class="swatch" style="background:${policyColor(name, names.indexOf(name))}"></span>${esc(name)}</th>
      <td>${interval(p.meanReward, (x) => num(x))}</td>
      <td>${interval(p.lastWeekReward, (x) => num(x))}</td>
      <td>${interval(p.shareOfOracle, (x) => percent(x))}</td>
      <td>${interval(p.liftVsHeuristic, (x) => signedPct(x))}</td>
      <td>${interval(p.heuristicRegretRemoved, (x) => signedPct(x, 0))}</td>
      <td>${Math.round(p.sends).toLocaleString('en-US')}</td>
      <td class="shares">${shares}</td>
      <td>${(100 * p.openRate).toFixed(1)}% / ${(100 * p.clickRate).toFixed(2)}%</td>
      <td>${p.optOutsPer1000Sends.toFixed(2)}</td>
      <td class="${p.guardrailBreaches ? 'bad' : 'good'}">${p.guardrailBreaches}</td>
    </tr>`;
  });
  return `<table>
    <thead><tr>
      <th>policy</th><th>reward / notification</th><th>${last}</th><th>% of oracle</th><th>lift vs heuristic</th>
      <th>heuristic regret removed</th><th>sends / seed</th><th>channel mix</th><th>open / click per send</th>
      <th>opt-outs / 1000 sends</th><th>guardrail breaches</th>
    </tr></thead>
    <tbody>${rows.join('')}</tbody>
  </table>`;
}

function headline(summary: SimulationSummary, names: string[]): string {
  const last = lastDaysLabel(summary);
  const cards: string[] = [];
  for (const name of names.filter((n) => summary.policies[n].learns)) {
    const p = summary.policies[name];
    const figures = [
      figure(p.liftVsHeuristic, (x) => signedPct(x), 'vs heuristic, whole run'),
      figure(p.lastWeekLiftVsHeuristic, (x) => signedPct(x), `vs heuristic, ${last}`),
      figure(p.heuristicRegretRemoved, (x) => signedPct(x, 0), "of the heuristic's regret removed"),
      figure(p.lastWeekShareOfOracle, (x) => percent(x), `of the oracle, ${last}`),
    ].filter(Boolean);
    const lift = p.liftVsHeuristic;
    const tone = lift && lift.n > 1 ? (lift.low > 0 ? 'good' : lift.high < 0 ? 'bad' : '') : '';
    cards.push(
      `<div class="card wide ${tone}"><div class="label">${esc(name)}</div><div class="figures">${figures.join('')}</div></div>`,
    );
  }
  const heuristic = summary.policies.heuristic;
  if (finite(heuristic?.shareOfOracle)) {
    cards.push(
      `<div class="card"><div class="label">heuristic</div><div class="figures">${figure(heuristic.shareOfOracle, (x) => percent(x), 'of the oracle, whole run')}</div></div>`,
    );
  }
  const breaches = names.reduce((a, n) => a + summary.policies[n].guardrailBreaches, 0);
  cards.push(
    `<div class="card ${breaches ? 'bad' : 'good'}"><div class="label">guardrail breaches</div><div class="figures"><div class="figure"><div class="value">${breaches}</div><div class="what">all policies, every decision and send audited</div></div></div></div>`,
  );
  return `<div class="cards">${cards.join('')}</div>`;
}

function figure(m: MeanInterval | undefined, f: (x: number) => string, what: string): string {
  if (!finite(m)) return '';
  const ci = m.n > 1 ? `${f(m.low)} … ${f(m.high)}` : 'one seed';
  return `<div class="figure"><div class="value">${f(m.mean)}</div><div class="what">${esc(what)}</div><div class="ci">${ci}</div></div>`;
}

const CSS = `
  :root { color-scheme: light; }
  body { font-family: ${FONT}; margin: 0; background: #f6f7f9; color: #1d2330; }
  main { max-width: 1120px; margin: 0 auto; padding: 28px 32px 64px; }
  h1 { font-size: 26px; margin: 0 0 4px; }
  h2 { font-size: 17px; margin: 36px 0 6px; }
  p.sub { color: #5b6472; margin: 0 0 18px; font-size: 14px; line-height: 1.45; }
  p.note { color: #5b6472; font-size: 13px; margin: 2px 0 10px; line-height: 1.45; max-width: 900px; }
  .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0 8px; }
  .card { background: #fff; border-radius: 10px; padding: 12px 16px; min-width: 170px; flex: 1; box-shadow: 0 1px 2px rgba(0,0,0,.06); border-top: 4px solid #c8ccd2; }
  .card.wide { flex: 1 1 100%; }
  .figures { display: flex; gap: 22px; flex-wrap: wrap; }
  .figure .what { font-size: 12px; color: #3b4350; }
  .card.good { border-top-color: #2ca02c; } .card.bad { border-top-color: #d62728; }
  .card .label { font-size: 12px; color: #5b6472; text-transform: uppercase; letter-spacing: .04em; }
  .card .label { font-weight: 600; }
  .card .value { font-size: 26px; font-weight: 650; margin: 4px 0 0; }
  .card .ci { font-size: 12px; color: #5b6472; }
  .panel { background: #fff; border-radius: 10px; padding: 16px 18px; box-shadow: 0 1px 2px rgba(0,0,0,.06); overflow-x: auto; }
  .panel svg { max-width: 100%; height: auto; }
  .row { display: flex; gap: 16px; flex-wrap: wrap; } .row > div { flex: 1; min-width: 480px; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; }
  th, td { padding: 7px 8px; text-align: right; border-bottom: 1px solid #eceff3; vertical-align: top; }
  thead th { font-size: 11px; text-transform: uppercase; letter-spacing: .03em; color: #5b6472; font-weight: 600; }
  tbody th { text-align: left; font-weight: 600; white-space: nowrap; }
  td .ci { display: block; font-size: 11px; color: #8a93a1; white-space: nowrap; }
  td.good { color: #2ca02c; font-weight: 600; } td.bad { color: #d62728; font-weight: 700; }
  td.shares { white-space: nowrap; }
  .swatch, .dot { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
  .dot { border-radius: 5px; margin: 0 3px 0 6px; }
  p.note.missing { font-style: italic; }
  .warnings { background: #fff4e5; border: 1px solid #f0b35a; border-radius: 10px; padding: 12px 16px; margin: 18px 0 8px; font-size: 14px; line-height: 1.45; }
  .warnings ul { margin: 6px 0 0; padding-left: 20px; }
  footer { color: #8a93a1; font-size: 12px; margin-top: 28px; }
`;

/**
 * Builds the HTML report (charts inline as SVG).
 * @example writeFileSync('report.html', await renderReportHtml(summary));
 */
export async function renderReportHtml(summary: SimulationSummary): Promise<string> {
  const names = orderPolicies(Object.keys(summary.policies));
  const hasOracle = names.includes('oracle');
  const hasHeuristic = names.includes('heuristic');
  const oracleByDay = names.some((n) => summary.policies[n].shareOfOracleByDay?.some((d) => Number.isFinite(d.mean)));
  const lifted = names.filter((n) => finite(summary.policies[n].liftVsHeuristic));
  const shared = names.some((n) => finite(summary.policies[n].shareOfOracle));
  const seeWarnings = 'see the warnings above';
  const [byDay, byDayOfOracle, lift, oracleShare, byHour] = await Promise.all([
    renderSvg(byDaySpec(names, (n) => summary.policies[n].rewardByDay, 'mean reward per notification', false)),
    oracleByDay
      ? renderSvg(
          byDaySpec(
            names.filter((n) => n !== 'oracle'),
            (n) => summary.policies[n].shareOfOracleByDay,
            '% of the oracle (paired by seed)',
            true,
          ),
        )
      : Promise.resolve(''),
    lifted.length ? renderSvg(liftSpec(summary, lifted)) : Promise.resolve(''),
    shared ? renderSvg(oracleShareSpec(summary, names)) : Promise.resolve(''),
    renderSvg(sendsByHourSpec(summary, names)),
  ]);
  // A panel with nothing to compare against is omitted, with the reason, rather than drawn empty around 0.
  const liftPanel = lift
    ? `<p class="note">Paired by seed: (policy − heuristic) / heuristic.</p><div class="panel">${lift}</div>`
    : `<p class="note missing">${
        !hasHeuristic
          ? 'No heuristic in this run: add heuristic to --policies to see lift.'
          : names.length === 1
            ? 'Only the heuristic in this run: add another policy to --policies to see its lift.'
            : `No lift to show: it is not a number for any policy (${seeWarnings}).`
      }</p>`;
  const oracleSharePanel = oracleShare
    ? `<p class="note">Per seed: policy reward / oracle reward.</p><div class="panel">${oracleShare}</div>`
    : `<p class="note missing">${
        hasOracle
          ? `No share of the oracle to show: it is not a number for any policy (${seeWarnings}).`
          : 'No oracle in this run: add oracle to --policies to see the share of the oracle.'
      }</p>`;
  const warnings = summary.warnings.length
    ? `<div class="warnings" role="alert"><strong>Warning${summary.warnings.length > 1 ? 's' : ''}</strong><ul>${summary.warnings
        .map((w) => `<li>${esc(w)}</li>`)
        .join('')}</ul></div>`
    : '';
  const seeds = summary.seeds.length;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Send-time simulation: ${esc(summary.population)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${CSS}</style></head>
<body><main>
  <h1>Send-time simulation · ${esc(summary.population)}</h1>
  <p class="sub">${summary.days} simulated days · ${seeds} seed${seeds > 1 ? 's' : ''} (${summary.seeds.join(', ')}) · about ${Math.round(summary.users).toLocaleString('en-US')} users per seed · config ${esc(summary.configVersion)} · every policy on the same users and the same random draws, behind the same guardrails.</p>
  ${warnings}
  ${headline(summary, names)}
  <h2>Reward by day</h2>
  <p class="note">Mean reward per notification request by the day it arrived (opens, clicks and opt-outs attributed within the window, by the config's weights, minus channel cost), with its 95% interval over seeds. The oracle knows every user's hidden response curve; no learner can, so its line is a ceiling.</p>
  <div class="panel">${byDay}</div>
  ${
    byDayOfOracle
      ? `<h2>Learning curve: share of the oracle by day</h2>
  <p class="note">Each policy's daily reward divided by the oracle's on the same seed: weekdays, weekends and the request mix move every policy alike, so the ratio shows learning more clearly than the raw reward.</p>
  <div class="panel">${byDayOfOracle}</div>`
      : hasOracle
        ? `<h2>Learning curve: share of the oracle by day</h2>
  <p class="note missing">No share of the oracle to plot: the oracle's reward is 0 on every day (${seeWarnings}).</p>`
        : ''
  }
  <div class="row">
    <div><h2>Lift over the heuristic</h2>${liftPanel}</div>
    <div><h2>Share of the oracle</h2>${oracleSharePanel}</div>
  </div>
  <h2>Key numbers</h2>
  <p class="note">Intervals are 95% t-intervals over seeds; lift, regret removed and % of oracle are paired by seed. "Heuristic regret removed" = (policy − heuristic) / (oracle − heuristic).</p>
  <div class="panel">${table(summary, names)}</div>
  <h2>When and where each policy sends</h2>
  <p class="note">Share of each policy's sends by the user's local hour and channel (all seeds). Quiet hours are never used except by transactional requests that ask to ignore them.</p>
  <div class="panel">${byHour}</div>
  <footer>Generated by <code>sto simulate</code> in ${summary.wallSeconds.toFixed(1)} s. Numbers in summary.json next to this file.</footer>
</main></body></html>
`;
}

/** Learners first, then the heuristic, the other baselines and the oracle last. */
export function orderPolicies(names: string[]): string[] {
  const rank = (n: string) =>
    n.startsWith('bandit')
      ? 0
      : n === 'heuristic'
        ? 1
        : n === 'fixed-hour'
          ? 2
          : n === 'random'
            ? 3
            : n === 'oracle'
              ? 5
              : 4;
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/**
 * Writes summary.json and report.html into `dir` (created if missing); returns their paths.
 * @example const { summaryFile, reportFile } = await writeReport('out/', summary);
 */
export async function writeReport(
  dir: string,
  summary: SimulationSummary,
): Promise<{ summaryFile: string; reportFile: string }> {
  mkdirSync(dir, { recursive: true });
  const summaryFile = join(dir, 'summary.json');
  const reportFile = join(dir, 'report.html');
  writeFileSync(summaryFile, `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(reportFile, await renderReportHtml(summary));
  return { summaryFile, reportFile };
}
