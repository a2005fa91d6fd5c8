//! What every command does the same way on a terminal (README, "Terminal output and input files"):
//! - colour: `--color auto|always|never` ([`ColorChoice`]), asked through [`super::color`];
//! - text from input (file names, header values, lines of a file) escaped before it is shown
//!   ([`crate::base::escape`]); errors are rendered here ([`render_error`]) with their message,
//!   labels and source listing escaped;
//! - width: the terminal's when the stream is one, else 80 columns ([`width`]); tables wrap
//!   their text column to fit it ([`table`]);
//! - warnings on stderr, one line each, starting `warning: ` ([`warn`]).

use crate::base::escape::{escape, escape_lines, escape_source};
use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};
use std::path::Path;
use std::sync::OnceLock;

/// `--color`: whether output may use colour (ANSI escapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set to a non-empty value (no-color.org).
    #[default]
    Auto,
    /// Colour always, even into a pipe or a file, and whatever `NO_COLOR` says.
    Always,
    /// Never colour.
    Never,
}

static CHOICE: OnceLock<ColorChoice> = OnceLock::new();

/// Set the colour choice of this process (once, from the command line; later calls are ignored).
pub fn set_color_choice(c: ColorChoice) {
    let _ = CHOICE.set(c);
}

/// The colour choice of this process (`auto` until set).
pub fn color_choice() -> ColorChoice {
    CHOICE.get().copied().unwrap_or_default()
}

/// Whether a stream may be coloured under `choice`: `never` wins, `always` overrides
/// `NO_COLOR`, `auto` colours a terminal when `NO_COLOR` is unset or empty.
pub fn color_for(choice: ColorChoice, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    match choice {
        ColorChoice::Never => false,
        ColorChoice::Always => true,
        ColorChoice::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

/// The `--color` value given on a command line, looked up before clap parses it (so that
/// clap's own help and usage errors follow it too). The last one given wins, as clap does.
pub fn color_arg<I: IntoIterator<Item = std::ffi::OsString>>(args: I) -> Option<ColorChoice> {
    let mut found = None;
    let mut next_is_value = false;
    for a in args {
        let a = a.to_string_lossy().into_owned();
        if a == "--" {
            break;
        }
        let value = if next_is_value {
            next_is_value = false;
            Some(a.as_str())
        } else if a == "--color" {
            next_is_value = true;
            None
        } else {
            a.strip_prefix("--color=")
        };
        if let Some(v) = value {
            found = <ColorChoice as clap::ValueEnum>::from_str(v, false).ok().or(found);
        }
    }
    found
}

/// A command-line error of clap's with every value it quotes from the command line (an
/// argument, a value, a subcommand) escaped as every text from input is: clap would otherwise
/// print the value with its control characters dropped, so that `1.2.3.4\x01` read as `1.2.3.4`
/// in the message that says it is wrong. (The value parsers escape what they quote themselves.)
pub fn escape_clap_error(mut e: clap::Error) -> clap::Error {
    use clap::error::ContextValue;
    let changed: Vec<_> = e
        .context()
        .filter_map(|(kind, value)| match value {
            ContextValue::String(v) if escape(v) != v.as_str() => {
                Some((kind, ContextValue::String(escape(v).into_owned())))
            }
            ContextValue::Strings(v) if v.iter().any(|x| escape(x) != x.as_str()) => {
                Some((kind, ContextValue::Strings(v.iter().map(|x| escape(x).into_owned()).collect())))
            }
            _ => None,
        })
        .collect();
    for (kind, value) in changed {
        e.insert(kind, value);
    }
    e
}

/// Columns of the terminal behind a file descriptor (1 stdout, 2 stderr), or 80 when it is not
/// a terminal (or says nothing).
pub fn width(fd: i32) -> usize {
    terminal_columns(fd).unwrap_or(80)
}

#[cfg(unix)]
fn terminal_columns(fd: i32) -> Option<usize> {
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we own; any fd is safe to ask
    // (a non-terminal gives an error, and we then use 80).
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0).then_some(usize::from(ws.ws_col))
}

#[cfg(not(unix))]
fn terminal_columns(_fd: i32) -> Option<usize> {
    None
}

/// A table for the terminal (sharp Unicode borders, as every table of ours) that fits `width`
/// columns (at least 40): each column keeps its natural width up to its cap in `caps` (text
/// wrapped between words), and the last column, the text, takes what is left.
pub fn table(header: &[&str], rows: Vec<Vec<String>>, caps: &[Option<usize>], width: usize) -> String {
    let n = header.len();
    let chars = |s: &str| s.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut widths: Vec<usize> =
        (0..n).map(|i| rows.iter().map(|r| chars(&r[i])).chain([chars(header[i])]).max().unwrap_or(0)).collect();
    for (w, cap) in widths.iter_mut().zip(caps) {
        if let Some(c) = cap {
            *w = (*w).min(*c);
        }
    }
    // `│ a │ b │`: one border and two spaces per column, and the closing border.
    let overhead = 3 * n + 1;
    let others: usize = widths[..n - 1].iter().sum();
    let last = width.max(40).saturating_sub(overhead + others).max(10);
    widths[n - 1] = widths[n - 1].min(last);
    let mut b = tabled::builder::Builder::default();
    b.push_record(header.iter().copied());
    for r in rows {
        b.push_record(r.iter().zip(&widths).map(|(cell, w)| wrap(cell, *w)));
    }
    let mut t = b.build();
    t.with(tabled::settings::Style::sharp());
    t.to_string() + "\n"
}

/// `text` wrapped to lines of at most `width` characters, between words (a word longer than a
/// line is cut); its own line breaks are kept.
pub fn wrap(text: &str, width: usize) -> String {
    let width = width.max(1);
    let mut out: Vec<String> = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            let mut word: Vec<char> = word.chars().collect();
            let len = line.chars().count();
            if len > 0 && len + 1 + word.len() <= width {
                line.push(' ');
                line.extend(&word);
                continue;
            }
            if len > 0 {
                out.push(std::mem::take(&mut line));
            }
            while word.len() > width {
                out.push(word.drain(..width).collect());
            }
            line.extend(&word);
        }
        out.push(line);
    }
    out.join("\n")
}

/// Text for a Markdown table cell: `|` escaped, line breaks as spaces, control characters
/// escaped.
pub fn md_cell(s: &str) -> String {
    escape(&s.replace("\r\n", " ").replace('\n', " ")).replace('|', "\\|")
}

/// A path as it is shown in messages: its display form, escaped.
pub fn path(p: &Path) -> String {
    escape(&p.display().to_string()).into_owned()
}

/// Print a warning to stderr: `warning: ` and the text, escaped (a warning never changes the
/// exit status).
pub fn warn(text: &str) {
    err(&format!("warning: {}\n", escape_lines(text)));
}

/// Write to stdout. A closed stdout (a pipe into `head`, say) is not an error of ours: the write
/// fails quietly instead of panicking as `print!` does, and the command goes on (its reports,
/// its exit status).
pub fn out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Write to stderr, quietly failing as [`out`] does.
pub fn err(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// An error as the user sees it on stderr: miette's graphical form, in colour when
/// [`super::color`] allows it on stderr, without the diagnostic code (an internal module path
/// means nothing to a user), and with the message, help, labels and the source listing escaped.
/// On a terminal the text is wrapped at its width, at spaces only: a path or a header
/// value is never cut at a hyphen or inside a word. Off a terminal (a log, a pipe, CI) it is not
/// wrapped at all, so each sentence stays on one line whatever the length of the paths in it.
pub fn render_error(report: &miette::Report) -> String {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    render_error_as(report, super::color(tty), tty.then(|| width(2)))
}

fn render_error_as(report: &miette::Report, colour: bool, width: Option<usize>) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if colour { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_links(false)
        .with_break_words(false)
        .with_word_separator(textwrap::WordSeparator::AsciiSpace)
        .with_word_splitter(textwrap::WordSplitter::NoHyphenation);
    let handler = match width {
        Some(w) => handler.with_width(w),
        None => handler.with_wrap_lines(false),
    };
    let shown = Shown::of(report.as_ref());
    let mut out = String::new();
    if handler.render_report(&mut out, &shown).is_err() {
        // Rendering into a String fails only if a Display impl does: keep the plain message.
        out = format!("error: {}\n", shown.message);
    }
    out
}

/// An owned copy of a diagnostic with everything from input escaped.
#[derive(Debug)]
struct Shown {
    message: String,
    help: Option<String>,
    src: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    severity: Option<miette::Severity>,
    related: Vec<Shown>,
    cause: Option<Box<Shown>>,
}

impl Shown {
    fn of(d: &dyn Diagnostic) -> Shown {
        let mut s = Shown {
            message: escape_lines(&d.to_string()).into_owned(),
            help: d.help().map(|h| escape_lines(&h.to_string()).into_owned()),
            src: None,
            labels: Vec::new(),
            severity: d.severity(),
            related: d.related().map(|r| r.map(Shown::of).collect()).unwrap_or_default(),
            cause: d
                .diagnostic_source()
                .map(|c| Box::new(Shown::of(c)))
                .or_else(|| d.source().map(|c| Box::new(Shown::of_error(c)))),
        };
        let labels: Vec<LabeledSpan> = d.labels().map(Iterator::collect).unwrap_or_default();
        match d.source_code().and_then(whole) {
            Some((name, bytes)) => {
                let (text, map) = escape_source(&bytes);
                let at = |o: usize| map.get(o).copied().unwrap_or(text.len());
                s.labels = labels
                    .into_iter()
                    .map(|l| {
                        let start = at(l.offset());
                        let end = at(l.offset() + l.len());
                        let label = l.label().map(|t| escape(t).into_owned());
                        LabeledSpan::new_with_span(label, SourceSpan::from((start, end.saturating_sub(start))))
                    })
                    .collect();
                s.src = Some(NamedSource::new(escape(&name), text));
            }
            None => s.labels = labels,
        }
        s
    }

    fn of_error(e: &(dyn std::error::Error + 'static)) -> Shown {
        Shown {
            message: escape_lines(&e.to_string()).into_owned(),
            help: None,
            src: None,
            labels: Vec::new(),
            severity: None,
            related: Vec::new(),
            cause: e.source().map(|c| Box::new(Shown::of_error(c))),
        }
    }
}

/// The whole text of a diagnostic's source, and its name.
fn whole(src: &dyn SourceCode) -> Option<(String, Vec<u8>)> {
    // From the start, with every line after it as context: the whole text.
    let c = src.read_span(&SourceSpan::from((0, 0)), 0, usize::MAX).ok()?;
    Some((c.name().unwrap_or_default().to_string(), c.data().to_vec()))
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Shown {}

impl Diagnostic for Shown {
    fn severity(&self) -> Option<miette::Severity> {
        self.severity
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.src.as_ref().map(|s| s as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        (!self.labels.is_empty()).then(|| Box::new(self.labels.iter().cloned()) as Box<dyn Iterator<Item = _>>)
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        (!self.related.is_empty())
            .then(|| Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)) as Box<dyn Iterator<Item = _>>)
    }
    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        self.cause.as_deref().map(|c| c as &dyn Diagnostic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::{OsStr, OsString};

    #[test]
    fn text_wraps_between_words_and_cuts_only_longer_words() {
        assert_eq!(wrap("a bb ccc dddd", 6), "a bb\nccc\ndddd");
        assert_eq!(wrap("abcdefgh ij", 3), "abc\ndef\ngh\nij");
        assert_eq!(wrap("one\ntwo three", 20), "one\ntwo three");
        let rows = vec![vec!["ID.ONE".to_string(), "word ".repeat(40)]];
        let t = table(&["ID", "text"], rows, &[None, None], 40);
        assert!(t.lines().all(|l| l.chars().count() <= 40), "{t}");
        assert!(!t.contains("│  word"), "no line starts with a space: {t}");
    }

    #[test]
    fn never_wins_always_overrides_no_color() {
        let set = Some(OsStr::new("1"));
        assert!(color_for(ColorChoice::Auto, true, None));
        assert!(color_for(ColorChoice::Auto, true, Some(OsStr::new(""))));
        assert!(!color_for(ColorChoice::Auto, true, set));
        assert!(!color_for(ColorChoice::Auto, false, None));
        assert!(color_for(ColorChoice::Always, false, set));
        assert!(!color_for(ColorChoice::Never, true, None));
    }

    #[test]
    fn the_color_argument_is_found_before_parsing() {
        let args = |s: &str| s.split(' ').map(OsString::from).collect::<Vec<_>>();
        assert_eq!(color_arg(args("imcpm run --color never")), Some(ColorChoice::Never));
        assert_eq!(color_arg(args("imcpm --color=always rules")), Some(ColorChoice::Always));
        assert_eq!(color_arg(args("imcpm --color never --color always")), Some(ColorChoice::Always));
        assert_eq!(color_arg(args("imcpm rewrite -- --color never")), None);
        assert_eq!(color_arg(args("imcpm --color purple")), None);
    }

    #[test]
    fn errors_show_no_code_and_escape_what_came_from_input() {
        #[derive(Debug, thiserror::Error, Diagnostic)]
        #[error("f\x1b[2J.sip: bad")]
        #[diagnostic(code(imcpm::some::module))]
        struct E {
            #[source_code]
            src: NamedSource<String>,
            #[label("here")]
            at: SourceSpan,
        }
        let text = "A: 1\r\nB: \x1b[31mred\r\nC: 3\r\n".to_string();
        let e = E { src: NamedSource::new("f.sip", text), at: (6, 13).into() };
        let out = render_error_as(&miette::Report::new(e), false, Some(80));
        assert!(!out.contains('\x1b'), "{out}");
        assert!(!out.contains("imcpm::some::module"), "{out}");
        assert!(out.contains("f\\x1b[2J.sip: bad"), "{out}");
        assert!(out.contains("B: \\x1b[31mred"), "{out}");
    }

    /// A path in an error is never cut: not at a hyphen on a narrow terminal, and off a
    /// terminal the sentence is not wrapped at all.
    #[test]
    fn errors_never_cut_a_path() {
        let path = "/some-long/checkout-dir/target/tmp/first-hour/args/a-file";
        let e = miette::miette!("--report-dir {path} exists and is not a directory, as anyone can see here");
        let narrow = render_error_as(&e, false, Some(40));
        assert!(narrow.lines().any(|l| l.contains(path)), "{narrow}");
        let e = miette::miette!("--report-dir {path} exists and is not a directory, as anyone can see here");
        let unwrapped = render_error_as(&e, false, None);
        assert!(
            unwrapped.contains(&format!("--report-dir {path} exists and is not a directory, as anyone can see here")),
            "{unwrapped}"
        );
    }
}
