//! The style sheet of the HTML pages, inline in each (no network).

/// The comparison page's rules, which the run report's page shares.
pub(crate) const STYLE: &str = "\
:root{color-scheme:light;--red:#b42318;--red-bg:#fef3f2;--green:#067647;--green-bg:#ecfdf3;\
--amber:#93370d;--amber-bg:#fffaeb;--muted:#475467;--line:#d0d5dd;--head:#f2f4f7}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Liberation Sans\",sans-serif;\
color:#101828;background:#fff;margin:1.5rem auto;max-width:84rem;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .4rem}
h2{font-size:1.3rem;margin:2.2rem 0 .6rem;padding-bottom:.2rem;border-bottom:2px solid var(--line);\
overflow-wrap:anywhere}
h3{font-size:1.05rem;margin:1.6rem 0 .3rem;overflow-wrap:anywhere}
p{margin:.3rem 0}
.muted,.note{color:var(--muted)}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem}
th,td{border-bottom:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
thead th{background:var(--head);font-weight:600;font-size:.9em}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.summary td{font-size:1.15em;font-weight:600}
table.latency{width:auto}
code,.val{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,\"Liberation Mono\",monospace;\
font-size:.88em;overflow-wrap:anywhere}
.val{display:block;white-space:pre-wrap;unicode-bidi:isolate;background:#f9fafb;\
border:1px solid var(--line);border-radius:3px;padding:.1rem .3rem;min-height:1.4em}
.val:empty::after{content:\"(empty)\";color:var(--muted);font-style:italic}
.absent{display:block;color:var(--muted);font-style:italic;padding:.1rem .3rem}
.badge{display:inline-block;border:1px solid;border-radius:1em;padding:0 .55em;font-size:.78em;\
font-weight:600;white-space:nowrap;vertical-align:middle}
.badge.differing,.badge.fail{color:var(--red);background:var(--red-bg)}
.badge.noise{color:var(--amber);background:var(--amber-bg)}
.badge.equal,.badge.pass{color:var(--green);background:var(--green-bg)}
tr.endpoint[data-state=differing] .diff-rate,tr.threshold[data-passed=false] td{color:var(--red);\
font-weight:600}
tr.group th{background:var(--amber-bg);color:var(--amber);font-weight:600}
tr.group.candidate th{background:var(--red-bg);color:var(--red)}
tr.field.noise td{color:var(--muted)}
td.path{width:22%}
td.examples{width:48%}
.example{margin:.1rem 0 .5rem}
.req{font-size:.8em;color:var(--muted)}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:.3rem}
.side{font-size:.72em;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
details summary{cursor:pointer;color:var(--muted)}
a{color:inherit}
@media print{body{margin:0;max-width:none;font-size:10pt}h2{break-before:auto}\
tr,.example{break-inside:avoid}*{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
";
