"""Verify a Tessera access token with PyJWT, knowing only the JWKS URL.

Usage: verify_pyjwt.py JWKS_URL TOKEN ISSUER AUDIENCE ALG

The token must verify with exactly ALG, the expected issuer and audience,
the claims exp, iat, iss, aud and sub, and the header typ at+jwt. Then two
forgeries made from it must be rejected. The first keeps the signature but
changes a claim. The second changes the header's alg to HS256 and carries an
HMAC keyed with the public key's PEM, which a verifier that trusted the
header would accept as a shared-secret signature.

Prints one line. Exit status: 0 when every check passed, 1 when a check
failed, 2 when PyJWT or cryptography is not installed for this interpreter.
"""

import base64
import hashlib
import hmac
import json
import sys

try:
    import jwt
    from cryptography.hazmat.primitives import serialization
except ImportError as error:
    print(
        f"PyJWT[crypto] is not installed for {sys.executable} ({error}): "
        "run tests/run, which installs tests/interop/requirements.txt into "
        "target/interop-venv, or set TESSERA_TEST_PYTHON to a Python that has it",
        file=sys.stderr,
    )
    sys.exit(2)

ACCESS_TOKEN_TYPE = "at+jwt"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
# Seconds PyJWKClient waits for the JWKS response.
JWKS_TIMEOUT_SECONDS = 10


class CheckFailed(Exception):
    """A verification result other than the expected one."""


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(token, signing_key, issuer, audience, alg):
    """Run jwt.decode_complete with every check the caller relies on."""
    return jwt.decode_complete(
        token,
        signing_key,
        algorithms=[alg],
        issuer=issuer,
        audience=audience,
        options={"require": REQUIRED_CLAIMS},
    )


def forge_changed_claim(token: str) -> str:
    """Return the token with its sub claim replaced and the signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["sub"] = "forged-" + str(claims.get("sub"))
    forged_payload = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    if forged_payload == payload:
        raise CheckFailed("the forged payload equals the original")
    return f"{header}.{forged_payload}.{signature}"


def forge_hs256(token: str, public_key) -> str:
    """Return the token re-signed with HS256, keyed by the public key's PEM."""
    header_segment, payload, _ = token.split(".")
    header = json.loads(b64url_decode(header_segment))
    header["alg"] = "HS256"
    forged_header = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{forged_header}.{payload}".encode("ascii")
    signature = hmac.new(pem, signing_input, hashlib.sha256).digest()
    return f"{forged_header}.{payload}.{b64url_encode(signature)}"


def expect_rejection(name, expected_error, verify):
    """Run verify() and raise CheckFailed unless it raises expected_error."""
    try:
        verify()
    except expected_error:
        return
    except jwt.PyJWTError as error:
        raise CheckFailed(
            f"{name}: expected {expected_error.__name__}, got {type(error).__name__}: {error}"
        ) from error
    raise CheckFailed(f"{name}: PyJWT accepted it")


def run(jwks_url, token, issuer, audience, alg):
    client = jwt.PyJWKClient(jwks_url, cache_keys=False, timeout=JWKS_TIMEOUT_SECONDS)
    signing_key = client.get_signing_key_from_jwt(token)

    decoded = decode(token, signing_key, issuer, audience, alg)
    header, claims = decoded["header"], decoded["payload"]
    if header.get("typ") != ACCESS_TOKEN_TYPE:
        raise CheckFailed(f"header typ is {header.get('typ')!r}, expected {ACCESS_TOKEN_TYPE!r}")
    if header.get("alg") != alg:
        raise CheckFailed(f"header alg is {header.get('alg')!r}, expected {alg!r}")

    changed = forge_changed_claim(token)
    expect_rejection(
        "token with a changed claim",
        jwt.InvalidSignatureError,
        lambda: decode(changed, signing_key, issuer, audience, alg),
    )
    hs256 = forge_hs256(token, signing_key.key)
    expect_rejection(
        "token re-signed with HS256",
        jwt.InvalidAlgorithmError,
        lambda: decode(hs256, signing_key, issuer, audience, alg),
    )

    return f"pyjwt {jwt.__version__} verified alg={alg} kid={signing_key.key_id} sub={claims['sub']}"


def main(argv):
    if len(argv) != 6:
        print("usage: verify_pyjwt.py JWKS_URL TOKEN ISSUER AUDIENCE ALG", file=sys.stderr)
        return 1
    _, jwks_url, token, issuer, audience, alg = argv
    try:
        print(run(jwks_url, token, issuer, audience, alg))
    except (CheckFailed, jwt.PyJWTError) as error:
        print(f"pyjwt {jwt.__version__} failed for alg={alg}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
