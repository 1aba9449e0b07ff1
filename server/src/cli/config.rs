//! `--config meterbook.toml` (or `MB_CONFIG`): every flag of `serve` and every global flag as a
//! key, spelled as the flag without its dashes (`public-url = "https://usage.example.com"`).
//!
//! Precedence is flag, then environment, then file, then default. The file is applied through
//! each flag's environment variable, set only where the environment has none, so clap keeps
//! being the one parser of every value and the precedence follows from clap's own. An empty
//! string leaves a flag unset. An unknown key, or a value of the wrong kind, is an error that
//! names it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory};

use super::Cli;

/// The variable that names a configuration file, like `--config`.
const CONFIG_ENV: &str = "MB_CONFIG";

/// The configuration file in effect, and the environment variables it set.
#[derive(Debug, Default)]
pub struct Loaded {
    pub path: Option<PathBuf>,
    /// Environment variable → the key that set it.
    pub from_file: BTreeMap<String, String>,
}

impl Loaded {
    /// Where an argument's value came from, for `config check`.
    fn source(&self, arg: &clap::Arg, matches: &ArgMatches) -> &'static str {
        match matches.value_source(arg.get_id().as_str()) {
            Some(ValueSource::CommandLine) => "flag",
            Some(ValueSource::EnvVariable) => {
                let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default();
                if self.from_file.contains_key(env) {
                    "file"
                } else {
                    "environment"
                }
            }
            _ => "default",
        }
    }
}

/// Finds the configuration file the command line or environment names, checks it, and sets the
/// environment variable of each key the environment does not already set. Runs before the
/// command line is parsed (and before any thread starts: it writes the environment).
pub fn load(args: &[OsString]) -> anyhow::Result<Loaded> {
    let Some(path) = config_path(args) else {
        return Ok(Loaded::default());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the configuration file {}", path.display()))?;
    let settings = parse(&text).with_context(|| format!("in {}", path.display()))?;
    let mut from_file = BTreeMap::new();
    for (key, (env, value)) in settings {
        // An empty value leaves the flag unset (the example file writes unset flags so).
        if !value.is_empty() && std::env::var_os(&env).is_none() {
            std::env::set_var(&env, value);
            from_file.insert(env, key);
        }
    }
    Ok(Loaded {
        path: Some(path),
        from_file,
    })
}

/// `--config FILE`, `--config=FILE`, else `MB_CONFIG`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// The flags a file may set: the global ones and `serve`'s, each with its environment variable.
fn settable() -> BTreeMap<String, clap::Arg> {
    let command = Cli::command();
    let serve = command
        .find_subcommand("serve")
        .map(|s| s.get_arguments().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    command
        .get_arguments()
        .cloned()
        .chain(serve)
        .filter(|a| a.get_env().is_some())
        .filter_map(|a| Some((a.get_long()?.to_owned(), a)))
        .filter(|(long, _)| long != "config")
        .collect()
}

/// Each key of the file with the environment variable it sets and its value as text.
fn parse(text: &str) -> anyhow::Result<BTreeMap<String, (String, String)>> {
    let table: toml::Table = text.parse().context("not valid TOML")?;
    let settable = settable();
    let unknown: Vec<String> = table
        .keys()
        .filter(|k| !settable.contains_key(k.as_str()))
        .map(|k| match settable.contains_key(&k.replace('_', "-")) {
            true => format!("'{k}' (write it '{}')", k.replace('_', "-")),
            false => format!("'{k}'"),
        })
        .collect();
    if !unknown.is_empty() {
        bail!(
            "unknown keys {}; the keys are: {}",
            unknown.join(", "),
            settable.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let mut settings = BTreeMap::new();
    for (key, value) in table {
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            // `earliest-usage = 2020-01-01` (a TOML date) reads as the flag would.
            toml::Value::Datetime(d) => d.to_string(),
            // Lists (origins, webhook targets) are space-separated on the command line.
            toml::Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => Ok(s.clone()),
                    _ => Err(anyhow::anyhow!("'{key}': a list holds strings only")),
                })
                .collect::<anyhow::Result<Vec<_>>>()?
                .join(" "),
            other => bail!(
                "'{key}': expected a string, whole number, date, true/false or a list of strings, got {}",
                other.type_str()
            ),
        };
        let env = settable[&key]
            .get_env()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_owned();
        settings.insert(key, (env, text));
    }
    Ok(settings)
}

/// `meterbook config check`: what `serve` would run with, each value with where it came from,
/// after the checks `serve` makes before it starts.
pub fn check(loaded: &Loaded, args: &[OsString]) -> anyhow::Result<()> {
    let matches = Cli::command()
        .try_get_matches_from(as_serve(args))
        .map_err(|e| {
            let first = e.to_string();
            let line = first.lines().next().unwrap_or_default();
            anyhow::anyhow!("{}", line.trim_start_matches("error: "))
        })?;
    let Some(("serve", serve)) = matches.subcommand() else {
        bail!("the serve command is missing");
    };
    let args = <super::ServeArgs as clap::FromArgMatches>::from_arg_matches(serve)?;
    args.server_config()?;
    let mut out = match &loaded.path {
        Some(path) => format!("configuration file: {}\n", path.display()),
        None => format!("configuration file: none (--config FILE or {CONFIG_ENV})\n"),
    };
    out.push_str(&format!("{:<26} {:<12} value\n", "key", "from"));
    for (key, arg) in settable() {
        // Global flags' values are propagated to the subcommand's matches.
        let id = arg.get_id().as_str();
        let value = serve
            .get_raw(id)
            .map(|values| {
                values
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let from = loaded.source(&arg, serve);
        out.push_str(&format!("{key:<26} {from:<12} {value}\n"));
    }
    out.push_str("the configuration is valid\n");
    use std::io::Write;
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

/// The command line with `config check` in place of `serve`, so the global flags given with it
/// count as they would for `serve`.
fn as_serve(args: &[OsString]) -> Vec<OsString> {
    let at = args
        .windows(2)
        .position(|w| w[0] == "config" && w[1] == "check");
    match at {
        Some(i) => {
            let mut out = args[..i].to_vec();
            out.push("serve".into());
            out.extend_from_slice(&args[i + 2..]);
            out
        }
        None => vec!["meterbook".into(), "serve".into()],
    }
}

/// An example file with every key, its help and its default, for `cargo xtask dist`.
pub fn example() -> String {
    let mut out = String::from(
        "# Meterbook's configuration: every key is a flag of `meterbook serve` (see --help).\n\
         # Flags and environment variables override what is set here.\n\
         # Check a file with `meterbook --config FILE config check`.\n",
    );
    for (key, arg) in settable() {
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        out.push('\n');
        for line in textwrap(&help, 96) {
            out.push_str(&format!("# {line}\n"));
        }
        let default = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let takes_value = arg.get_action().takes_values();
        let shown = match (takes_value, default.parse::<i64>()) {
            (false, _) => "false".to_owned(),
            (true, Ok(n)) => n.to_string(),
            (true, Err(_)) => format!("{default:?}"),
        };
        out.push_str(&format!("# {key} = {shown}\n"));
    }
    out
}

/// Words wrapped into lines of at most `width` characters.
fn textwrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_flags_and_values_become_their_environment() {
        let settings = parse(
            "addr = \"0.0.0.0:8080\"\nsession-idle-minutes = 30\ntrust-forwarded-for = true\n\
             widget-origins = [\"https://a.example\", \"https://b.example\"]\n",
        )
        .unwrap();
        assert_eq!(settings["addr"], ("MB_ADDR".into(), "0.0.0.0:8080".into()));
        assert_eq!(settings["session-idle-minutes"].1, "30");
        assert_eq!(settings["trust-forwarded-for"].1, "true");
        assert_eq!(
            settings["widget-origins"].1,
            "https://a.example https://b.example"
        );
    }

    #[test]
    fn unknown_keys_and_wrong_kinds_are_named() {
        let e = parse("adress = \"x\"\npublic_url = \"y\"\n").unwrap_err();
        let message = format!("{e:#}");
        assert!(message.contains("'adress'"), "{message}");
        assert!(
            message.contains("'public_url' (write it 'public-url')"),
            "{message}"
        );
        let e = parse("addr = { host = \"x\" }\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("'addr': expected a string"),
            "{e:#}"
        );
        let e = parse("widget-origins = [1]\n").unwrap_err();
        assert!(format!("{e:#}").contains("'widget-origins'"), "{e:#}");
        assert!(parse("addr = ").is_err(), "not TOML");
        assert!(
            parse("config = \"x\"\n").is_err(),
            "a file does not name a file"
        );
    }

    #[test]
    fn every_serve_flag_and_global_flag_has_a_key() {
        let settable = settable();
        let command = Cli::command();
        let serve = command.find_subcommand("serve").unwrap();
        for arg in command.get_arguments().chain(serve.get_arguments()) {
            let Some(long) = arg.get_long() else { continue };
            if ["config", "help", "version"].contains(&long) {
                continue;
            }
            assert!(settable.contains_key(long), "--{long} has no key (no env)");
        }
    }

    #[test]
    fn the_example_names_every_key_and_parses_once_uncommented() {
        let example = example();
        let uncommented: String = example
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let settings = parse(&uncommented).unwrap();
        assert_eq!(settings.len(), settable().len());
        // Every default, given as a flag, passes serve's checks.
        let mut args = vec!["meterbook".to_owned()];
        let mut serve = vec!["serve".to_owned()];
        for (key, (_, value)) in &settings {
            let arg = &settable()[key];
            let global = Cli::command()
                .get_arguments()
                .any(|a| a.get_id() == arg.get_id());
            let words = match (arg.get_action().takes_values(), value.as_str()) {
                (_, "") | (false, "false") => continue,
                (false, _) => vec![format!("--{key}")],
                (true, _) => vec![format!("--{key}"), value.clone()],
            };
            if global { &mut args } else { &mut serve }.extend(words);
        }
        args.extend(serve);
        let matches = Cli::command().try_get_matches_from(&args).unwrap();
        let (_, serve) = matches.subcommand().unwrap();
        let serve =
            <super::super::ServeArgs as clap::FromArgMatches>::from_arg_matches(serve).unwrap();
        serve.server_config().unwrap();
    }

    #[test]
    fn config_check_reads_the_flags_given_with_it() {
        let args: Vec<OsString> = [
            "meterbook",
            "--database",
            "sqlite://x.db",
            "config",
            "check",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(
            as_serve(&args),
            ["meterbook", "--database", "sqlite://x.db", "serve"]
                .iter()
                .map(OsString::from)
                .collect::<Vec<_>>()
        );
    }
}
