//! `docs/grafana-dashboard.json` against what slotway exports: every metric a panel
//! (or a template variable) queries must be one `/metrics` serves, so renaming a
//! metric without updating the dashboard fails here, not on an operator's screen.
//! No cluster needed: the names come from the crate's own metrics rendering, for a
//! router that has not connected anywhere.

use std::collections::BTreeSet;

use serde_json::Value;

const DASHBOARD: &str = include_str!("../docs/grafana-dashboard.json");

/// The series names slotway's `/metrics` serves. Taken from the `# TYPE` lines (so a
/// family with no samples yet, such as `slotway_node_info` before any topology, still
/// counts) and from the sample lines.
fn exported_metrics() -> BTreeSet<String> {
    let router = slotway::proxy::Proxy::new(&slotway::Config::with_seeds(["127.0.0.1:1"]));
    let text = slotway::admin::prometheus::render(slotway::admin::status::ClusterStatus::of(&router));
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            let (Some(name), Some(kind)) = (words.next(), words.next()) else { continue };
            // A histogram's or summary's family name is no series of its own: only
            // its suffixed series below exist in Prometheus.
            if !matches!(kind, "histogram" | "summary") {
                names.insert(name.to_string());
            }
            // Families whose samples carry suffixes of their own.
            let suffixes: &[&str] = match kind {
                "counter" if !name.ends_with("_total") => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                "summary" => &["_sum", "_count"],
                _ => &[],
            };
            for suffix in suffixes {
                names.insert(format!("{name}{suffix}"));
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

/// PromQL's functions and aggregation operators: names that are not metrics even
/// where they are not directly followed by `(` (`sum by (x) (...)`).
#[rustfmt::skip]
const PROMQL_FUNCTIONS: &[&str] = &[
    "abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp",
    "clamp_max", "clamp_min", "count", "count_over_time", "count_values", "day_of_month", "day_of_week",
    "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor", "group", "histogram_quantile",
    "holt_winters", "hour", "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time",
    "ln", "log10", "log2", "max", "max_over_time", "min", "min_over_time", "minute", "month", "predict_linear",
    "present_over_time", "quantile", "quantile_over_time", "rate", "resets", "round", "scalar", "sgn", "sort",
    "sort_desc", "sqrt", "stddev", "stddev_over_time", "stdvar", "stdvar_over_time", "sum", "sum_over_time",
    "time", "timestamp", "topk", "vector", "year",
];

/// Keywords that are followed by a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Other keywords: binary operators and modifiers.
const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"];

/// The metric names a PromQL expression (with Grafana variables in it) refers to.
/// A small lexer rather than a full parser: strings, label matchers `{...}`, ranges
/// `[...]`, Grafana variables, numbers and durations are skipped; an identifier is a
/// metric unless it is a function, an aggregation, a keyword, or a label in a `by (...)`
/// list. Anything it cannot place is reported as a metric, so a mistake fails the test.
fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    let skip_string = |i: &mut usize| {
        let quote = chars[*i];
        *i += 1;
        while *i < chars.len() && chars[*i] != quote {
            if chars[*i] == '\\' {
                *i += 1;
            }
            *i += 1;
        }
        *i += 1;
    };
    let skip_until = |i: &mut usize, close: char| {
        while *i < chars.len() && chars[*i] != close {
            if matches!(chars[*i], '"' | '\'' | '`') {
                skip_string(i);
            } else {
                *i += 1;
            }
        }
        *i += 1;
    };
    let is_ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => skip_string(&mut i),
            '{' => skip_until(&mut i, '}'),
            '[' => skip_until(&mut i, ']'),
            // Grafana variables: $name, ${name}, ${name:format}, $__rate_interval.
            '$' if chars.get(i + 1) == Some(&'{') => skip_until(&mut i, '}'),
            '$' => {
                i += 1;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
            }
            // Numbers and durations (5m, 1.5e3, 0x1f).
            c if c.is_ascii_digit() => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let lower = word.to_ascii_lowercase();
                if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                    if chars.get(next) == Some(&'(') {
                        i = next;
                        skip_until(&mut i, ')');
                    }
                } else if KEYWORDS.contains(&lower.as_str())
                    || PROMQL_FUNCTIONS.contains(&word.as_str())
                    || chars.get(next) == Some(&'(')
                {
                    // A function, an aggregation or an operator.
                } else {
                    names.push(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// Every PromQL expression in the dashboard, with where it is: each panel's targets
/// (rows' nested panels too), and the metric queries of template variables
/// (`label_values(<expr>, <label>)` names the metrics of `<expr>`).
fn expressions(dashboard: &Value) -> Vec<(String, String)> {
    fn panels<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            panels(&panel["panels"], out);
        }
    }
    let mut all = Vec::new();
    panels(&dashboard["panels"], &mut all);
    let mut exprs = Vec::new();
    for panel in all {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                exprs.push((
                    format!("panel '{title}' target {}", target["refId"].as_str().unwrap_or("?")),
                    expr.to_string(),
                ));
            }
        }
    }
    for var in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if var["type"] != "query" {
            continue;
        }
        let query = var["query"]["query"].as_str().or_else(|| var["query"].as_str()).unwrap_or("");
        let query = match query.trim().strip_prefix("label_values(").and_then(|q| q.strip_suffix(')')) {
            // The label argument is a label name, not a metric.
            Some(args) => args.rsplit_once(',').map_or(args, |(expr, _label)| expr).to_string(),
            None => query.to_string(),
        };
        exprs.push((format!("variable '{}'", var["name"].as_str().unwrap_or("?")), query));
    }
    exprs
}

#[test]
fn exported_metrics_are_found() {
    // Guards the test itself: if rendering broke, every check below would pass vacuously.
    let exported = exported_metrics();
    for name in ["slotway_commands_total", "slotway_connected_clients", "slotway_node_info", "slotway_redirects_total"]
    {
        assert!(exported.contains(name), "{name} not among the exported metrics: {exported:?}");
    }
}

#[test]
fn lexer_finds_metric_names() {
    assert_eq!(
        metric_names(
            r#"sum by (instance, kind) (rate(slotway_redirects_total{job=~"$job", kind="moved"}[$__rate_interval]))"#
        ),
        ["slotway_redirects_total"]
    );
    assert_eq!(
        metric_names("count by (addr, role) (slotway_node_info) / on (addr) group_left (role) up offset 5m > bool 0"),
        ["slotway_node_info", "up"]
    );
    assert_eq!(
        metric_names(r#"label_replace(slotway_commands_total, "x", "$1", "instance", "(.*)") * 1e3"#),
        ["slotway_commands_total"]
    );
    // A name that does not exist is found, so the check below would refuse it.
    assert_eq!(metric_names("rate(slotway_no_such_metric_total[5m])"), ["slotway_no_such_metric_total"]);
}

#[test]
fn dashboard_only_queries_metrics_slotway_exports() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("docs/grafana-dashboard.json is not valid JSON");
    let exported = exported_metrics();
    let exprs = expressions(&dashboard);
    assert!(exprs.len() >= 10, "expected the dashboard's panel queries, found {}", exprs.len());
    let mut unknown = Vec::new();
    for (place, expr) in &exprs {
        let names = metric_names(expr);
        if names.is_empty() && !place.starts_with("variable") {
            unknown.push(format!("{place}: no metric in `{expr}`"));
        }
        for name in names {
            if !exported.contains(&name) {
                unknown.push(format!("{place}: `{name}` is not exported by slotway (in `{expr}`)"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "dashboard queries metrics slotway does not export:\n{}\nexported: {exported:?}",
        unknown.join("\n")
    );
}

#[test]
fn every_exported_metric_has_a_panel() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    let used: BTreeSet<String> = expressions(&dashboard).iter().flat_map(|(_, expr)| metric_names(expr)).collect();
    let unused: Vec<String> = exported_metrics().into_iter().filter(|n| !used.contains(n)).collect();
    assert!(
        unused.is_empty(),
        "metrics slotway exports with no panel in docs/grafana-dashboard.json (add one): {unused:?}"
    );
}

#[test]
fn panels_use_the_datasource_variable() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "schemaVersion");
    let vars = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        vars.iter().any(|v| v["name"] == "DS_PROMETHEUS" && v["type"] == "datasource" && v["query"] == "prometheus"),
        "no DS_PROMETHEUS datasource variable"
    );
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "panel '{}'", panel["title"]);
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], "${DS_PROMETHEUS}", "panel '{}' target", panel["title"]);
        }
    }
}
