//! Strict parsing of `application/x-www-form-urlencoded` request bodies.
//!
//! RFC 6749 §3.1 and §3.2: parameters sent without a value count as omitted,
//! and no parameter may appear twice. Input must be UTF-8 both before and
//! after percent-decoding; anything else is `invalid_request`, never a
//! silent replacement character.

use std::collections::HashMap;

use percent_encoding::percent_decode;

use super::OAuthError;

/// Most parameters accepted in one request.
pub const MAX_PARAMETERS: usize = 32;

/// The decoded parameters of a form body, each present at most once.
#[derive(Default)]
pub struct FormParams(HashMap<String, String>);

impl std::fmt::Debug for FormParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values can be passwords and secrets: show only the names.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl FormParams {
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
            if seen.len() >= MAX_PARAMETERS {
                return Err(OAuthError::invalid_request(format!(
                    "the request has more than {MAX_PARAMETERS} parameters"
                )));
            }
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            if !seen.insert(name.clone()) {
                return Err(OAuthError::invalid_request(format!(
                    "the parameter {} is repeated",
                    printable_name(&name)
                )));
            }
            if !value.is_empty() {
                params.insert(name, value);
            }
        }
        Ok(Self(params))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Removes and returns a parameter, so secrets are moved, not copied.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    pub fn require(&mut self, name: &'static str) -> Result<String, OAuthError> {
        self.take(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("the {name} parameter is missing")))
    }
}

fn decode(raw: &[u8]) -> Result<String, OAuthError> {
    let plus_as_space: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    let decoded = percent_decode(&plus_as_space)
        .decode_utf8()
        .map_err(|_| OAuthError::invalid_request("the form body is not valid UTF-8"))?;
    if decoded.contains('\0') {
        return Err(OAuthError::invalid_request("the form body contains a NUL character"));
    }
    Ok(decoded.into_owned())
}

/// A parameter name fit to quote in an error: short, alphanumeric names only.
fn printable_name(name: &str) -> String {
    if name.len() <= 32 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        name.to_owned()
    } else {
        "(unnamed)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decodes_plus_and_percent_escapes() {
        let params = FormParams::parse(b"username=a+b%21&password=%C3%A9").unwrap();
        assert_eq!(params.get("username"), Some("a b!"));
        assert_eq!(params.get("password"), Some("\u{e9}"));
    }

    /// RFC 6749 §3.2: parameters must not be included more than once.
    #[test]
    fn form_rejects_repeated_parameter() {
        let error = FormParams::parse(b"scope=a&scope=b").unwrap_err();
        assert_eq!(error, OAuthError::invalid_request("the parameter scope is repeated"));
    }

    /// RFC 6749 §3.1: parameters without a value count as omitted.
    #[test]
    fn form_treats_empty_value_as_omitted() {
        let params = FormParams::parse(b"scope=&grant_type=password").unwrap();
        assert_eq!(params.get("scope"), None);
        assert_eq!(params.get("grant_type"), Some("password"));
    }

    #[test]
    fn form_rejects_invalid_utf8() {
        assert!(FormParams::parse(b"username=%FF").is_err());
        assert!(FormParams::parse(b"username=\xff").is_err());
        assert!(FormParams::parse(b"username=%00").is_err());
    }

    #[test]
    fn form_rejects_too_many_parameters() {
        let body: Vec<String> = (0..=MAX_PARAMETERS).map(|i| format!("p{i}=v")).collect();
        assert!(FormParams::parse(body.join("&").as_bytes()).is_err());
    }
}
