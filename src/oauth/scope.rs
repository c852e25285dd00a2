//! Scope values (RFC 6749 §3.3): a set of scope-tokens, written
//! space-separated.

use std::collections::BTreeSet;

/// Most scope-tokens accepted in one value.
pub const MAX_SCOPES: usize = 64;
/// Longest scope value accepted, in bytes.
pub const MAX_SCOPE_LEN: usize = 1024;
/// The scope that admits a token to the admin API.
pub const ADMIN_SCOPE: &str = "admin";

/// A set of scope-tokens. Ordered, so the written form is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    /// Parses a space-separated scope value. Each token must be 1*NQCHAR
    /// (printable ASCII without space, `"` and `\`); repeated spaces are
    /// tolerated.
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        if value.len() > MAX_SCOPE_LEN {
            return Err("the scope value is too long");
        }
        let mut tokens = BTreeSet::new();
        for token in value.split(' ').filter(|token| !token.is_empty()) {
            if !token.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)) {
                return Err("a scope token contains a character outside NQCHAR");
            }
            tokens.insert(token.to_owned());
        }
        if tokens.len() > MAX_SCOPES {
            return Err("the scope value has too many tokens");
        }
        Ok(Self(tokens))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn without(&self, token: &str) -> Scope {
        Scope(self.0.iter().filter(|t| *t != token).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let joined: Vec<&str> = self.iter().collect();
        f.write_str(&joined.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parses_and_orders_tokens() {
        let scope = Scope::parse("write  read read").unwrap();
        assert_eq!(scope.to_string(), "read write");
    }

    #[test]
    fn scope_rejects_characters_outside_nqchar() {
        assert!(Scope::parse("read\"").is_err());
        assert!(Scope::parse("a\\b").is_err());
        assert!(Scope::parse("caf\u{e9}").is_err());
        assert!(Scope::parse("tab\there").is_err());
    }

    #[test]
    fn scope_rejects_oversized_values() {
        assert!(Scope::parse(&"a".repeat(MAX_SCOPE_LEN + 1)).is_err());
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}")).collect();
        assert!(Scope::parse(&many.join(" ")).is_err());
    }
}
