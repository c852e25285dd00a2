//! Key generation and the josekit signers and verifiers built from JWKs.
//!
//! Private keys exist in memory as private JWK JSON and leave this module
//! only sealed (see `master_key`). Public JWKs are rebuilt member by member
//! from an allow-list, so no private member can reach the JWKS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jws::{ES256, ES384, EdDSA, JwsSigner, JwsVerifier, PS256, RS256};
use openssl::sha::sha256;
use serde_json::{Map, Value};

use super::Algorithm;

/// RSA modulus size for generated RS256 and PS256 keys (RFC 7518 §3.3
/// requires at least 2048 bits).
const RSA_BITS: u32 = 2048;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed for {alg}: {reason}")]
    Generate { alg: Algorithm, reason: String },
    #[error("cannot import the key: {0}")]
    Import(String),
    #[error("the stored key {kid} cannot be used for {alg}: {reason}")]
    Unusable { kid: String, alg: Algorithm, reason: String },
}

/// A freshly generated key pair. `private_jwk` is secret and has no Debug.
pub struct GeneratedKey {
    pub kid: String,
    pub alg: Algorithm,
    pub private_jwk: Vec<u8>,
    pub public_jwk: Value,
}

/// Generates a key pair for `alg`; the kid is its RFC 7638 thumbprint.
pub fn generate(alg: Algorithm) -> Result<GeneratedKey, KeyError> {
    let generated = match alg {
        Algorithm::Rs256 | Algorithm::Ps256 => Jwk::generate_rsa_key(RSA_BITS),
        Algorithm::Es256 => Jwk::generate_ec_key(EcCurve::P256),
        Algorithm::Es384 => Jwk::generate_ec_key(EcCurve::P384),
        Algorithm::EdDsa => Jwk::generate_ed_key(EdCurve::Ed25519),
    };
    let private = generated.map_err(|error| KeyError::Generate {
        alg,
        reason: error.to_string(),
    })?;
    from_private_jwk(private, alg, None).map_err(|error| KeyError::Generate {
        alg,
        reason: error.to_string(),
    })
}

/// Maximum length of a kid accepted on import.
const MAX_KID_LEN: usize = 128;

/// Reads a PEM private key (PKCS#8, or traditional RSA or EC) for import.
/// The algorithm follows from the key type unless `alg` is given: RSA keys
/// default to RS256 and may be PS256, P-256 is ES256, P-384 is ES384 and
/// Ed25519 is EdDSA. `kid` keeps the kid the key had at its previous
/// issuer; the RFC 7638 thumbprint is used when it is `None`.
pub fn import_pem(pem: &[u8], alg: Option<Algorithm>, kid: Option<String>) -> Result<GeneratedKey, KeyError> {
    use openssl::nid::Nid;
    use openssl::pkey::{Id, PKey};

    if pem.len() > MAX_PEM_LEN {
        return Err(KeyError::Import(format!("the file is larger than {MAX_PEM_LEN} bytes; a PEM private key is far smaller")));
    }
    if pem.windows(9).any(|window| window == b"ENCRYPTED") {
        return Err(KeyError::Import(
            "encrypted PEM keys are not supported: decrypt it first, for example with `openssl pkey -in KEY.pem -out plain.pem`".into(),
        ));
    }
    // The callback supplies no passphrase, so OpenSSL never prompts.
    let key = PKey::private_key_from_pem_callback(pem, |_| Ok(0))
        .map_err(|_| KeyError::Import("the file is not a PEM private key that OpenSSL can read".into()))?;
    let detected = match key.id() {
        Id::RSA => Algorithm::Rs256,
        Id::EC => {
            let curve = key.ec_key().ok().and_then(|ec| ec.group().curve_name());
            match curve {
                Some(Nid::X9_62_PRIME256V1) => Algorithm::Es256,
                Some(Nid::SECP384R1) => Algorithm::Es384,
                _ => return Err(KeyError::Import("only the EC curves P-256 and P-384 are supported".into())),
            }
        }
        Id::ED25519 => Algorithm::EdDsa,
        _ => return Err(KeyError::Import("the key type must be RSA, EC (P-256, P-384) or Ed25519".into())),
    };
    let alg = match alg {
        None => detected,
        Some(Algorithm::Ps256) if detected == Algorithm::Rs256 => Algorithm::Ps256,
        Some(requested) if requested == detected => requested,
        Some(requested) => {
            return Err(KeyError::Import(format!("this key cannot sign {requested}; it is a {detected} key")));
        }
    };
    if let Some(kid) = &kid
        && (kid.is_empty() || kid.len() > MAX_KID_LEN || !kid.chars().all(|c| c.is_ascii_graphic()))
    {
        return Err(KeyError::Import(format!(
            "invalid kid {kid:?}: expected 1 to {MAX_KID_LEN} printable ASCII characters without spaces"
        )));
    }
    // PKCS#8 DER is what every josekit importer below reads.
    let der = key
        .private_key_to_pkcs8()
        .map_err(|_| KeyError::Import("the key cannot be converted to PKCS#8".into()))?;
    let key_pair_jwk = match alg {
        // A plain rsaEncryption key serves PS256 too: its JWK is the same.
        Algorithm::Rs256 | Algorithm::Ps256 => RS256.key_pair_from_der(&der).map(|pair| pair.to_jwk_key_pair()),
        Algorithm::Es256 => ES256.key_pair_from_der(&der).map(|pair| pair.to_jwk_key_pair()),
        Algorithm::Es384 => ES384.key_pair_from_der(&der).map(|pair| pair.to_jwk_key_pair()),
        Algorithm::EdDsa => EdDSA.key_pair_from_der(&der).map(|pair| pair.to_jwk_key_pair()),
    }
    .map_err(|_| KeyError::Import(format!("the key cannot be used for {alg}: its parameters are not supported")))?;
    let imported = from_private_jwk(key_pair_jwk, alg, kid)?;
    // Fail now, not at signing time, if josekit refuses the key (for
    // example RSA below 2048 bits).
    signer_for(alg, &imported.kid, &imported.private_jwk)
        .map_err(|_| KeyError::Import(format!("the key cannot sign {alg}: RSA keys need at least 2048 bits")))?;
    Ok(imported)
}

/// Computes the RFC 7638 thumbprint of a published JWK, or `None` when it
/// lacks a required member. Two JWKs of the same key have equal thumbprints
/// whatever their kids.
pub fn public_thumbprint(public_jwk: &str) -> Option<String> {
    let jwk = Jwk::from_bytes(public_jwk.as_bytes()).ok()?;
    public_members(&jwk).map(|members| thumbprint(&members))
}

/// Largest PEM file read for import.
pub const MAX_PEM_LEN: usize = 64 * 1024;

/// Completes a private JWK with kid, alg and use, and builds its public
/// counterpart.
fn from_private_jwk(mut private: Jwk, alg: Algorithm, kid: Option<String>) -> Result<GeneratedKey, KeyError> {
    let members = public_members(&private)
        .ok_or_else(|| KeyError::Import("the key lacks a public member its type requires".into()))?;
    let kid = kid.unwrap_or_else(|| thumbprint(&members));
    private.set_key_id(kid.clone());
    private.set_algorithm(alg.as_str());
    private.set_key_use("sig");
    let public_jwk = publish(&members, &kid, alg);
    Ok(GeneratedKey {
        kid,
        alg,
        private_jwk: private.to_string().into_bytes(),
        public_jwk,
    })
}

/// Copies the public members that RFC 7638 §3.2 requires for the key type,
/// in their lexicographic order.
fn public_members(jwk: &Jwk) -> Option<Map<String, Value>> {
    let names: &[&str] = match jwk.key_type() {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut members = Map::new();
    for name in names {
        let value = match *name {
            "kty" => Value::String(jwk.key_type().to_owned()),
            other => jwk.parameter(other)?.clone(),
        };
        members.insert((*name).to_owned(), value);
    }
    Some(members)
}

/// Computes the RFC 7638 JWK thumbprint (SHA-256, base64url) of the
/// required public members.
fn thumbprint(members: &Map<String, Value>) -> String {
    // serde_json's Map keeps keys sorted and writes no whitespace, which is
    // the canonical form RFC 7638 §3 asks for.
    let canonical = serde_json::to_vec(members).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(sha256(&canonical))
}

/// Builds the published JWK: the public members plus kid, use and alg.
fn publish(members: &Map<String, Value>, kid: &str, alg: Algorithm) -> Value {
    let mut jwk = members.clone();
    jwk.insert("kid".into(), Value::String(kid.to_owned()));
    jwk.insert("use".into(), Value::String("sig".into()));
    jwk.insert("alg".into(), Value::String(alg.as_str().into()));
    Value::Object(jwk)
}

/// Builds the josekit signer for a private JWK; the signer carries the kid.
pub fn signer_for(alg: Algorithm, kid: &str, private_jwk: &[u8]) -> Result<Box<dyn JwsSigner>, KeyError> {
    let unusable = |reason: String| KeyError::Unusable {
        kid: kid.to_owned(),
        alg,
        reason,
    };
    let mut jwk = Jwk::from_bytes(private_jwk).map_err(|error| unusable(error.to_string()))?;
    jwk.set_key_id(kid);
    let signer: Result<Box<dyn JwsSigner>, _> = match alg {
        Algorithm::Rs256 => RS256.signer_from_jwk(&jwk).map(|s| Box::new(s) as _),
        Algorithm::Ps256 => PS256.signer_from_jwk(&jwk).map(|s| Box::new(s) as _),
        Algorithm::Es256 => ES256.signer_from_jwk(&jwk).map(|s| Box::new(s) as _),
        Algorithm::Es384 => ES384.signer_from_jwk(&jwk).map(|s| Box::new(s) as _),
        Algorithm::EdDsa => EdDSA.signer_from_jwk(&jwk).map(|s| Box::new(s) as _),
    };
    // josekit's messages name JWK members, never their values.
    signer.map_err(|error| unusable(error.to_string()))
}

/// Builds the josekit verifier for a published JWK. The verifier is chosen
/// by the algorithm stored with the key, never by a token's header.
pub fn verifier_for(alg: Algorithm, kid: &str, public_jwk: &str) -> Result<Box<dyn JwsVerifier>, KeyError> {
    let unusable = |reason: String| KeyError::Unusable {
        kid: kid.to_owned(),
        alg,
        reason,
    };
    let jwk = Jwk::from_bytes(public_jwk.as_bytes()).map_err(|error| unusable(error.to_string()))?;
    verifier_from_jwk(alg, &jwk).map_err(|error| unusable(error.to_string()))
}

/// Builds a josekit verifier for `alg` from a parsed JWK; josekit checks
/// that the key type, `use`, `key_ops` and `alg` fit.
pub(crate) fn verifier_from_jwk(alg: Algorithm, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, josekit::JoseError> {
    let jwk = jwk.clone();
    let verifier: Result<Box<dyn JwsVerifier>, _> = match alg {
        Algorithm::Rs256 => RS256.verifier_from_jwk(&jwk).map(|v| Box::new(v) as _),
        Algorithm::Ps256 => PS256.verifier_from_jwk(&jwk).map(|v| Box::new(v) as _),
        Algorithm::Es256 => ES256.verifier_from_jwk(&jwk).map(|v| Box::new(v) as _),
        Algorithm::Es384 => ES384.verifier_from_jwk(&jwk).map(|v| Box::new(v) as _),
        Algorithm::EdDsa => EdDSA.verifier_from_jwk(&jwk).map(|v| Box::new(v) as _),
    };
    verifier
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];

    #[test]
    fn published_jwk_has_no_private_member() {
        for alg in Algorithm::ALL {
            let key = generate(alg).unwrap();
            let jwk = key.public_jwk.as_object().unwrap();
            for member in PRIVATE_MEMBERS {
                assert!(!jwk.contains_key(member), "{alg} JWK has {member}");
            }
            assert_eq!(jwk["kid"], key.kid.as_str());
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
        }
    }

    #[test]
    fn generated_key_signs_and_verifies() {
        for alg in Algorithm::ALL {
            let key = generate(alg).unwrap();
            let signer = signer_for(alg, &key.kid, &key.private_jwk).unwrap();
            assert_eq!(signer.key_id(), Some(key.kid.as_str()));
            let verifier = verifier_for(alg, &key.kid, &key.public_jwk.to_string()).unwrap();
            let signature = signer.sign(b"message").unwrap();
            assert!(verifier.verify(b"message", &signature).is_ok(), "{alg}");
            assert!(verifier.verify(b"other", &signature).is_err(), "{alg}");
        }
    }

    /// RFC 7638 §3.1 gives this RSA key and its thumbprint.
    #[test]
    fn thumbprint_matches_rfc7638_example() {
        let jwk = Jwk::from_bytes(
            br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        let members = public_members(&jwk).unwrap();
        assert_eq!(thumbprint(&members), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }
}
