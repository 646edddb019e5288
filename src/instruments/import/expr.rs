//! The expressions of XLSForm (`${q}`, XPath) and REDCap (`[q]`), read
//! into a tree and never evaluated. The grammar is the small common part of
//! both: numbers, strings, references, the current answer `.`, arithmetic,
//! comparisons, `and`/`or` and function calls. Whatever else is refused
//! with the part of the text that was not understood.

use std::fmt;

/// Which form language an expression is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// XLSForm: `${name}`, `div`, `mod`, `.`, `!=`.
    XlsForm,
    /// REDCap: `[name]`, `/`, `<>`, `^`.
    Redcap,
}

/// Binary operators, by what they do rather than how they are spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl Op {
    /// The comparison that holds with the operands swapped: `a < b` is `b > a`.
    pub fn mirrored(self) -> Op {
        match self {
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            other => other,
        }
    }
}

/// One node of an expression and where it is in the text.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What the node is.
    pub node: Node,
    /// Byte offsets into the expression text.
    pub span: (usize, usize),
}

/// What a node of an expression is.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Num(f64),
    Str(String),
    /// A reference to a question or calculation by its name in the form.
    Ref(String),
    /// XLSForm's `.`: the answer a constraint is about.
    Dot,
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    /// A function call, name lowercased.
    Call(String, Vec<Expr>),
}

/// Why an expression could not be read: the message and the byte span of
/// the part not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong, in words.
    pub message: String,
    /// Byte offsets of the part not understood.
    pub span: (usize, usize),
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Deeper nesting than this is refused, so a hostile cell cannot exhaust
/// the stack.
const MAX_DEPTH: usize = 64;
/// Longer expressions are refused, which also bounds a chain's length.
const MAX_TOKENS: usize = 4_000;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ref(String),
    Ident(String),
    Dot,
    Op(Op),
    Open,
    Close,
    Comma,
}

/// Reads `text` as an expression in `dialect`.
pub fn parse(text: &str, dialect: Dialect) -> Result<Expr, SyntaxError> {
    let tokens = tokenize(text, dialect)?;
    if tokens.len() > MAX_TOKENS {
        return Err(SyntaxError {
            message: format!("the expression has more than {MAX_TOKENS} parts"),
            span: (0, text.len()),
        });
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
        end: text.len(),
    };
    let expr = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(expr),
        Some((_, span)) => Err(SyntaxError {
            message: "unexpected text after the end of the expression".into(),
            span: (span.0, text.len()),
        }),
    }
}

type Spanned = (Tok, (usize, usize));

fn tokenize(text: &str, dialect: Dialect) -> Result<Vec<Spanned>, SyntaxError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let single = |tok: Tok| Some((tok, start + c.len_utf8()));
        let next_is = |want: char, chars: &mut std::iter::Peekable<std::str::CharIndices>| {
            chars.next_if(|&(_, n)| n == want).is_some()
        };
        let tok: Option<(Tok, usize)> = match c {
            c if c.is_whitespace() => None,
            '(' => single(Tok::Open),
            ')' => single(Tok::Close),
            ',' => single(Tok::Comma),
            '+' => single(Tok::Op(Op::Add)),
            '-' => single(Tok::Op(Op::Sub)),
            '*' => single(Tok::Op(Op::Mul)),
            '/' if dialect == Dialect::Redcap => single(Tok::Op(Op::Div)),
            '^' if dialect == Dialect::Redcap => single(Tok::Op(Op::Pow)),
            '=' => {
                next_is('=', &mut chars);
                Some((Tok::Op(Op::Eq), end_of(&mut chars, text)))
            }
            '!' if next_is('=', &mut chars) => Some((Tok::Op(Op::Ne), end_of(&mut chars, text))),
            '<' => {
                let op = if next_is('=', &mut chars) {
                    Op::Le
                } else if dialect == Dialect::Redcap && next_is('>', &mut chars) {
                    Op::Ne
                } else {
                    Op::Lt
                };
                Some((Tok::Op(op), end_of(&mut chars, text)))
            }
            '>' => {
                let op = if next_is('=', &mut chars) {
                    Op::Ge
                } else {
                    Op::Gt
                };
                Some((Tok::Op(op), end_of(&mut chars, text)))
            }
            '\'' | '"' => {
                let mut s = String::new();
                let mut closed = false;
                for (_, ch) in chars.by_ref() {
                    if ch == c {
                        closed = true;
                        break;
                    }
                    s.push(ch);
                }
                if !closed {
                    return Err(SyntaxError {
                        message: "a quoted text is not closed".into(),
                        span: (start, text.len()),
                    });
                }
                Some((Tok::Str(s), end_of(&mut chars, text)))
            }
            '$' if dialect == Dialect::XlsForm && next_is('{', &mut chars) => {
                let name = take_until(&mut chars, '}').ok_or_else(|| SyntaxError {
                    message: "a ${...} reference is not closed".into(),
                    span: (start, text.len()),
                })?;
                Some((Tok::Ref(name), end_of(&mut chars, text)))
            }
            '[' if dialect == Dialect::Redcap => {
                let name = take_until(&mut chars, ']').ok_or_else(|| SyntaxError {
                    message: "a [...] reference is not closed".into(),
                    span: (start, text.len()),
                })?;
                Some((Tok::Ref(name), end_of(&mut chars, text)))
            }
            c if c.is_ascii_digit() || c == '.' => {
                let mut s = String::from(c);
                while let Some((_, d)) = chars.next_if(|&(_, d)| d.is_ascii_digit() || d == '.') {
                    s.push(d);
                }
                let end = end_of(&mut chars, text);
                if s == "." && dialect == Dialect::XlsForm {
                    Some((Tok::Dot, end))
                } else {
                    let n = s.parse::<f64>().map_err(|_| SyntaxError {
                        message: format!("\"{s}\" is not a number"),
                        span: (start, end),
                    })?;
                    Some((Tok::Num(n), end))
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut s = String::from(c);
                let name_char = |d: char| {
                    d.is_ascii_alphanumeric()
                        || d == '_'
                        || (dialect == Dialect::XlsForm && (d == '-' || d == ':'))
                };
                while let Some((_, d)) = chars.next_if(|&(_, d)| name_char(d)) {
                    s.push(d);
                }
                let end = end_of(&mut chars, text);
                let tok = match s.to_ascii_lowercase().as_str() {
                    "and" => Tok::Op(Op::And),
                    "or" => Tok::Op(Op::Or),
                    "div" if dialect == Dialect::XlsForm => Tok::Op(Op::Div),
                    "mod" if dialect == Dialect::XlsForm => Tok::Op(Op::Mod),
                    _ => Tok::Ident(s),
                };
                Some((tok, end))
            }
            _ => {
                return Err(SyntaxError {
                    message: format!("\"{c}\" is not part of the expressions fieldkit reads"),
                    span: (start, start + c.len_utf8()),
                })
            }
        };
        if let Some((tok, end)) = tok {
            out.push((tok, (start, end)));
        }
    }
    Ok(out)
}

/// The byte offset of the next character, or the end of the text.
fn end_of(chars: &mut std::iter::Peekable<std::str::CharIndices>, text: &str) -> usize {
    chars.peek().map_or(text.len(), |&(i, _)| i)
}

fn take_until(
    chars: &mut std::iter::Peekable<std::str::CharIndices>,
    close: char,
) -> Option<String> {
    let mut s = String::new();
    for (_, ch) in chars.by_ref() {
        if ch == close {
            return Some(s.trim().to_owned());
        }
        s.push(ch);
    }
    None
}

struct Parser {
    tokens: Vec<Spanned>,
    at: usize,
    depth: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    fn here(&self) -> (usize, usize) {
        self.tokens
            .get(self.at)
            .map_or((self.end, self.end), |(_, s)| *s)
    }

    fn fail<T>(&self, message: &str) -> Result<T, SyntaxError> {
        let span = self.here();
        Err(SyntaxError {
            message: message.into(),
            span,
        })
    }

    fn binary(
        &mut self,
        ops: &[Op],
        next: fn(&mut Parser) -> Result<Expr, SyntaxError>,
    ) -> Result<Expr, SyntaxError> {
        let mut left = next(self)?;
        // Sums and conjunctions are walked without recursion; other chains
        // are trees as deep as they are long, so they are bounded.
        let long_chains = ops.contains(&Op::Add) || ops.contains(&Op::And) || ops.contains(&Op::Or);
        let mut length = 0;
        while let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            if !ops.contains(&op) {
                break;
            }
            length += 1;
            if !long_chains && length > MAX_DEPTH {
                return self.fail("the expression is nested too deeply");
            }
            self.at += 1;
            let right = next(self)?;
            let span = (left.span.0, right.span.1);
            left = Expr {
                node: Node::Bin(op, Box::new(left), Box::new(right)),
                span,
            };
        }
        Ok(left)
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail("the expression is nested too deeply");
        }
        let out = self.binary(&[Op::Or], Parser::and);
        self.depth -= 1;
        out
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        self.binary(&[Op::And], Parser::equality)
    }

    fn equality(&mut self) -> Result<Expr, SyntaxError> {
        self.binary(&[Op::Eq, Op::Ne], Parser::relation)
    }

    fn relation(&mut self) -> Result<Expr, SyntaxError> {
        self.binary(&[Op::Lt, Op::Le, Op::Gt, Op::Ge], Parser::additive)
    }

    fn additive(&mut self) -> Result<Expr, SyntaxError> {
        self.binary(&[Op::Add, Op::Sub], Parser::multiplicative)
    }

    fn multiplicative(&mut self) -> Result<Expr, SyntaxError> {
        self.binary(&[Op::Mul, Op::Div, Op::Mod], Parser::power)
    }

    fn power(&mut self) -> Result<Expr, SyntaxError> {
        self.binary(&[Op::Pow], Parser::unary)
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        if self.peek() == Some(&Tok::Op(Op::Sub)) {
            let start = self.here().0;
            self.at += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return self.fail("the expression is nested too deeply");
            }
            let inner = self.unary()?;
            self.depth -= 1;
            let span = (start, inner.span.1);
            return Ok(Expr {
                node: Node::Neg(Box::new(inner)),
                span,
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let Some((tok, span)) = self.tokens.get(self.at).cloned() else {
            return self.fail("the expression ends too soon");
        };
        self.at += 1;
        let node = match tok {
            Tok::Num(n) => Node::Num(n),
            Tok::Str(s) => Node::Str(s),
            Tok::Ref(name) => Node::Ref(name),
            Tok::Dot => Node::Dot,
            Tok::Open => {
                let inner = self.or()?;
                return match self.peek() {
                    Some(Tok::Close) => {
                        let close = self.here().1;
                        self.at += 1;
                        Ok(Expr {
                            node: inner.node,
                            span: (span.0, close),
                        })
                    }
                    _ => self.fail("a bracket is not closed"),
                };
            }
            Tok::Ident(name) if self.peek() == Some(&Tok::Open) => {
                self.at += 1;
                let args = self.arguments()?;
                let close = self.here().1;
                self.at += 1;
                return Ok(Expr {
                    node: Node::Call(name.to_ascii_lowercase(), args),
                    span: (span.0, close),
                });
            }
            Tok::Ident(_) => {
                self.at -= 1;
                return self
                    .fail("a bare name is not understood here; refer to questions by reference");
            }
            Tok::Op(_) | Tok::Close | Tok::Comma => {
                self.at -= 1;
                return self.fail("expected a value here");
            }
        };
        Ok(Expr { node, span })
    }

    /// The arguments of a call, up to (not past) its closing bracket.
    fn arguments(&mut self) -> Result<Vec<Expr>, SyntaxError> {
        let mut args = Vec::new();
        if self.peek() == Some(&Tok::Close) {
            return Ok(args);
        }
        loop {
            args.push(self.or()?);
            match self.peek() {
                Some(Tok::Comma) => self.at += 1,
                Some(Tok::Close) => return Ok(args),
                _ => return self.fail("expected a comma or a closing bracket"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(e: &Expr) -> String {
        match &e.node {
            Node::Num(n) => format!("{n}"),
            Node::Str(s) => format!("'{s}'"),
            Node::Ref(r) => format!("${r}"),
            Node::Dot => ".".into(),
            Node::Neg(x) => format!("(-{})", shape(x)),
            Node::Bin(op, a, b) => format!("({} {op:?} {})", shape(a), shape(b)),
            Node::Call(f, args) => {
                let args: Vec<String> = args.iter().map(shape).collect();
                format!("{f}({})", args.join(", "))
            }
        }
    }

    fn xls(text: &str) -> String {
        parse(text, Dialect::XlsForm).map_or_else(|e| format!("error: {e}"), |e| shape(&e))
    }

    #[test]
    fn precedence_follows_arithmetic() {
        assert_eq!(xls("${a} + ${b} * 2"), "($a Add ($b Mul 2))");
        assert_eq!(xls("(${a} + ${b}) div 2"), "(($a Add $b) Div 2)");
        assert_eq!(xls("6 - ${q} + ${r}"), "((6 Sub $q) Add $r)");
        assert_eq!(xls(". >= 0 and . <= 10"), "((. Ge 0) And (. Le 10))");
    }

    #[test]
    fn xpath_function_names_keep_their_hyphens() {
        assert_eq!(xls("string-length(${a}) > 0"), "(string-length($a) Gt 0)");
        assert_eq!(xls("coalesce(${q},0)"), "coalesce($q, 0)");
    }

    #[test]
    fn redcap_spelling_is_read() {
        let e = parse("round(mean([a],[b])*2,0) <> \"\"", Dialect::Redcap).map(|e| shape(&e));
        assert_eq!(e.as_deref(), Ok("(round((mean($a, $b) Mul 2), 0) Ne '')"));
        let e = parse("[a]/2", Dialect::Redcap).map(|e| shape(&e));
        assert_eq!(e.as_deref(), Ok("($a Div 2)"));
    }

    #[test]
    fn spans_cover_the_text_of_a_node() {
        let text = "${a} + pow(${b}, 2)";
        let Ok(Expr {
            node: Node::Bin(_, _, right),
            ..
        }) = parse(text, Dialect::XlsForm)
        else {
            panic!("expected a sum");
        };
        assert_eq!(text.get(right.span.0..right.span.1), Some("pow(${b}, 2)"));
    }

    #[test]
    fn broken_text_is_an_error_not_a_panic() {
        for text in [
            "",
            "(",
            ")",
            "${a",
            "'open",
            "1 +",
            "f(1,",
            "f(1 2)",
            "a b",
            "#",
            "[a]",
            "1..2",
            "--",
            "${a} $ ${b}",
        ] {
            assert!(parse(text, Dialect::XlsForm).is_err(), "{text:?}");
        }
        assert!(parse("[a", Dialect::Redcap).is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep, Dialect::XlsForm).is_err());
        let negs = format!("{}1", "-".repeat(10_000));
        assert!(parse(&negs, Dialect::XlsForm).is_err());
        let calls = format!("{}1{}", "f(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&calls, Dialect::XlsForm).is_err());
        let product = format!("1{}", " * 2".repeat(1_000));
        assert!(parse(&product, Dialect::XlsForm).is_err());
        let sum = format!("1{}", " + 2".repeat(1_000));
        assert!(parse(&sum, Dialect::XlsForm).is_ok());
    }
}
