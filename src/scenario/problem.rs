//! What is wrong with scenario files: each [`Problem`] names the file (a scenario or a template
//! it uses), the line and column where that is known, and what is wrong, and shows the line;
//! a [`ScenarioError`] holds every problem found in a load, so that one run of the command
//! shows them all.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};
use std::fmt;
use std::ops::Range;

/// One thing wrong with a scenario file or a file it refers to.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The file, as it was named (a path, or a built-in scenario's path in the source tree).
    pub path: String,
    /// 1-based line and column, when the problem has a place in the file.
    pub at: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
    src: Option<NamedSource<String>>,
    span: Option<SourceSpan>,
}

impl Problem {
    /// A problem at byte range `span` of `text`, the content of `path`.
    pub fn at(path: &str, text: &str, span: Range<usize>, message: impl Into<String>) -> Problem {
        let start = span.start.min(text.len());
        let len = span.end.min(text.len()).saturating_sub(start);
        Problem {
            path: path.to_string(),
            at: Some(crate::base::line_column(text, start)),
            message: message.into(),
            src: Some(NamedSource::new(path, text.to_string())),
            span: Some((start, len).into()),
        }
    }

    /// A problem of a whole file (e.g. it cannot be read).
    pub fn file(path: &str, message: impl Into<String>) -> Problem {
        Problem { path: path.to_string(), at: None, message: message.into(), src: None, span: None }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("see docs/scenarios.md for the scenario file format"))
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.src.as_ref().map(|s| s as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some("here".into()), span))))
    }
}

/// Scenario files that cannot be used: every problem found, in file order (never empty).
#[derive(Debug, Clone)]
pub struct ScenarioError {
    /// The problems.
    pub problems: Vec<Problem>,
}

impl ScenarioError {
    /// The error of these problems, or `None` when there is none.
    pub fn of(problems: Vec<Problem>) -> Option<ScenarioError> {
        (!problems.is_empty()).then_some(ScenarioError { problems })
    }
    /// The error of one problem.
    pub fn one(p: Problem) -> ScenarioError {
        ScenarioError { problems: vec![p] }
    }
    fn single(&self) -> Option<&Problem> {
        match self.problems.as_slice() {
            [p] => Some(p),
            _ => None,
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.single() {
            return p.fmt(f);
        }
        write!(f, "{} problems in the scenario files:", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}
