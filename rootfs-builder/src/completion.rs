//! `husk completion bash|zsh|fish` and `husk man [COMMAND]`: shell completions and man
//! pages generated from husk's own flag tables, as `husk COMMAND --help` prints them
//! (one table per command drives husk's parsing and its help, so what is completed and
//! documented is what husk accepts).

use std::ffi::OsString;

use crate::container::run_husk;
use crate::error::{Error, Result};
use crate::verbs::{self, arity, parse};

const COMPLETION: &str = "\
Usage: {P} completion bash|zsh|fish

Print a completion script for the shell: commands, each command's flags, and the
names of containers where a command takes them. Install it with, e.g.,
  husk completion bash > /etc/bash_completion.d/husk
  husk completion zsh > \"${fpath[1]}/_husk\"
  husk completion fish > ~/.config/fish/completions/husk.fish
";

const MAN: &str = "\
Usage: {P} man [COMMAND]

Print the man page (roff) of husk or of one command, made from its --help:
  husk man run | man -l -
";

/// One flag as a command's help lists it.
#[derive(Debug, PartialEq)]
pub struct Flag {
    pub long: String,
    pub short: Option<char>,
    pub value: Option<String>,
    pub help: String,
}

/// A command's usage line, description and flags, read from `husk CMD --help`.
pub struct Help {
    pub usage: String,
    pub about: String,
    pub flags: Vec<Flag>,
}

/// Reads husk's help format: "Usage: ...", a description, "Options:" and then one
/// line per flag ("  -e, --env KEY=VAL    text", continuation lines indented).
pub fn read_help(text: &str) -> Help {
    let mut lines = text.lines();
    let usage = lines.next().unwrap_or_default().trim_start_matches("Usage: ").to_string();
    let mut about = Vec::new();
    let mut flags: Vec<Flag> = Vec::new();
    let mut in_options = false;
    for line in lines {
        if line.trim_end() == "Options:" {
            in_options = true;
            continue;
        }
        if !in_options {
            about.push(line.trim());
            continue;
        }
        let trimmed = line.trim_start();
        if !trimmed.starts_with('-') {
            if let Some(last) = flags.last_mut() {
                last.help = format!("{} {}", last.help, trimmed.trim()).trim().to_string();
            }
            continue;
        }
        // "-e, --env KEY=VAL", then two or more spaces, then the text.
        let (left, help) = match trimmed.find("  ") {
            Some(at) => (&trimmed[..at], trimmed[at..].trim()),
            None => (trimmed, ""),
        };
        let (short, rest) = match left.split_once(", ") {
            Some((s, rest)) if s.len() == 2 => (s.chars().nth(1), rest),
            _ => (None, left),
        };
        let Some(rest) = rest.strip_prefix("--") else { continue };
        let (long, value) = match rest.split_once(' ') {
            Some((l, v)) => (l, Some(v.trim().to_string())),
            None => (rest, None),
        };
        flags.push(Flag { long: long.to_string(), short, value, help: help.to_string() });
    }
    let about = about.join(" ").trim().to_string();
    Help { usage, about, flags }
}

/// The commands husk's top-level help lists (its own and the image commands).
pub fn commands() -> Result<Vec<String>> {
    let top = run_husk(&["--help"])?;
    let mut out: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    let images = top.lines().skip_while(|l| !l.starts_with("Images")).nth(1).unwrap_or_default();
    out.extend(images.split(',').map(|w| w.trim().to_string()).filter(|w| !w.is_empty()));
    out.extend(["completion", "man"].map(String::from));
    Ok(out)
}

fn help_of(command: &str) -> Result<Help> {
    match command {
        "completion" => Ok(read_help(&COMPLETION.replace("{P}", "husk"))),
        "man" => Ok(read_help(&MAN.replace("{P}", "husk"))),
        _ => Ok(read_help(&run_husk(&[command, "--help"])?)),
    }
}

/// Commands whose words are container names.
const TAKES_NAMES: &str = "start stop kill rm wait logs exec inspect port stats export commit pause resume";

pub fn completion(args: Vec<OsString>) -> Result<u8> {
    let Some(o) = parse("completion", args, COMPLETION, |_, _| Ok(false))? else { return Ok(0) };
    arity("completion", &o.words, 1, 1)?;
    let commands = commands()?;
    let mut tables = Vec::new();
    for c in &commands {
        tables.push((c.clone(), help_of(c)?));
    }
    let script = match o.words[0].as_str() {
        "bash" => bash(&tables),
        "zsh" => format!(
            "#compdef husk\n# husk's completion, the bash one through zsh's bashcompinit.\nautoload -U +X bashcompinit && bashcompinit\n{}",
            bash(&tables)
        ),
        "fish" => fish(&tables),
        other => return Err(verbs::usage("completion", format!("unknown shell {other} (bash, zsh or fish)"))),
    };
    print!("{script}");
    Ok(0)
}

fn flag_words(h: &Help) -> String {
    let mut words: Vec<String> = h.flags.iter().map(|f| format!("--{}", f.long)).collect();
    words.extend(h.flags.iter().filter_map(|f| f.short.map(|c| format!("-{c}"))));
    words.push("--help".into());
    words.join(" ")
}

fn bash(tables: &[(String, Help)]) -> String {
    let names: Vec<&str> = tables.iter().map(|(c, _)| c.as_str()).collect();
    let mut cases = String::new();
    for (c, h) in tables {
        let values: Vec<String> = h
            .flags
            .iter()
            .filter(|f| f.value.is_some())
            .flat_map(|f| [Some(format!("--{}", f.long)), f.short.map(|s| format!("-{s}"))])
            .flatten()
            .collect();
        cases.push_str(&format!("        {c}) flags=\"{}\"; valued=\" {} \" ;;\n", flag_words(h), values.join(" ")));
    }
    format!(
        r#"# bash completion for husk, generated by 'husk completion bash' from husk's flag tables.
_husk() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
    local i cmd="" flags="" valued=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${{COMP_WORDS[i]}} in
            --root|--log|--log-format) ((i++)) ;;
            -*) ;;
            *) cmd=${{COMP_WORDS[i]}}; break ;;
        esac
    done
    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "{commands} --root --log --log-format --debug --help --version" -- "$cur"))
        return
    fi
    case $cmd in
{cases}    esac
    if [[ $valued == *" $prev "* ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [[ " {takes} " == *" $cmd "* ]]; then
        COMPREPLY=($(compgen -W "$(husk ps -a -q 2>/dev/null)" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -F _husk husk
"#,
        commands = names.join(" "),
        takes = TAKES_NAMES,
    )
}

fn fish_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn fish(tables: &[(String, Help)]) -> String {
    let names: Vec<&str> = tables.iter().map(|(c, _)| c.as_str()).collect();
    let mut out =
        String::from("# fish completion for husk, generated by 'husk completion fish' from husk's flag tables.\n");
    out.push_str("complete -c husk -f\n");
    for (c, h) in tables {
        out.push_str(&format!(
            "complete -c husk -n '__fish_use_subcommand' -a {c} -d {}\n",
            fish_quote(h.about.split(". ").next().unwrap_or_default())
        ));
        for f in &h.flags {
            let short = f.short.map(|s| format!(" -s {s}")).unwrap_or_default();
            let value = if f.value.is_some() { " -r -F" } else { "" };
            out.push_str(&format!(
                "complete -c husk -n '__fish_seen_subcommand_from {c}' -l {}{short}{value} -d {}\n",
                f.long,
                fish_quote(&f.help)
            ));
        }
        if TAKES_NAMES.split(' ').any(|t| t == c) {
            out.push_str(&format!(
                "complete -c husk -n '__fish_seen_subcommand_from {c}' -a '(husk ps -a -q 2>/dev/null)'\n"
            ));
        }
    }
    let _ = names;
    out
}

/// roff's escapes for text: backslashes and leading dots or quotes.
fn roff(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with(['.', '\'']) { format!("\\&{s}") } else { s }
}

pub fn man(args: Vec<OsString>) -> Result<u8> {
    let Some(o) = parse("man", args, MAN, |_, _| Ok(false))? else { return Ok(0) };
    arity("man", &o.words, 0, 1)?;
    let commands = commands()?;
    let page = match o.words.first() {
        None => {
            let top = run_husk(&["--help"])?;
            let mut page = String::from(
                ".TH HUSK 1\n.SH NAME\nhusk \\- run a process in its own namespaces, cgroups, root filesystem and network\n.SH SYNOPSIS\n",
            );
            page.push_str(&format!(
                "{}\n.SH COMMANDS\n",
                roff(top.lines().next().unwrap_or_default().trim_start_matches("Usage: "))
            ));
            for c in &commands {
                page.push_str(&format!(".TP\n.B husk {c}\n{}\nSee \\fBhusk\\-{c}\\fR(1).\n", roff(&help_of(c)?.about)));
            }
            page
        }
        Some(c) => {
            if !commands.contains(c) {
                return Err(Error::new(format!("man {c}"), "no such command (see 'husk --help')"));
            }
            let h = help_of(c)?;
            let upper = c.to_uppercase();
            let mut page = format!(
                ".TH HUSK\\-{upper} 1\n.SH NAME\nhusk\\-{c} \\- {}\n.SH SYNOPSIS\n.B husk {}\n.SH DESCRIPTION\n{}\n.SH OPTIONS\n",
                roff(h.about.split(". ").next().unwrap_or_default()),
                roff(h.usage.trim_start_matches("husk ")),
                roff(&h.about)
            );
            for f in &h.flags {
                let short = f.short.map(|s| format!("\\fB\\-{s}\\fR, ")).unwrap_or_default();
                let value = f.value.as_deref().map(|v| format!(" \\fI{}\\fR", roff(v))).unwrap_or_default();
                page.push_str(&format!(".TP\n{short}\\fB\\-\\-{}\\fR{value}\n{}\n", roff(&f.long), roff(&f.help)));
            }
            page.push_str(".SH SEE ALSO\n\\fBhusk\\fR(1)\n");
            page
        }
    };
    print!("{page}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn husks_help_format_reads_back_as_its_flag_table() {
        let help = "Usage: husk stop [-t SECONDS] NAME...\n\nStop containers.\n\nOptions:\n  -t, --time SECONDS              Seconds to wait\n                                  before SIGKILL\n      --force  Go\n  --rootfs DIR                    Root\n  -h, --help                      Show this help\n";
        let h = read_help(help);
        assert_eq!(h.usage, "husk stop [-t SECONDS] NAME...");
        assert_eq!(h.about, "Stop containers.");
        assert_eq!(
            h.flags[0],
            Flag {
                long: "time".into(),
                short: Some('t'),
                value: Some("SECONDS".into()),
                help: "Seconds to wait before SIGKILL".into()
            }
        );
        assert_eq!((h.flags[1].long.as_str(), h.flags[1].value.as_deref()), ("force", None));
        assert_eq!((h.flags[2].long.as_str(), h.flags[2].value.as_deref()), ("rootfs", Some("DIR")));
        assert_eq!(h.flags.len(), 4);
    }
}
