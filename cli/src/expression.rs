//! A policy group's `expression`: the part of CEL that Kubewarden's group expressions use,
//! each member called as `name()` for its verdict, combined with `&&`, `||`, `!` and
//! parentheses (`true` and `false` too). Anything else is refused with what was found, rather
//! than read differently from policy-server's CEL.

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    Constant(bool),
    /// A member's verdict, by its index among the members.
    Member(usize),
    Not(Box<Expression>),
    And(Box<Expression>, Box<Expression>),
    Or(Box<Expression>, Box<Expression>),
}

impl Expression {
    /// Parses `text`, whose calls must name one of `members`.
    pub fn parse(text: &str, members: &[&str]) -> Result<Self, String> {
        let mut parser = Parser {
            text,
            at: 0,
            members,
            depth: 0,
        };
        let expression = parser.or()?;
        parser.skip_space();
        match parser.at == text.len() {
            true => Ok(expression),
            false => Err(parser.unexpected("&&, || or the end")),
        }
    }

    /// The value, given each member's verdict (accepted or not).
    pub fn evaluate(&self, verdicts: &[bool]) -> bool {
        match self {
            Expression::Constant(value) => *value,
            Expression::Member(index) => verdicts.get(*index).copied().unwrap_or(false),
            Expression::Not(inner) => !inner.evaluate(verdicts),
            Expression::And(left, right) => left.evaluate(verdicts) && right.evaluate(verdicts),
            Expression::Or(left, right) => left.evaluate(verdicts) || right.evaluate(verdicts),
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
    members: &'a [&'a str],
    /// Nesting of `!` and parentheses so far (bounded: the parser recurses).
    depth: usize,
}

/// Deeper nesting than any real expression, well within the stack.
const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        let found = self.rest().starts_with(token);
        if found {
            self.at += token.len();
        }
        found
    }

    fn unexpected(&self, expected: &str) -> String {
        match self.rest().chars().next() {
            None => format!("expected {expected} at the end"),
            Some(_) => format!(
                "expected {expected} at column {}, found '{}' (only member() calls, &&, ||, ! \
                 and parentheses are supported)",
                self.at + 1,
                self.rest().chars().take(12).collect::<String>()
            ),
        }
    }

    fn or(&mut self) -> Result<Expression, String> {
        let mut left = self.and()?;
        while self.eat("||") {
            left = Expression::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expression, String> {
        let mut left = self.unary()?;
        while self.eat("&&") {
            left = Expression::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expression, String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        if self.eat("!") {
            self.depth += 1;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expression::Not(Box::new(inner)));
        }
        if self.eat("(") {
            self.depth += 1;
            let inner = self.or()?;
            self.depth -= 1;
            return match self.eat(")") {
                true => Ok(inner),
                false => Err(self.unexpected("')'")),
            };
        }
        self.skip_space();
        let name_len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest().len());
        if name_len == 0 {
            return Err(self.unexpected("a member() call"));
        }
        let start = self.at;
        let name = &self.text[start..start + name_len];
        self.at += name_len;
        match name {
            "true" => return Ok(Expression::Constant(true)),
            "false" => return Ok(Expression::Constant(false)),
            _ => {}
        }
        if !(self.eat("(") && self.eat(")")) {
            self.at = start;
            return Err(self.unexpected("a member() call"));
        }
        match self.members.iter().position(|m| *m == name) {
            Some(index) => Ok(Expression::Member(index)),
            None => Err(format!(
                "'{name}()' is not a member of the group (members: {})",
                self.members.join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMBERS: &[&str] = &["a", "b", "c"];

    #[test]
    fn expressions_evaluate_as_cel_does() {
        let cases: &[(&str, [bool; 3], bool)] = &[
            ("a() && b()", [true, true, false], true),
            ("a() && b()", [true, false, true], false),
            ("a() || b()", [false, true, false], true),
            ("a() || b()", [false, false, true], false),
            ("!a()", [false, true, true], true),
            ("!a()", [true, true, true], false),
            ("a() || b() && c()", [false, true, false], false),
            ("a() || b() && c()", [true, false, false], true),
            ("(a() || b()) && c()", [true, false, false], false),
            ("(a() || b()) && c()", [false, true, true], true),
            ("true && !false", [false, false, false], true),
            ("  a()&&b() ", [true, true, true], true),
        ];
        for (text, verdicts, expected) in cases {
            let expression = Expression::parse(text, MEMBERS).unwrap();
            assert_eq!(
                expression.evaluate(verdicts),
                *expected,
                "{text} on {verdicts:?}"
            );
        }
    }

    #[test]
    fn depth_counts_nesting_not_length() {
        let long = vec!["!(!a())"; 100].join(" && ");
        assert_eq!(
            Expression::parse(&long, MEMBERS).map(|e| e.evaluate(&[true; 3])),
            Ok(true)
        );
    }

    #[test]
    fn what_is_not_supported_is_refused_with_where() {
        let (deep_parens, deep_nots) = ("(".repeat(100_000), "!".repeat(100_000));
        for (text, fragment) in [
            ("a() && d()", "'d()' is not a member"),
            ("a() and b()", "column 5, found 'and b()'"),
            ("a", "a member() call at column 1, found 'a'"),
            ("(a() || b()", "expected ')' at the end"),
            ("a() ==b()", "found '==b()'"),
            ("", "a member() call at the end"),
            ("a(x)", "column 1"),
            (&deep_parens, "nested deeper than 64 levels"),
            (&deep_nots, "nested deeper than 64 levels"),
        ] {
            let error = Expression::parse(text, MEMBERS).unwrap_err();
            assert!(error.contains(fragment), "{text}: {error}");
        }
    }
}
