//! Verifications per second for each algorithm, next to the cost of the
//! signature check alone. Run with `cargo bench -p tessera-verifier`; the
//! table replaces the section between the verify markers in
//! docs/BENCHMARKS.md.
//!
//! Each algorithm gets a fresh key, a JWKS served from a local thread on
//! 127.0.0.1, and a signed RFC 9068 token. One thread then verifies that
//! token in a loop for about a second, with the key cache warm.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jws::{ES256, ES384, EdDSA, JwsSigner, JwsVerifier, PS256, RS256};
use serde_json::json;
use tessera_verifier::{Algorithm, Verifier, VerifierConfig};

const MEASURE: Duration = Duration::from_secs(1);
const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "https://api.bench";

fn key_pair(alg: Algorithm) -> (Box<dyn JwsSigner>, Box<dyn JwsVerifier>, serde_json::Value) {
    let mut private = match alg {
        Algorithm::Rs256 | Algorithm::Ps256 => Jwk::generate_rsa_key(2048),
        Algorithm::Es256 => Jwk::generate_ec_key(EcCurve::P256),
        Algorithm::Es384 => Jwk::generate_ec_key(EcCurve::P384),
        Algorithm::EdDsa => Jwk::generate_ed_key(EdCurve::Ed25519),
    }
    .unwrap();
    private.set_key_id("bench");
    private.set_algorithm(alg.as_str());
    let mut public = private.to_public_key().unwrap();
    public.set_key_id("bench");
    public.set_algorithm(alg.as_str());
    public.set_key_use("sig");
    let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match alg {
        Algorithm::Rs256 => (Box::new(RS256.signer_from_jwk(&private).unwrap()), Box::new(RS256.verifier_from_jwk(&public).unwrap())),
        Algorithm::Ps256 => (Box::new(PS256.signer_from_jwk(&private).unwrap()), Box::new(PS256.verifier_from_jwk(&public).unwrap())),
        Algorithm::Es256 => (Box::new(ES256.signer_from_jwk(&private).unwrap()), Box::new(ES256.verifier_from_jwk(&public).unwrap())),
        Algorithm::Es384 => (Box::new(ES384.signer_from_jwk(&private).unwrap()), Box::new(ES384.verifier_from_jwk(&public).unwrap())),
        Algorithm::EdDsa => (Box::new(EdDSA.signer_from_jwk(&private).unwrap()), Box::new(EdDSA.verifier_from_jwk(&public).unwrap())),
    };
    let public: serde_json::Value = serde_json::from_str(&public.to_string()).unwrap();
    (signer, verifier, public)
}

/// Serves `body` as the JWKS to every connection, from a background thread.
fn serve_jwks(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=3600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{address}/jwks.json")
}

fn token(signer: &dyn JwsSigner, alg: Algorithm) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": alg.as_str(), "typ": "at+jwt", "kid": "bench" }).to_string());
    let claims = json!({
        "iss": ISSUER, "sub": "6a1f0c3e-0000-4000-8000-000000000000", "aud": AUDIENCE,
        "exp": now + 3600, "iat": now, "jti": "bench", "client_id": "bench", "scope": "read",
    });
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Runs `work` for about `MEASURE` and returns operations per second.
fn rate(mut work: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < MEASURE {
        for _ in 0..32 {
            work();
        }
        count += 32;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut rows = Vec::new();
    for alg in Algorithm::ALL {
        let (signer, raw_verifier, public) = key_pair(alg);
        let jwks_uri = serve_jwks(json!({ "keys": [public] }).to_string());
        let config = VerifierConfig::from_jwks_uri(ISSUER, jwks_uri, AUDIENCE).algorithms(&[alg]);
        let verifier = runtime.block_on(Verifier::new(config)).unwrap();
        let token = token(signer.as_ref(), alg);
        runtime.block_on(verifier.verify(&token)).expect("the bench token verifies");

        let (input, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let signature_only = rate(|| raw_verifier.verify(input.as_bytes(), &signature).unwrap());
        let full = rate(|| {
            runtime.block_on(verifier.verify(&token)).unwrap();
        });
        rows.push(format!(
            "| {alg} | {full:.0} | {signature_only:.0} | {:.1} |",
            (1.0 / full - 1.0 / signature_only) * 1e6
        ));
    }

    let table = format!(
        "Measured by `cargo bench -p tessera-verifier` on {}: one thread, release build,\n\
         key cache warm, {} CPU cores, {}.\n\n\
         | alg | verifications/s (`Verifier::verify`) | signature checks/s (josekit alone) | overhead per token (µs) |\n\
         |---|---|---|---|\n{}\n\n\
         The overhead covers splitting and base64-decoding the token, parsing header and\n\
         claims as JSON, the key lookup and the claim checks. Differences of a few\n\
         percent between the two rates, including negative overheads for the slow\n\
         algorithms, are run-to-run noise.",
        today(),
        std::thread::available_parallelism().map_or(1, usize::from),
        cpu_model(),
        rows.join("\n")
    );
    println!("{table}");
    replace_section("verify", &table);
}

fn today() -> String {
    let output = std::process::Command::new("date").args(["-u", "+%Y-%m-%d"]).output();
    output.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| text.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`
/// in docs/BENCHMARKS.md, or appends the section.
fn replace_section(name: &str, body: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/BENCHMARKS.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let (start, end) = (format!("<!-- {name}:start -->"), format!("<!-- {name}:end -->"));
    let section = format!("{start}\n{body}\n{end}");
    let updated = match (text.find(&start), text.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &text[..a], &text[b + end.len()..]),
        _ => format!("{}\n## Token verification (tessera-verifier)\n\n{section}\n", text.trim_end()),
    };
    std::fs::write(&path, updated).unwrap();
}
