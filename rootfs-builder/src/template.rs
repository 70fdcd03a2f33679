//! The part of Go's text/template that docker users write in `--format`: text and
//! `{{ }}` actions with `-` trimming; `.`, `$`, field chains (`.State.Pid`, `$v.Name`);
//! string, number and boolean literals; parentheses and `|` pipelines; `if`/`else if`/
//! `else`, `range` (with `$i, $v :=`), `with`, `end`; and the functions people use:
//! json, index, len, join, split, upper, lower, title, print, println, printf, eq, ne,
//! not, and, or. Values are JSON values; they print as Go prints its own (`[a b]`,
//! `map[k:v]`, `<no value>` for a missing key).

use serde_json::Value;

#[derive(Debug, Clone)]
enum Arg {
    Dot(Vec<String>),
    Var(String, Vec<String>),
    Lit(Value),
    Func(String),
    Pipe(Pipeline),
}

type Pipeline = Vec<Vec<Arg>>;

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Print(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Range(Option<String>, Option<String>, Pipeline, Vec<Node>, Vec<Node>),
}

pub struct Template(Vec<Node>);

/// A listing's `--format` as docker reads it (ps, stats, volume ls): `\t` and `\n` as a
/// tab and a newline, `table TEMPLATE` with a header row and aligned columns, `json` for
/// a JSON line each, `default` when none is given (or just `table`).
pub struct Listing {
    table: bool,
    template: Template,
}

impl Listing {
    pub fn new(format: Option<&str>, default: &str) -> Result<Listing, Fail> {
        let format = format.map(|f| f.replace("\\t", "\t").replace("\\n", "\n"));
        let format = match format.as_deref() {
            None | Some("table") => default,
            Some("json") => "{{json .}}",
            Some(f) => f,
        };
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, format),
        };
        Ok(Listing { table, template: Template::parse(body)? })
    }

    /// The rows rendered (after `headers` rendered by the same template, for a table),
    /// a line each; None when there is nothing to print (no rows, no header).
    pub fn render(&self, headers: &Value, rows: &[Value]) -> Result<Option<String>, Fail> {
        let mut lines = Vec::new();
        if self.table {
            lines.push(self.template.execute(headers)?);
        }
        for r in rows {
            lines.push(self.template.execute(r)?);
        }
        Ok(match self.table {
            true => Some(columns(&lines)),
            false => (!lines.is_empty()).then(|| lines.join("\n")),
        })
    }
}

/// Go's tabwriter as docker sets it (minimum width 10, padding 3): each tab-ended cell
/// padded to its column's width; the last cell of a line as it is.
pub fn columns(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|c| {
            let widest = rows.iter().filter(|r| c + 1 < r.len()).map(|r| r[c].chars().count()).max().unwrap_or(0);
            (widest + 3).max(10)
        })
        .collect();
    let out: Vec<String> = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(c, cell)| if c + 1 < r.len() { format!("{cell:<w$}", w = widths[c]) } else { cell.to_string() })
                .collect::<String>()
        })
        .collect();
    out.join("\n")
}

/// Why a template cannot be parsed or executed, as one line.
pub type Fail = String;

impl Template {
    pub fn parse(text: &str) -> Result<Template, Fail> {
        let tokens = lex(text)?;
        let mut at = 0;
        let (nodes, stop) = block(&tokens, &mut at)?;
        match stop {
            None => Ok(Template(nodes)),
            Some(word) => Err(format!("unexpected {{{{{word}}}}}")),
        }
    }

    pub fn execute(&self, data: &Value) -> Result<String, Fail> {
        let mut out = String::new();
        let mut vars = vec![("$".to_string(), data.clone())];
        run(&self.0, data, &mut vars, &mut out)?;
        Ok(out)
    }
}

enum Token {
    Text(String),
    Action(String),
}

fn lex(text: &str) -> Result<Vec<Token>, Fail> {
    let mut tokens = Vec::new();
    let mut rest = text;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let mut before = &rest[..open];
        if trim_next {
            before = before.trim_start();
        }
        let inner_start = open + 2;
        let close = rest[inner_start..].find("}}").ok_or("unclosed action")? + inner_start;
        let mut inner = &rest[inner_start..close];
        if let Some(s) = inner.strip_prefix("- ") {
            before = before.trim_end();
            inner = s;
        }
        trim_next = false;
        if let Some(s) = inner.strip_suffix(" -") {
            trim_next = true;
            inner = s;
        }
        if !before.is_empty() {
            tokens.push(Token::Text(before.to_string()));
        }
        let inner = inner.trim();
        if !(inner.starts_with("/*") && inner.ends_with("*/")) {
            tokens.push(Token::Action(inner.to_string()));
        }
        rest = &rest[close + 2..];
    }
    let last = if trim_next { rest.trim_start() } else { rest };
    if !last.is_empty() {
        tokens.push(Token::Text(last.to_string()));
    }
    Ok(tokens)
}

/// Nodes up to an `end` or `else` (returned as the stop word) or the end of the text.
fn block(tokens: &[Token], at: &mut usize) -> Result<(Vec<Node>, Option<String>), Fail> {
    let mut nodes = Vec::new();
    while let Some(token) = tokens.get(*at) {
        *at += 1;
        let action = match token {
            Token::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                continue;
            }
            Token::Action(a) => a.as_str(),
        };
        let (word, rest) = action.split_once(char::is_whitespace).unwrap_or((action, ""));
        match word {
            "end" | "else" => return Ok((nodes, Some(action.to_string()))),
            "if" | "with" => {
                let pipe = pipeline(rest)?;
                let (body, other) = branches(tokens, at)?;
                nodes.push(if word == "if" { Node::If(pipe, body, other) } else { Node::With(pipe, body, other) });
            }
            "range" => {
                let (key, value, pipe) = match rest.split_once(":=") {
                    Some((names, pipe)) => {
                        let names: Vec<&str> = names.split(',').map(str::trim).collect();
                        match names[..] {
                            [v] => (None, Some(v.to_string()), pipe),
                            [k, v] => (Some(k.to_string()), Some(v.to_string()), pipe),
                            _ => return Err(format!("bad range {rest}")),
                        }
                    }
                    None => (None, None, rest),
                };
                let pipe = pipeline(pipe)?;
                let (body, other) = branches(tokens, at)?;
                nodes.push(Node::Range(key, value, pipe, body, other));
            }
            _ => nodes.push(Node::Print(pipeline(action)?)),
        }
    }
    Ok((nodes, None))
}

/// The body of an if/with/range and its else part (an `else if` nests an if there).
fn branches(tokens: &[Token], at: &mut usize) -> Result<(Vec<Node>, Vec<Node>), Fail> {
    let (body, stop) = block(tokens, at)?;
    match stop.as_deref() {
        Some("end") => Ok((body, Vec::new())),
        Some("else") => {
            let (other, stop) = block(tokens, at)?;
            match stop.as_deref() {
                Some("end") => Ok((body, other)),
                _ => Err("missing {{end}}".into()),
            }
        }
        Some(s) if s.starts_with("else if ") => {
            let pipe = pipeline(&s[8..])?;
            let (inner, other) = branches(tokens, at)?;
            Ok((body, vec![Node::If(pipe, inner, other)]))
        }
        _ => Err("missing {{end}}".into()),
    }
}

fn pipeline(text: &str) -> Result<Pipeline, Fail> {
    let words = words(text)?;
    let mut pipe = vec![Vec::new()];
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        if w == "|" {
            pipe.push(Vec::new());
            continue;
        }
        let arg = if w == "(" {
            let mut depth = 1;
            let start = i;
            while i < words.len() && depth > 0 {
                depth += match words[i].as_str() {
                    "(" => 1,
                    ")" => -1,
                    _ => 0,
                };
                i += 1;
            }
            if depth != 0 {
                return Err(format!("unclosed ( in {text}"));
            }
            Arg::Pipe(pipeline(&words[start..i - 1].join(" "))?)
        } else {
            operand(w)?
        };
        pipe.last_mut().unwrap().push(arg);
    }
    if pipe.iter().any(Vec::is_empty) {
        return Err(format!("empty command in {{{{{text}}}}}"));
    }
    Ok(pipe)
}

/// Splits an action into words: quoted strings kept whole, parentheses and | apart.
fn words(text: &str) -> Result<Vec<String>, Fail> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' || c == '`' {
            let mut w = String::from(c);
            chars.next();
            let mut closed = false;
            while let Some(d) = chars.next() {
                w.push(d);
                if d == '\\' && c == '"' {
                    w.extend(chars.next());
                } else if d == c {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return Err(format!("unterminated string in {text}"));
            }
            out.push(w);
        } else if matches!(c, '(' | ')' | '|') {
            out.push(c.to_string());
            chars.next();
        } else {
            let mut w = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() || matches!(d, '(' | ')' | '|') {
                    break;
                }
                w.push(d);
                chars.next();
            }
            out.push(w);
        }
    }
    Ok(out)
}

fn operand(w: &str) -> Result<Arg, Fail> {
    let fields = |chain: &str| chain.split('.').filter(|f| !f.is_empty()).map(String::from).collect();
    Ok(if w.starts_with('.') {
        Arg::Dot(fields(w))
    } else if let Some(var) = w.strip_prefix('$') {
        let (name, chain) = var.split_once('.').unwrap_or((var, ""));
        Arg::Var(format!("${name}"), fields(chain))
    } else if w.starts_with('"') {
        Arg::Lit(Value::String(serde_json::from_str(w).map_err(|_| format!("bad string {w}"))?))
    } else if let Some(raw) = w.strip_prefix('`') {
        Arg::Lit(Value::String(raw.trim_end_matches('`').to_string()))
    } else if w == "true" || w == "false" {
        Arg::Lit(Value::Bool(w == "true"))
    } else if w.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        Arg::Lit(serde_json::from_str(w).map_err(|_| format!("bad number {w}"))?)
    } else if FUNCTIONS.contains(&w) {
        Arg::Func(w.to_string())
    } else {
        return Err(format!("function \"{w}\" not defined"));
    })
}

const FUNCTIONS: [&str; 17] = [
    "json", "index", "len", "join", "split", "upper", "lower", "title", "print", "println", "printf", "eq", "ne",
    "not", "and", "or", "truncate",
];

type Vars = Vec<(String, Value)>;

fn run(nodes: &[Node], dot: &Value, vars: &mut Vars, out: &mut String) -> Result<(), Fail> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Print(p) => out.push_str(&show(&eval(p, dot, vars)?)),
            Node::If(p, body, other) => {
                let branch = if truth(&eval(p, dot, vars)?) { body } else { other };
                run(branch, dot, vars, out)?;
            }
            Node::With(p, body, other) => {
                let v = eval(p, dot, vars)?;
                if truth(&v) { run(body, &v, vars, out)? } else { run(other, dot, vars, out)? }
            }
            Node::Range(key, value, p, body, other) => {
                let items: Vec<(Value, Value)> = match eval(p, dot, vars)? {
                    Value::Array(a) => a.into_iter().enumerate().map(|(i, v)| (Value::from(i), v)).collect(),
                    Value::Object(m) => {
                        sorted(&m).into_iter().map(|(k, v)| (Value::from(k.clone()), v.clone())).collect()
                    }
                    Value::Null => Vec::new(),
                    other => return Err(format!("range can't iterate over {}", show(&other))),
                };
                if items.is_empty() {
                    run(other, dot, vars, out)?;
                }
                for (k, v) in items {
                    let depth = vars.len();
                    match (key, value) {
                        (Some(kn), Some(vn)) => vars.extend([(kn.clone(), k), (vn.clone(), v.clone())]),
                        (None, Some(vn)) => vars.push((vn.clone(), v.clone())),
                        _ => {}
                    }
                    run(body, &v, vars, out)?;
                    vars.truncate(depth);
                }
            }
        }
    }
    Ok(())
}

fn eval(pipe: &Pipeline, dot: &Value, vars: &Vars) -> Result<Value, Fail> {
    let mut piped: Option<Value> = None;
    for cmd in pipe {
        let mut args = Vec::new();
        for a in &cmd[1..] {
            args.push(value(a, dot, vars)?);
        }
        args.extend(piped.take());
        piped = Some(match &cmd[0] {
            Arg::Func(f) => call(f, args)?,
            first if args.is_empty() => value(first, dot, vars)?,
            _ => return Err("only a function takes arguments".into()),
        });
    }
    Ok(piped.unwrap_or(Value::Null))
}

/// A missing key: Go's "<no value>".
const MISSING: &str = "\u{0}missing";

fn value(arg: &Arg, dot: &Value, vars: &Vars) -> Result<Value, Fail> {
    let walk = |mut v: &Value, chain: &[String]| -> Value {
        for f in chain {
            match v.get(f) {
                Some(next) => v = next,
                None => return Value::String(MISSING.into()),
            }
        }
        v.clone()
    };
    Ok(match arg {
        Arg::Dot(chain) => walk(dot, chain),
        Arg::Var(name, chain) => match vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => walk(v, chain),
            None => return Err(format!("undefined variable: {name}")),
        },
        Arg::Lit(v) => v.clone(),
        Arg::Func(f) => call(f, Vec::new())?,
        Arg::Pipe(p) => eval(p, dot, vars)?,
    })
}

fn call(f: &str, args: Vec<Value>) -> Result<Value, Fail> {
    let text = |i: usize| args.get(i).map(show).unwrap_or_default();
    let need = |n: usize| if args.len() < n { Err(format!("wrong number of args for {f}")) } else { Ok(()) };
    Ok(match f {
        "json" => {
            need(1)?;
            Value::String(go_json(&args[0]))
        }
        "index" => {
            need(1)?;
            let mut v = args[0].clone();
            for key in &args[1..] {
                v = match (&v, key) {
                    (Value::Array(a), Value::Number(n)) => {
                        a.get(n.as_u64().unwrap_or(u64::MAX) as usize).cloned().ok_or("index out of range")?
                    }
                    (Value::Object(m), k) => m.get(&show(k)).cloned().unwrap_or(Value::String(MISSING.into())),
                    _ => return Err(format!("can't index item of type {}", kind(&v))),
                };
            }
            v
        }
        "len" => {
            need(1)?;
            Value::from(match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(s) => s.len(),
                other => return Err(format!("len of {}", kind(other))),
            })
        }
        "join" => {
            need(2)?;
            let items: Vec<String> = args[0].as_array().map(|a| a.iter().map(show).collect()).unwrap_or_default();
            Value::String(items.join(&text(1)))
        }
        "split" => {
            need(2)?;
            Value::Array(text(0).split(&text(1)).map(Value::from).collect())
        }
        "upper" => Value::String(text(0).to_uppercase()),
        "lower" => Value::String(text(0).to_lowercase()),
        "title" => {
            let t = text(0);
            let mut c = t.chars();
            Value::String(c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default())
        }
        "truncate" => {
            need(2)?;
            let n = args[1].as_u64().unwrap_or(0) as usize;
            Value::String(text(0).chars().take(n).collect())
        }
        "print" => Value::String(args.iter().map(show).collect::<Vec<_>>().join("")),
        "println" => Value::String(args.iter().map(show).collect::<Vec<_>>().join(" ") + "\n"),
        "printf" => {
            need(1)?;
            Value::String(printf(&text(0), &args[1..]))
        }
        "eq" | "ne" => {
            need(2)?;
            let same = args[1..].iter().any(|a| a == &args[0]);
            Value::Bool(same == (f == "eq"))
        }
        "not" => Value::Bool(!args.first().is_some_and(truth)),
        "and" => args.iter().find(|a| !truth(a)).or(args.last()).cloned().unwrap_or(Value::Null),
        "or" => args.iter().find(|a| truth(a)).or(args.last()).cloned().unwrap_or(Value::Null),
        _ => return Err(format!("function \"{f}\" not defined")),
    })
}

fn printf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(&go_json(next.next().unwrap_or(&Value::Null))),
            Some(_) => out.push_str(&next.next().map(show).unwrap_or_else(|| "%!v(MISSING)".into())),
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty() && s != MISSING,
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

fn sorted(m: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut items: Vec<_> = m.iter().collect();
    items.sort_by(|a, b| a.0.cmp(b.0));
    items
}

/// A value as Go's fmt prints it with %v.
pub fn show(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) if s == MISSING => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let items: Vec<String> = sorted(m).into_iter().map(|(k, v)| format!("{k}:{}", show(v))).collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// JSON as Go's encoding/json writes it: compact, members in the order they have
/// (docker's structs' field order; its maps are built sorted), and <, > and & escaped
/// for HTML.
pub fn go_json(v: &Value) -> String {
    match v {
        Value::String(s) if s == MISSING => "null".into(),
        other => html_escape(&other.to_string()),
    }
}

pub fn html_escape(json: &str) -> String {
    json.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().execute(v).unwrap()
    }

    #[test]
    fn the_templates_docker_users_write_render_as_go_renders_them() {
        let v = json!({"Name": "/web", "State": {"Pid": 42, "Running": true, "Status": "running"},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"a": "x&y", "b": "2"}, "Entrypoint": null},
            "NetworkSettings": {"Networks": {"n1": {"IPAddress": "10.0.0.2"}}}});
        assert_eq!(render("{{.State.Pid}}", &v), "42");
        assert_eq!(render("{{.Name}} {{.State.Status}}", &v), "/web running");
        assert_eq!(render("{{json .Config.Env}}", &v), r#"["A=1","B=2"]"#);
        assert_eq!(render("{{json .Config.Labels}}", &v), r#"{"a":"x\u0026y","b":"2"}"#);
        assert_eq!(render("{{.Config.Env}}", &v), "[A=1 B=2]");
        assert_eq!(render("{{.Config.Labels}}", &v), "map[a:x&y b:2]");
        assert_eq!(render("{{range .Config.Env}}{{.}};{{end}}", &v), "A=1;B=2;");
        assert_eq!(render("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}", &v), "a=x&y b=2 ");
        assert_eq!(render("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", &v), "10.0.0.2");
        assert_eq!(render("{{index .Config.Labels \"b\"}}", &v), "2");
        assert_eq!(render("{{index .Config.Env 1}}", &v), "B=2");
        assert_eq!(render("{{if .State.Running}}up{{else}}down{{end}}", &v), "up");
        assert_eq!(render("{{if not .State.Running}}up{{else if .Name}}named{{end}}", &v), "named");
        assert_eq!(render("{{with .State}}{{.Status}}{{end}}", &v), "running");
        assert_eq!(render("{{.Nope}} {{.Config.Entrypoint}}", &v), "<no value> <nil>");
        assert_eq!(render("{{.Name | upper}} {{len .Config.Env}} {{join .Config.Env \",\"}}", &v), "/WEB 2 A=1,B=2");
        assert_eq!(render("{{printf \"%s:%d\" .Name .State.Pid}}", &v), "/web:42");
        assert_eq!(render("a\n  {{- .State.Pid -}}  \nb", &v), "a42b");
        assert_eq!(render("{{eq .State.Status \"running\"}} {{/* note */}}x", &v), "true x");
        assert_eq!(render("{{(index .Config.Env 0) | lower}}", &v), "a=1");
    }

    #[test]
    fn broken_templates_are_refused_with_the_reason() {
        for (t, why) in [
            ("{{.A", "unclosed action"),
            ("{{if .A}}x", "missing {{end}}"),
            ("{{end}}", "unexpected {{end}}"),
            ("{{nosuch .A}}", "function \"nosuch\" not defined"),
            ("{{\"x}}", "unterminated string"),
        ] {
            let err = Template::parse(t).err().unwrap_or_default();
            assert!(err.contains(why), "{t}: {err}");
        }
        let err = Template::parse("{{$x}}").unwrap().execute(&json!({})).unwrap_err();
        assert!(err.contains("undefined variable"), "{err}");
    }
}
