//! The HTTP filter of a subscription, compiled: which requests go to (or are copied to) the
//! user process.

use hyper::Request;
use regex::Regex;
use tether_rpc_schema::incoming::HttpFilter;

/// A compiled [`HttpFilter`].
#[derive(Debug, Clone)]
pub enum Filter {
    Header(Regex),
    Path(Regex),
    Method(String),
    AllOf(Vec<Filter>),
    AnyOf(Vec<Filter>),
}

impl Filter {
    /// Compiles the filter's regular expressions. A header regex must match a whole
    /// `name: value` line (`X-User: me` is not matched by `X-User: meh`; write `X-User: me.*` for
    /// a prefix); a path regex is searched for in path and query (`^/orders` for a prefix).
    pub fn compile(filter: &HttpFilter) -> Result<Filter, regex::Error> {
        Ok(match filter {
            HttpFilter::Header(source) => Filter::Header(Regex::new(&format!("^(?:{source})$"))?),
            HttpFilter::Path(source) => Filter::Path(Regex::new(source)?),
            HttpFilter::Method(method) => Filter::Method(method.clone()),
            HttpFilter::AllOf(filters) => Filter::AllOf(filters.iter().map(Filter::compile).collect::<Result<_, _>>()?),
            HttpFilter::AnyOf(filters) => Filter::AnyOf(filters.iter().map(Filter::compile).collect::<Result<_, _>>()?),
        })
    }

    /// Whether `request` matches. Header lines are tried as `name: value` with the name both
    /// lowercase (as HTTP/2 sends it) and in Canonical-Case (as most HTTP/1.1 clients do), so
    /// `X-Tether-User: alice` matches whatever case the client used.
    pub fn matches<B>(&self, request: &Request<B>) -> bool {
        match self {
            Filter::Header(regex) => request.headers().iter().any(|(name, value)| {
                let Ok(value) = value.to_str() else {
                    return false;
                };
                let lower = name.as_str();
                regex.is_match(&format!("{lower}: {value}"))
                    || regex.is_match(&format!("{}: {value}", canonical_case(lower)))
            }),
            Filter::Path(regex) => {
                let path = request.uri().path_and_query().map_or("/", |path| path.as_str());
                regex.is_match(path)
            }
            Filter::Method(method) => request.method().as_str().eq_ignore_ascii_case(method),
            Filter::AllOf(filters) => filters.iter().all(|filter| filter.matches(request)),
            Filter::AnyOf(filters) => filters.iter().any(|filter| filter.matches(request)),
        }
    }
}

/// `x-tether-user` → `X-Tether-User`.
fn canonical_case(name: &str) -> String {
    let mut upper_next = true;
    name.chars()
        .map(|c| {
            let out = if upper_next { c.to_ascii_uppercase() } else { c };
            upper_next = c == '-';
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    fn check(filter: HttpFilter, request: &Request<()>) -> bool {
        Filter::compile(&filter).unwrap().matches(request)
    }

    #[test]
    fn header_matches_in_either_case_of_the_name() {
        let alice = request("GET", "/", &[("x-tether-user", "alice")]);
        let bob = request("GET", "/", &[("X-Tether-User", "bob")]);
        let filter = || HttpFilter::Header("X-Tether-User: alice".into());
        assert!(check(filter(), &alice));
        assert!(!check(filter(), &bob));
        assert!(check(HttpFilter::Header("^x-tether-user: (alice|bob)$".into()), &bob));
    }

    #[test]
    fn a_header_regex_matches_the_whole_line() {
        let alice = request("GET", "/", &[("x-tether-user", "alice")]);
        let alicex = request("GET", "/", &[("x-tether-user", "alicex")]);
        let exact = || HttpFilter::Header("X-Tether-User: alice".into());
        assert!(check(exact(), &alice));
        assert!(!check(exact(), &alicex), "a longer value is another user");
        assert!(!check(HttpFilter::Header("Tether-User: alice".into()), &alice), "nor a suffix of the name");
        assert!(check(HttpFilter::Header("X-Tether-User: alice.*".into()), &alicex), "a prefix, written as one");
        assert!(
            check(HttpFilter::Header("a|X-Tether-User: alice".into()), &alice),
            "alternatives are anchored as a group"
        );
    }

    #[test]
    fn path_method_and_combinators() {
        let get = request("GET", "/orders/7?full=1", &[]);
        assert!(check(HttpFilter::Path("^/orders/\\d+".into()), &get));
        assert!(check(HttpFilter::Path("full=1$".into()), &get));
        assert!(check(HttpFilter::Method("get".into()), &get));
        let both = HttpFilter::AllOf(vec![HttpFilter::Method("GET".into()), HttpFilter::Path("^/users".into())]);
        assert!(!check(both, &get));
        let either = HttpFilter::AnyOf(vec![HttpFilter::Method("POST".into()), HttpFilter::Path("^/orders".into())]);
        assert!(check(either, &get));
        assert!(check(HttpFilter::AllOf(Vec::new()), &get));
        assert!(!check(HttpFilter::AnyOf(Vec::new()), &get));
    }

    #[test]
    fn compile_reports_bad_regex() {
        assert!(Filter::compile(&HttpFilter::Path("(".into())).is_err());
    }
}
