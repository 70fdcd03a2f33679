//! A small strict JSON (RFC 8259) reader and writer: saved container specs, `husk
//! inspect` output and OCI config.json files, without pulling serde into a size-critical
//! static binary. Numbers stay as their validated text so u64 and i64 round-trip exactly;
//! objects keep insertion order as a Vec of pairs (they are small, so lookups are linear).
//! config.json is untrusted: the parser never panics, and caps nesting so that a deep
//! document cannot exhaust the stack.

use std::fmt::{self, Display, Write};

/// Deeper than any real config.json, shallow enough for the recursion to be harmless.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number's JSON text, so equality is textual ("1.0" != "1").
    Num(String),
    Str(String),
    Arr(Vec<Value>),
    /// Duplicate keys are all kept; `get` returns the last, as JavaScript and Go do.
    Obj(Vec<(String, Value)>),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn as_str(&self) -> Option<&str> {
        if let Value::Str(s) = self { Some(s) } else { None }
    }

    /// None for anything but an in-range integer written without fraction or exponent.
    pub fn as_u64(&self) -> Option<u64> {
        if let Value::Num(n) = self { n.parse().ok() } else { None }
    }

    pub fn as_i64(&self) -> Option<i64> {
        if let Value::Num(n) = self { n.parse().ok() } else { None }
    }

    pub fn as_bool(&self) -> Option<bool> {
        if let Value::Bool(b) = self { Some(*b) } else { None }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        if let Value::Arr(a) = self { Some(a) } else { None }
    }

    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        if let Value::Obj(o) = self { Some(o) } else { None }
    }

    fn write(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Num(n) => f.write_str(n),
            Value::Str(s) => write_str(f, s),
            Value::Arr(a) => write_seq(f, ['[', ']'], a.iter().map(|v| (None, v))),
            Value::Obj(o) => write_seq(f, ['{', '}'], o.iter().map(|(k, v)| (Some(k.as_str()), v))),
        }
    }
}

/// Compact JSON.
impl Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.write(f)
    }
}

fn write_seq<'a>(
    f: &mut fmt::Formatter,
    [open, close]: [char; 2],
    items: impl Iterator<Item = (Option<&'a str>, &'a Value)>,
) -> fmt::Result {
    f.write_char(open)?;
    let mut any = false;
    for (key, v) in items {
        if any {
            f.write_char(',')?;
        }
        any = true;
        if let Some(k) = key {
            write_str(f, k)?;
            f.write_char(':')?;
        }
        v.write(f)?;
    }
    f.write_char(close)
}

pub fn write_str(f: &mut dyn Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' | '\\' => write!(f, "\\{c}")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if c < ' ' => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

macro_rules! from {
    ($($t:ty => $f:expr),*) => {$(
        impl From<$t> for Value {
            fn from(x: $t) -> Value {
                $f(x)
            }
        }
    )*};
}
from!(bool => Value::Bool, String => Value::Str, &str => Value::str);
// Integers only: a float's Display can print NaN or inf, which JSON has no text for.
from!(u32 => num, u64 => num, i32 => num, i64 => num, usize => num);

fn num(n: impl Display) -> Value {
    Value::Num(n.to_string())
}

/// None is null.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Value {
        Value::Arr(items.into_iter().map(Into::into).collect())
    }
}

/// JSON written straight into text, for the saved spec: building a Value tree for it
/// cost 10 KB of binary. Keys are given for an object's members and left empty for an
/// array's elements; commas are placed from what the text ends with.
#[derive(Default)]
pub struct Writer(String);

impl Writer {
    fn key(&mut self, k: &str) -> &mut Writer {
        if !matches!(self.0.as_bytes().last(), None | Some(b'{' | b'[')) {
            self.0.push(',');
        }
        if !k.is_empty() {
            let _ = write_str(&mut self.0, k);
            self.0.push(':');
        }
        self
    }

    /// Opens an object (`{`) or an array (`[`) under key `k`.
    pub fn open(&mut self, k: &str, bracket: char) -> &mut Writer {
        self.key(k).0.push(bracket);
        self
    }

    pub fn close(&mut self, bracket: char) -> &mut Writer {
        self.0.push(bracket);
        self
    }

    pub fn str(&mut self, k: &str, v: &str) -> &mut Writer {
        let _ = write_str(&mut self.key(k).0, v);
        self
    }

    /// A number or a boolean.
    pub fn num(&mut self, k: &str, v: impl Display) -> &mut Writer {
        let _ = write!(self.key(k).0, "{v}");
        self
    }

    pub fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Writer {
        if let Some(v) = v {
            self.str(k, v);
        }
        self
    }

    pub fn opt_num(&mut self, k: &str, v: Option<impl Display>) -> &mut Writer {
        if let Some(v) = v {
            self.num(k, v);
        }
        self
    }

    /// A value that is JSON text already (a saved spec, annotations); `null` if empty.
    pub fn raw(&mut self, k: &str, json: &str) -> &mut Writer {
        self.key(k).0.push_str(if json.is_empty() { "null" } else { json });
        self
    }

    /// A number, or `null` for None.
    pub fn num_or_null(&mut self, k: &str, v: Option<impl Display>) -> &mut Writer {
        match v {
            Some(v) => self.num(k, v),
            None => self.raw(k, ""),
        }
    }

    pub fn strs<S: AsRef<str>>(&mut self, k: &str, list: &[S]) -> &mut Writer {
        self.open(k, '[');
        list.iter().for_each(|s| _ = self.str("", s.as_ref()));
        self.close(']')
    }

    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.0)
    }
}

/// Errors are one line naming the problem and its byte offset: "expected ':' at byte 17".
pub fn parse(text: &str) -> Result<Value, String> {
    let mut p = Parser { text, i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i < text.len() { fail(p.i, "trailing characters") } else { Ok(v) }
}

fn fail<T>(at: usize, what: &str) -> Result<T, String> {
    Err(format!("{what} at byte {at}"))
}

struct Parser<'a> {
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &[u8] {
        self.text.as_bytes().get(self.i..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.rest().first().copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.i += hit as usize;
        hit
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        self.ws();
        let at = self.i;
        match self.peek() {
            Some(b'[' | b'{') if depth >= MAX_DEPTH => fail(at, "nesting too deep"),
            Some(b'[') => {
                let mut items = Vec::new();
                self.seq(b']', |p| p.value(depth + 1).map(|v| items.push(v)))?;
                Ok(Value::Arr(items))
            }
            Some(b'{') => {
                let mut pairs = Vec::new();
                self.seq(b'}', |p| {
                    let key = p.string()?;
                    p.ws();
                    if !p.eat(b':') {
                        return fail(p.i, "expected ':'");
                    }
                    p.value(depth + 1).map(|v| pairs.push((key, v)))
                })?;
                Ok(Value::Obj(pairs))
            }
            Some(b'"') => self.string().map(Value::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => {
                for (word, v) in [("null", Value::Null), ("true", Value::Bool(true)), ("false", Value::Bool(false))] {
                    if self.rest().starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(v);
                    }
                }
                fail(at, if at < self.text.len() { "expected a value" } else { "unexpected end of input" })
            }
        }
    }

    /// The comma-separated items of an array or object, from its opening bracket.
    fn seq(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Result<(), String>) -> Result<(), String> {
        self.i += 1;
        self.ws();
        if self.eat(close) {
            return Ok(());
        }
        loop {
            self.ws();
            item(self)?;
            self.ws();
            if self.eat(close) {
                return Ok(());
            }
            if !self.eat(b',') {
                return fail(self.i, if close == b']' { "expected ',' or ']'" } else { "expected ',' or '}'" });
            }
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        self.eat(b'-');
        if self.eat(b'0') {
            if self.digits() > 0 {
                return fail(start, "leading zero in number");
            }
        } else if self.digits() == 0 {
            return fail(self.i, "expected a digit");
        }
        if self.eat(b'.') && self.digits() == 0 {
            return fail(self.i, "expected a digit");
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            if self.digits() == 0 {
                return fail(self.i, "expected a digit");
            }
        }
        // Only ASCII was consumed, so the slice is always on char boundaries.
        Ok(Value::Num(self.text.get(start..self.i).unwrap_or_default().into()))
    }

    fn string(&mut self) -> Result<String, String> {
        if !self.eat(b'"') {
            return fail(self.i, "expected '\"'");
        }
        let mut out = String::new();
        loop {
            let start = self.i;
            while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                self.i += 1;
            }
            // Runs stop only at ASCII bytes or the end, so they are whole UTF-8 sequences.
            out.push_str(self.text.get(start..self.i).unwrap_or_default());
            let at = self.i;
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    out.push(self.escape(at)?);
                }
                Some(_) => return fail(at, "control character in string"),
                None => return fail(at, "unterminated string"),
            }
        }
    }

    fn escape(&mut self, at: usize) -> Result<char, String> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.i += 1;
                let hi = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    let lo = if self.eat(b'\\') && self.eat(b'u') { self.hex4()? } else { 0 };
                    if !(0xDC00..0xE000).contains(&lo) {
                        return fail(at, "lone surrogate");
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                // from_u32 refuses exactly the surrogates, so this catches a lone low half.
                return char::from_u32(code).map_or_else(|| fail(at, "lone surrogate"), Ok);
            }
            _ => return fail(at, "invalid escape"),
        };
        self.i += 1;
        Ok(c)
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut n = 0;
        for _ in 0..4 {
            // to_digit, unlike from_str_radix, refuses a sign.
            let Some(d) = self.peek().and_then(|b| char::from(b).to_digit(16)) else {
                return fail(self.i, "expected a hex digit");
            };
            n = n * 16 + d;
            self.i += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text).unwrap_err()
    }

    #[test]
    fn round_trips_compactly() {
        let text = r#"{"a":[1,-2.5e+3,true,false,null],"b":{},"c":[],"d":"x","a":{"e":[{}]}}"#;
        let v = parse(text).unwrap();
        assert_eq!(v.to_string(), text);
        assert_eq!(parse(" \t\r\n[ 1 , {\"k\" : 2} ] \n").unwrap().to_string(), r#"[1,{"k":2}]"#);
    }

    #[test]
    fn escapes() {
        let v = parse(r#""\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\u0001""#).unwrap();
        assert_eq!(v.as_str(), Some("\"\\/\u{8}\u{c}\n\r\tAé€\u{1}"));
        assert_eq!(v.to_string(), r#""\"\\/\b\f\n\r\tAé€\u0001""#);
        assert_eq!(Value::str("\u{1f}\u{7f}").to_string(), "\"\\u001f\u{7f}\"");
        assert_eq!(err(r#""\x""#), "invalid escape at byte 1");
        assert_eq!(err(r#""\u12g4""#), "expected a hex digit at byte 5");
        assert_eq!(err(r#""\u+123""#), "expected a hex digit at byte 3");
        assert_eq!(err(r#""\u12"#), "expected a hex digit at byte 5");
    }

    #[test]
    fn surrogate_pairs() {
        let v = parse(r#""a\uD83D\uDE00b""#).unwrap();
        assert_eq!(v.as_str(), Some("a😀b"));
        assert_eq!(v.to_string(), "\"a😀b\"");
        assert_eq!(err(r#""\ud83d""#), "lone surrogate at byte 1");
        assert_eq!(err(r#""\ud83dx""#), "lone surrogate at byte 1");
        assert_eq!(err(r#""\ud83d\u0041""#), "lone surrogate at byte 1");
        assert_eq!(err(r#""x\ude00""#), "lone surrogate at byte 2");
    }

    #[test]
    fn numbers_are_exact() {
        let max = parse("18446744073709551615").unwrap();
        assert_eq!(max.as_u64(), Some(u64::MAX));
        assert_eq!(max.to_string(), "18446744073709551615");
        assert_eq!(Value::from(u64::MAX).as_u64(), Some(u64::MAX));
        let neg = parse("-1").unwrap();
        assert_eq!((neg.as_i64(), neg.as_u64()), (Some(-1), None));
        assert_eq!(Value::from(i64::MIN).to_string(), "-9223372036854775808");
        assert_eq!(parse("1.5e2").unwrap().as_u64(), None);
        assert_eq!(parse("1e2").unwrap().as_u64(), None);
        for ok in ["0", "-0", "0.0", "10", "1E-7", "-0e+0"] {
            assert_eq!(parse(ok).unwrap().to_string(), ok);
        }
        for bad in ["01", "-", "1.", ".5", "1e", "1e+", "+1", "-01", "0x1"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals_name_the_offset() {
        assert_eq!(err("[1,]"), "expected a value at byte 3");
        assert_eq!(err(r#"{"a":1,}"#), "expected '\"' at byte 7");
        assert_eq!(err("01"), "leading zero in number at byte 0");
        assert_eq!(err(r#""abc"#), "unterminated string at byte 4");
        assert_eq!(err("\"a\tb\""), "control character in string at byte 2");
        assert_eq!(err("{} x"), "trailing characters at byte 3");
        assert_eq!(err(r#"{"name" 1}"#), "expected ':' at byte 8");
        assert_eq!(err("[1 2]"), "expected ',' or ']' at byte 3");
        assert_eq!(err(r#"{"a":1 "b":2}"#), "expected ',' or '}' at byte 7");
        assert_eq!(err(""), "unexpected end of input at byte 0");
        assert_eq!(err("nul"), "expected a value at byte 0");
        assert_eq!(err("truex"), "trailing characters at byte 4");
    }

    #[test]
    fn depth_is_capped() {
        let nest = |n| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&nest(MAX_DEPTH)).is_ok());
        assert_eq!(err(&nest(MAX_DEPTH + 1)), "nesting too deep at byte 64");
        assert!(parse(&"{\"a\":".repeat(100_000)).is_err());
    }

    #[test]
    fn no_panic_on_any_prefix() {
        let text = r#"{"é":[1.5e-3,"\ud83d\ude00\n",{"k":null}],"t":true}"#;
        for end in (0..text.len()).filter(|&e| text.is_char_boundary(e)) {
            assert!(parse(&text[..end]).is_err(), "{end}");
        }
    }

    #[test]
    fn writer_and_accessors() {
        let mut w = Writer::default();
        w.open("", '{').str("name", "web").num("pid", 42u32).strs("args", &["sh", "-c"]).num("exit", -1i32);
        let text = w.num("detached", true).num_or_null("ip", None::<u8>).close('}').finish();
        assert_eq!(text, r#"{"name":"web","pid":42,"args":["sh","-c"],"exit":-1,"detached":true,"ip":null}"#);
        let v = parse(&text).unwrap();
        assert_eq!(v.to_string(), text);
        assert_eq!(v.get("name").and_then(Value::as_str), Some("web"));
        assert_eq!(v.get("pid").and_then(Value::as_u64), Some(42));
        assert_eq!(v.get("args").and_then(Value::as_array).map(<[_]>::len), Some(2));
        assert_eq!(v.get("detached").and_then(Value::as_bool), Some(true));
        assert!(v.get("none").is_none() && v.get("name").and_then(Value::as_u64).is_none());
        let mut w = Writer::default();
        w.open("", '{').str("a", "x\"y").opt_num("b", None::<u32>).open("c", '[').num("", 1).num("", true);
        assert_eq!(w.close(']').strs("d", &["e"]).close('}').finish(), r#"{"a":"x\"y","c":[1,true],"d":["e"]}"#);
        assert_eq!(parse("null").unwrap(), Value::Null);
        assert_eq!(parse(r#"{"a":1,"a":2}"#).unwrap().get("a").and_then(Value::as_u64), Some(2));
    }
}
